package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-sip/parley/internal/peertest"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/location/postgres"
	"github.com/parley-sip/parley/location/storetest"
)

var tables atomic.Int64

func open(t *testing.T, url, table string, clock func() time.Time) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url, postgres.Options{Clock: clock, Table: table, Timeout: 10 * time.Second, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newTable names a table no other test uses, so that one database serves
// every test at once, and drops it when the test ends.
func newTable(t *testing.T, url string) string {
	name := fmt.Sprintf("parleytest_%x_%d", rand.Uint32(), tables.Add(1))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			return // the server is gone already: nothing to drop
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{name}.Sanitize())
	})
	return name
}

// TestStore runs the conformance suite and the sweep test on one
// database (a cluster takes a second or two to make).
func TestStore(t *testing.T) {
	url := peertest.Postgres(t)
	t.Run("Conformance", func(t *testing.T) { testConformance(t, url) })
	t.Run("Sweep", func(t *testing.T) { testSweep(t, url) })
}

func testConformance(t *testing.T, url string) {
	table := map[location.Store]string{}
	storetest.Run(t, storetest.Config{
		Open: func(t *testing.T, clock func() time.Time) location.Store {
			name := newTable(t, url)
			s := open(t, url, name, clock)
			table[s] = name
			return s
		},
		Reopen: func(t *testing.T, old location.Store, clock func() time.Time) location.Store {
			old.Close()
			s := open(t, url, table[old], clock)
			table[s] = table[old]
			return s
		},
		Peer: func(t *testing.T, s location.Store, clock func() time.Time) location.Store {
			return open(t, url, table[s], clock)
		},
	})
}

func testSweep(t *testing.T, url string) {
	clk := storetest.NewClock()
	s := open(t, url, newTable(t, url), clk.Now)
	defer s.Close()
	ctx := context.Background()
	now := clk.Now()
	for i, d := range []time.Duration{time.Minute, time.Hour} {
		b := location.Binding{AOR: fmt.Sprintf("sip:u%d@example.com", i), Contact: "sip:u@192.0.2.1", Expires: now.Add(d), Updated: now}
		if err := s.Put(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(2 * time.Minute)
	if n, err := s.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("Sweep: %d %v, want 1 row", n, err)
	}
	if n, err := s.Count(ctx); err != nil || n != 1 {
		t.Fatalf("Count after Sweep: %d %v", n, err)
	}
}

// TestOutage stops PostgreSQL under the store: calls fail quickly with
// ErrUnavailable, and work again once it is back on its port.
func TestOutage(t *testing.T) {
	srv := peertest.StartPostgres(t)
	const timeout = 500 * time.Millisecond
	s, err := postgres.Open(context.Background(), srv.URL, postgres.Options{Table: "outage", Timeout: timeout, DialTimeout: timeout, SweepInterval: -1})
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
			t.Fatalf("%s with PostgreSQL down: %v, want ErrUnavailable", op.name, err)
		}
		if d := time.Since(start); d > timeout+2*time.Second {
			t.Fatalf("%s took %v with PostgreSQL down (timeout %v)", op.name, d, timeout)
		}
	}
	srv.Start()
	if !peertest.WaitFor(15*time.Second, func() bool { _, err := s.Lookup(ctx, b.AOR); return err == nil }) {
		_, err := s.Lookup(ctx, b.AOR)
		t.Fatalf("store did not recover after PostgreSQL came back: %v", err)
	}
	// The cluster keeps its data across the restart.
	if bs, err := s.Lookup(ctx, b.AOR); err != nil || len(bs) != 1 {
		t.Fatalf("after recovery: %v %v", bs, err)
	}
	if err := s.Put(ctx, b); err != nil {
		t.Fatalf("Put after recovery: %v", err)
	}
}

func TestOpenDown(t *testing.T) {
	port := peertest.FreePort(t)
	start := time.Now()
	_, err := postgres.Open(context.Background(), fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres", port), postgres.Options{Timeout: 300 * time.Millisecond, DialTimeout: 300 * time.Millisecond})
	if !errors.Is(err, location.ErrUnavailable) {
		t.Fatalf("Open of a PostgreSQL that is not there: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Open took %v", d)
	}
	if _, err := postgres.Open(context.Background(), "postgres://a:b@127.0.0.1:notaport/x", postgres.Options{}); err == nil {
		t.Fatal("bad URL accepted")
	}
}

// BenchmarkUpdate is the registrar's write: one Update refreshing one of
// 1,000 users' binding, on a real PostgreSQL over loopback (two
// statements).
func BenchmarkUpdate(b *testing.B) {
	url := peertest.Postgres(b)
	s, err := postgres.Open(context.Background(), url, postgres.Options{Table: fmt.Sprintf("parleybench_%x", rand.Uint32()), SweepInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
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
