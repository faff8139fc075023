package redis_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-sip/parley/internal/peertest"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/location/redis"
	"github.com/parley-sip/parley/location/storetest"
)

var prefixes atomic.Int64

// open opens a store under a key prefix no other test uses, so that one
// Redis serves every test at once.
func open(t *testing.T, url, prefix string, clock func() time.Time) *redis.Store {
	t.Helper()
	s, err := redis.Open(context.Background(), url, redis.Options{Clock: clock, KeyPrefix: prefix, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newPrefix() string {
	return fmt.Sprintf("parleytest:%x:%d:", rand.Uint32(), prefixes.Add(1))
}

func TestConformance(t *testing.T) {
	url := peertest.Redis(t)
	prefix := map[location.Store]string{}
	storetest.Run(t, storetest.Config{
		Open: func(t *testing.T, clock func() time.Time) location.Store {
			p := newPrefix()
			s := open(t, url, p, clock)
			prefix[s] = p
			return s
		},
		Reopen: func(t *testing.T, old location.Store, clock func() time.Time) location.Store {
			old.Close()
			s := open(t, url, prefix[old], clock)
			prefix[s] = prefix[old]
			return s
		},
		Peer: func(t *testing.T, s location.Store, clock func() time.Time) location.Store {
			return open(t, url, prefix[s], clock)
		},
	})
}

// TestOutage stops Redis under the store: calls fail quickly with
// ErrUnavailable, and work again once Redis is back on its port.
func TestOutage(t *testing.T) {
	srv := peertest.StartRedis(t)
	const timeout = 500 * time.Millisecond
	s, err := redis.Open(context.Background(), srv.URL, redis.Options{KeyPrefix: newPrefix(), Timeout: timeout, DialTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	b := location.Binding{AOR: "sip:alice@example.com", Contact: "sip:alice@192.0.2.1", Expires: now.Add(time.Hour), Q: location.QMax, Updated: now}
	if err := s.Put(ctx, b); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	for _, op := range []struct {
		name string
		f    func() error
	}{
		{"Lookup", func() error { _, err := s.Lookup(ctx, b.AOR); return err }},
		{"Update", func() error { _, err := s.Update(ctx, b.AOR, location.PutFunc(b)); return err }},
		{"Put", func() error { return s.Put(ctx, b) }},
		{"Count", func() error { _, err := s.Count(ctx); return err }},
	} {
		start := time.Now()
		err := op.f()
		if !errors.Is(err, location.ErrUnavailable) {
			t.Fatalf("%s with Redis down: %v, want ErrUnavailable", op.name, err)
		}
		// Bounded by the timeout (and some slack for a loaded machine),
		// never a hang.
		if d := time.Since(start); d > timeout+2*time.Second {
			t.Fatalf("%s took %v with Redis down (timeout %v)", op.name, d, timeout)
		}
	}
	srv.Start()
	if !peertest.WaitFor(10*time.Second, func() bool { return s.Put(ctx, b) == nil }) {
		t.Fatalf("store did not recover after Redis came back: %v", s.Put(ctx, b))
	}
	// The data was not persisted (the test server keeps nothing), but the
	// store works again.
	if bs, err := s.Lookup(ctx, b.AOR); err != nil || len(bs) != 1 {
		t.Fatalf("after recovery: %v %v", bs, err)
	}
}

func TestOpenDown(t *testing.T) {
	port := peertest.FreePort(t)
	start := time.Now()
	_, err := redis.Open(context.Background(), fmt.Sprintf("redis://127.0.0.1:%d/0", port), redis.Options{Timeout: 300 * time.Millisecond})
	if !errors.Is(err, location.ErrUnavailable) {
		t.Fatalf("Open of a Redis that is not there: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Open took %v", d)
	}
	if _, err := redis.Open(context.Background(), "http://127.0.0.1:1", redis.Options{}); err == nil {
		t.Fatal("bad URL accepted")
	}
}

// BenchmarkUpdate is the registrar's write: one Update refreshing one of
// 1,000 users' binding, on a real Redis over loopback (two round trips).
func BenchmarkUpdate(b *testing.B) {
	url := peertest.Redis(b)
	s, err := redis.Open(context.Background(), url, redis.Options{KeyPrefix: newPrefix()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchUpdate(b, s)
}

func benchUpdate(b *testing.B, s location.Store) {
	ctx := context.Background()
	now := time.Now()
	bs := make([]location.Binding, 1000)
	for i := range bs {
		bs[i] = location.Binding{AOR: fmt.Sprintf("sip:user%d@example.com", i), Contact: fmt.Sprintf("sip:user%d@192.0.2.%d:5060", i, i%250+1),
			Params: ";+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-000000000001>\";reg-id=1", CallID: fmt.Sprintf("%032x", i),
			Expires: now.Add(time.Hour), Q: location.QMax, Transport: "UDP", UserAgent: "Parley-Phone/1.0", Updated: now, Node: "node-1"}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		x := bs[i%len(bs)]
		x.CSeq = uint32(i)
		if _, err := s.Update(ctx, x.AOR, location.PutFunc(x)); err != nil {
			b.Fatal(err)
		}
	}
}
