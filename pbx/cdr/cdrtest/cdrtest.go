// Package cdrtest is the conformance suite for cdr.Store implementations,
// in the manner of testing/fstest: a store passes when TestStore passes.
package cdrtest

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/pbx/cdr"
)

// TestStore checks a Store. open must return a new, empty store each
// call; the suite closes it. Stores that buffer (cdr.Flusher) are flushed
// before each read. Times must survive to the microsecond.
func TestStore(t *testing.T, open func(t *testing.T) cdr.Store) {
	t.Run("RoundTrip", func(t *testing.T) { roundTrip(t, open(t)) })
	t.Run("LastOrder", func(t *testing.T) { lastOrder(t, open(t)) })
	t.Run("Query", func(t *testing.T) { query(t, open(t)) })
	t.Run("Invalid", func(t *testing.T) { invalid(t, open(t)) })
	t.Run("Concurrent", func(t *testing.T) { concurrent(t, open(t)) })
	t.Run("Closed", func(t *testing.T) { closed(t, open(t)) })
}

var base = time.Date(2026, 3, 1, 9, 30, 0, 123456000, time.UTC)

// Answered returns an answered call of caller to callee starting at start
// (a fixture other tests use too).
func Answered(caller, callee string, start time.Time) cdr.Record {
	r := cdr.Record{
		Caller: caller, Callee: callee, Dialled: "1" + callee,
		Start: start, Answer: start.Add(3 * time.Second),
		CallIDs: []string{"a-" + caller + "@pbx", "b-" + callee + "@pbx"}, Anchored: true, Route: "_1.",
	}
	r.Finish(start.Add(63*time.Second+250*time.Millisecond), cdr.Answered, cdr.Cause{Reason: "BYE", Side: cdr.SideCaller})
	return r
}

func write(t *testing.T, s cdr.Store, rs ...cdr.Record) {
	t.Helper()
	for _, r := range rs {
		if err := s.Write(context.Background(), r); err != nil {
			t.Fatalf("Write(%v): %v", r.Start, err)
		}
	}
}

func flush(t *testing.T, s cdr.Store) {
	t.Helper()
	if f, ok := s.(cdr.Flusher); ok {
		if err := f.Flush(context.Background()); err != nil {
			t.Fatalf("Flush: %v", err)
		}
	}
}

func last(t *testing.T, s cdr.Store, n int) []cdr.Record {
	t.Helper()
	flush(t, s)
	rs, err := s.Last(context.Background(), n)
	if err != nil {
		t.Fatalf("Last(%d): %v", n, err)
	}
	return rs
}

func q(t *testing.T, s cdr.Store, f cdr.Filter) []cdr.Record {
	t.Helper()
	flush(t, s)
	rs, err := s.Query(context.Background(), f)
	if err != nil {
		t.Fatalf("Query(%+v): %v", f, err)
	}
	return rs
}

func closeStore(t *testing.T, s cdr.Store) {
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// same compares records ignoring ID and the time zone.
func same(a, b cdr.Record) bool {
	if !a.Start.Equal(b.Start) || !a.Answer.Equal(b.Answer) || !a.End.Equal(b.End) {
		return false
	}
	a.ID, b.ID = 0, 0
	a.Start, a.Answer, a.End = time.Time{}, time.Time{}, time.Time{}
	b.Start, b.Answer, b.End = time.Time{}, time.Time{}, time.Time{}
	if len(a.CallIDs) == 0 && len(b.CallIDs) == 0 {
		a.CallIDs, b.CallIDs = nil, nil
	}
	return reflect.DeepEqual(a, b)
}

func starts(rs []cdr.Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Start.UTC().Format("15:04:05")+"/"+r.Caller)
	}
	return out
}

func roundTrip(t *testing.T, s cdr.Store) {
	defer closeStore(t, s)
	full := Answered("alice", "bob", base)
	full.Caller = "sip:Zoë@example.net" // an outsider, non-ASCII
	full.Recording = "recordings/2026-03-01/x.wav"
	failed := cdr.Record{Caller: "carol", Callee: "", Dialled: "999", Start: base.Add(time.Minute), End: base.Add(time.Minute + 10*time.Millisecond),
		Disposition: cdr.Failed, Cause: cdr.Cause{Code: 404, Reason: "Not Found", Side: cdr.SidePBX}}
	busy := cdr.Record{Caller: "dave", Callee: "erin", Dialled: "200", Start: base.Add(2 * time.Minute), End: base.Add(2*time.Minute + time.Second),
		Disposition: cdr.Busy, Cause: cdr.Cause{Code: 486, Reason: "Busy Here", Side: cdr.SideCallee}, CallIDs: []string{"c1"}}
	write(t, s, full, failed, busy)
	got := last(t, s, 10)
	if len(got) != 3 {
		t.Fatalf("Last(10) gave %d records, want 3", len(got))
	}
	for i, want := range []cdr.Record{full, failed, busy} {
		if !same(got[i], want) {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, got[i], want)
		}
	}
	if got[0].ID == 0 || got[0].ID == got[1].ID || got[1].ID == got[2].ID {
		t.Errorf("IDs %d %d %d: want distinct, non-zero", got[0].ID, got[1].ID, got[2].ID)
	}
	if !got[1].Answer.IsZero() || got[1].Duration != 0 {
		t.Errorf("unanswered call came back with answer %v duration %v", got[1].Answer, got[1].Duration)
	}
	if got[0].Duration != 60*time.Second+250*time.Millisecond {
		t.Errorf("duration %v", got[0].Duration)
	}
}

func lastOrder(t *testing.T, s cdr.Store) {
	defer closeStore(t, s)
	// Written out of order; two share a start (then write order counts).
	for _, m := range []int{5, 1, 3, 3, 2, 4} {
		write(t, s, Answered(fmt.Sprintf("u%d", m), "bob", base.Add(time.Duration(m)*time.Hour)))
	}
	if rs := last(t, s, 0); len(rs) != 0 {
		t.Errorf("Last(0) gave %d", len(rs))
	}
	if got, want := starts(last(t, s, 3)), []string{"12:30:00/u3", "13:30:00/u4", "14:30:00/u5"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Last(3) = %v, want %v", got, want)
	}
	all := last(t, s, 100)
	if len(all) != 6 || all[2].ID > all[3].ID {
		t.Errorf("Last(100) = %v (ties must keep write order)", starts(all))
	}
}

func query(t *testing.T, s cdr.Store) {
	defer closeStore(t, s)
	write(t, s,
		Answered("alice", "bob", base),
		Answered("bob", "carol", base.Add(time.Hour)),
		Answered("carol", "alice", base.Add(2*time.Hour)),
		Answered("dave", "erin", base.Add(3*time.Hour)),
	)
	for _, tc := range []struct {
		f    cdr.Filter
		want []string
	}{
		{cdr.Filter{}, []string{"09:30:00/alice", "10:30:00/bob", "11:30:00/carol", "12:30:00/dave"}},
		{cdr.Filter{User: "alice"}, []string{"09:30:00/alice", "11:30:00/carol"}},
		{cdr.Filter{User: "bob"}, []string{"09:30:00/alice", "10:30:00/bob"}},
		{cdr.Filter{User: "nobody"}, nil},
		{cdr.Filter{From: base.Add(time.Hour)}, []string{"10:30:00/bob", "11:30:00/carol", "12:30:00/dave"}},
		{cdr.Filter{To: base.Add(time.Hour)}, []string{"09:30:00/alice"}},
		{cdr.Filter{From: base.Add(time.Hour), To: base.Add(3 * time.Hour)}, []string{"10:30:00/bob", "11:30:00/carol"}},
		{cdr.Filter{User: "carol", From: base.Add(90 * time.Minute)}, []string{"11:30:00/carol"}},
		{cdr.Filter{Limit: 2}, []string{"11:30:00/carol", "12:30:00/dave"}},
		{cdr.Filter{User: "alice", Limit: 1}, []string{"11:30:00/carol"}},
	} {
		if got := starts(q(t, s, tc.f)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Query(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}
}

func invalid(t *testing.T, s cdr.Store) {
	defer closeStore(t, s)
	good := Answered("alice", "bob", base)
	for name, mutate := range map[string]func(*cdr.Record){
		"no start":        func(r *cdr.Record) { r.Start = time.Time{} },
		"end before":      func(r *cdr.Record) { r.End = r.Start.Add(-time.Second) },
		"no disposition":  func(r *cdr.Record) { r.Disposition = 0 },
		"bad code":        func(r *cdr.Record) { r.Cause.Code = 42 },
		"call-id space":   func(r *cdr.Record) { r.CallIDs = []string{"a b"} },
		"answer too late": func(r *cdr.Record) { r.Answer = r.End.Add(time.Second) },
	} {
		r := good
		mutate(&r)
		if err := s.Write(context.Background(), r); err == nil {
			t.Errorf("%s: Write accepted %+v", name, r)
		}
	}
	if rs := last(t, s, 10); len(rs) != 0 {
		t.Errorf("invalid records stored: %d", len(rs))
	}
}

func concurrent(t *testing.T, s cdr.Store) {
	defer closeStore(t, s)
	const writers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := s.Write(context.Background(), Answered(fmt.Sprintf("w%d", w), "bob", base.Add(time.Duration(i)*time.Second))); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Write: %v", err)
	}
	if rs := last(t, s, 1000); len(rs) != writers*each {
		t.Errorf("stored %d of %d", len(rs), writers*each)
	}
	if rs := q(t, s, cdr.Filter{User: "w3"}); len(rs) != each {
		t.Errorf("w3 has %d of %d", len(rs), each)
	}
}

func closed(t *testing.T, s cdr.Store) {
	write(t, s, Answered("alice", "bob", base))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Write(context.Background(), Answered("alice", "bob", base)); err == nil {
		t.Error("Write after Close succeeded")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
