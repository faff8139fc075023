package cdr_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/pbx/cdr"
	"github.com/parley-sip/parley/pbx/cdr/cdrtest"
)

// slowStore blocks every write until release is closed; fail makes
// writes of the caller "bad" fail.
type slowStore struct {
	release chan struct{}
	mu      sync.Mutex
	got     []cdr.Record
	closed  bool
}

func (s *slowStore) Write(ctx context.Context, r cdr.Record) error {
	<-s.release
	if r.Caller == "bad" {
		return errors.New("disk on fire")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, r)
	return nil
}
func (s *slowStore) Last(context.Context, int) ([]cdr.Record, error)         { return nil, nil }
func (s *slowStore) Query(context.Context, cdr.Filter) ([]cdr.Record, error) { return nil, nil }
func (s *slowStore) Close() error                                            { s.closed = true; return nil }

// TestAsyncFull: with the writer stuck, Write returns at once; past the
// queue's size records go to Overflow with ErrQueueFull; Close writes
// every queued one; a record the store refuses goes to Overflow too.
func TestAsyncFull(t *testing.T) {
	store := &slowStore{release: make(chan struct{})}
	var mu sync.Mutex
	overflow := map[error]int{}
	a := cdr.NewAsync(store, cdr.AsyncConfig{Queue: 4, Batch: 2, Overflow: func(r cdr.Record, err error) {
		mu.Lock()
		defer mu.Unlock()
		if errors.Is(err, cdr.ErrQueueFull) || errors.Is(err, cdr.ErrClosed) {
			overflow[err]++
		} else {
			overflow[nil]++ // the store's own error
		}
	}})
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	accepted := 0
	deadline := time.Now().Add(5 * time.Second)
	// The writer takes one record (and blocks in the store), so the queue
	// fills after Queue or Queue+Batch writes; write until it refuses.
	for i := 0; ; i++ {
		r := cdrtest.Answered("alice", "bob", base.Add(time.Duration(i)*time.Second))
		if i == 1 {
			r.Caller = "bad"
		}
		err := a.Write(context.Background(), r)
		if errors.Is(err, cdr.ErrQueueFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		accepted++
		if time.Now().After(deadline) || i > 100 {
			t.Fatalf("queue of 4 never filled after %d writes", i)
		}
	}
	if st := a.Stats(); st.Dropped != 1 || st.Capacity != 4 {
		t.Fatalf("stats %+v", st)
	}
	close(store.release)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Write(context.Background(), cdrtest.Answered("alice", "bob", base)); !errors.Is(err, cdr.ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
	st := a.Stats()
	if len(store.got) != accepted-1 || st.Written != uint64(accepted-1) || st.Failed != 1 || st.Dropped != 2 || !store.closed {
		t.Fatalf("stored %d of %d accepted, stats %+v, closed %v", len(store.got), accepted, st, store.closed)
	}
	if overflow[cdr.ErrQueueFull] != 1 || overflow[cdr.ErrClosed] != 1 || overflow[nil] != 1 {
		t.Fatalf("overflow %v", overflow)
	}
}

// TestAsyncInvalid: a record that fails Check is refused at Write.
func TestAsyncInvalid(t *testing.T) {
	a := cdr.NewAsync(openTemp(t), cdr.AsyncConfig{Overflow: func(cdr.Record, error) {}})
	defer a.Close()
	if err := a.Write(context.Background(), cdr.Record{}); err == nil {
		t.Fatal("empty record accepted")
	}
}

func BenchmarkAsyncWrite(b *testing.B) {
	s, err := cdr.OpenSQLite(cdr.Path(b.TempDir()), cdr.SQLiteOptions{})
	if err != nil {
		b.Fatal(err)
	}
	a := cdr.NewAsync(s, cdr.AsyncConfig{Queue: 1 << 16})
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := cdrtest.Answered("alice", "bob", base)
	b.ReportAllocs()
	for b.Loop() {
		for a.Write(context.Background(), r) == cdr.ErrQueueFull {
			a.Flush(context.Background())
		}
	}
	if err := a.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(a.Stats().Batches), "batches")
}

func BenchmarkSQLiteWrite(b *testing.B) {
	s, err := cdr.OpenSQLite(cdr.Path(b.TempDir()), cdr.SQLiteOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r := cdrtest.Answered("alice", "bob", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Write(context.Background(), r); err != nil {
			b.Fatal(err)
		}
	}
}
