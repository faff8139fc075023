package transaction

import (
	"bytes"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/parley-sip/parley/sip"
)

// TestLingerStore fills several chunks per shard, finds every record,
// and checks that they all go at their expiry, chunks and index with them.
func TestLingerStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ls := newLingerStore(32*time.Second, nil)
		const n = 20000 // about 300 bytes each: ~6 MB, several chunks per shard
		keys := make([]serverKey, n)
		wires := make([][]byte, n)
		for i := range keys {
			req := msg{method: sip.REGISTER, branch: sb + strconv.Itoa(i)}.build(udpOrigin)
			k, ok := serverKeyOf(req)
			if !ok {
				t.Fatal("no key")
			}
			keys[i] = k
			resp := sip.NewResponse(req, 200, "")
			resp.SetToTag("t" + strconv.Itoa(i))
			resp.Origin = udpOrigin
			wires[i] = resp.AppendTo(nil)
			if !ls.add(&keys[i], resp) {
				t.Fatal("add refused")
			}
			if i == n/2 {
				time.Sleep(10 * time.Second) // the second half expires later
			}
		}
		if got := ls.len(); got != n {
			t.Fatalf("len %d, want %d", got, n)
		}
		chunks := 0
		for i := range ls.shards {
			chunks += len(ls.shards[i].chunks)
		}
		if chunks <= lingerShards {
			t.Fatalf("%d chunks: the test should fill several per shard", chunks)
		}
		for i := range keys {
			wire, origin, ok := ls.find(&keys[i])
			if !ok || !bytes.Equal(wire, wires[i]) || origin != udpOrigin {
				t.Fatalf("record %d: found %v, origin %+v", i, ok, origin)
			}
		}
		other := keys[0]
		other.port++
		if _, _, ok := ls.find(&other); ok {
			t.Fatal("found a key that was never added")
		}

		time.Sleep(22*time.Second + time.Millisecond) // the first half is due
		if _, _, ok := ls.find(&keys[0]); ok {
			t.Fatal("expired record found")
		}
		next := ls.expire(time.Now())
		if left := ls.len(); left < n/2-2*lingerChunkSize/300*lingerShards || left > n/2+2*lingerChunkSize/300*lingerShards {
			// Chunks go whole: those straddling the two halves stay.
			t.Fatalf("%d left after the first half expired", left)
		}
		if _, _, ok := ls.find(&keys[n-1]); !ok {
			t.Fatal("unexpired record lost")
		}
		if want := time.Now().Add(10 * time.Second); next.Before(want.Add(-time.Second)) || next.After(want.Add(time.Second)) {
			t.Fatalf("next service at %v, want about %v", next, want)
		}
		time.Sleep(10 * time.Second)
		if next := ls.expire(time.Now()); !next.IsZero() || ls.len() != 0 {
			t.Fatalf("after every expiry: %d left, next %v", ls.len(), next)
		}
		for i := range ls.shards {
			if s := &ls.shards[i]; len(s.index) != 0 || s.chunks != nil {
				t.Fatalf("shard %d keeps %d index entries, %d chunks", i, len(s.index), len(s.chunks))
			}
		}
	})
}

// TestLingerStoreNewerRecord: a key added again (a new transaction with a
// branch reused after the first one's J) is found as the newer record,
// and the older one's expiry does not unindex it.
func TestLingerStoreNewerRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ls := newLingerStore(32*time.Second, nil)
		req := msg{method: sip.BYE, branch: sb}.build(udpOrigin)
		k, _ := serverKeyOf(req)
		for i, code := range []int{486, 200} {
			resp := sip.NewResponse(req, code, "")
			resp.Origin = udpOrigin
			ls.add(&k, resp)
			if i == 0 {
				time.Sleep(20 * time.Second)
			}
		}
		time.Sleep(13 * time.Second) // the 486 is due, the 200 not
		ls.expire(time.Now())
		wire, _, ok := ls.find(&k)
		if !ok || !bytes.HasPrefix(wire, []byte("SIP/2.0 200")) {
			t.Fatalf("found %v: %q", ok, wire)
		}
	})
}

func BenchmarkLingerAddFind(b *testing.B) {
	ls := newLingerStore(32*time.Second, nil)
	req := msg{method: sip.REGISTER, branch: sb}.build(udpOrigin)
	resp := sip.NewResponse(req, 200, "")
	resp.Origin = udpOrigin
	k, _ := serverKeyOf(req)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		k.port = i
		ls.add(&k, resp)
		if _, _, ok := ls.find(&k); !ok {
			b.Fatal("not found")
		}
		if i%100000 == 0 {
			ls.clear() // bound the memory; expiry would, 32 s on
		}
	}
}
