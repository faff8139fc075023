package location

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestSweep(t *testing.T) {
	clk := newFakeClock()
	s := NewMemoryStore(Options{Clock: clk.Now, SweepInterval: -1})
	defer s.Close()
	for u := range 10 {
		b := testBinding(clk.Now(), u, 0)
		if u%2 == 0 {
			b.Expires = clk.Now().Add(time.Minute)
		}
		mustPut(t, s, b)
	}
	clk.Advance(2 * time.Minute)
	if n := s.Sweep(); n != 5 {
		t.Fatalf("swept %d, want 5", n)
	}
	if n, _ := s.Count(context.Background()); n != 5 {
		t.Fatalf("count %d", n)
	}
	if len(snapshotAll(t, s)) != 5 {
		t.Fatal("All")
	}
}

func TestSweeperGoroutine(t *testing.T) {
	clk := newFakeClock()
	s := NewMemoryStore(Options{Clock: clk.Now, SweepInterval: time.Millisecond})
	defer s.Close()
	b := testBinding(clk.Now(), 1, 0)
	b.Expires = clk.Now().Add(time.Second)
	mustPut(t, s, b)
	clk.Advance(time.Hour)
	deadline := time.Now().Add(5 * time.Second)
	for {
		sh := s.shard(b.AOR)
		sh.mu.RLock()
		n := len(sh.m)
		sh.mu.RUnlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("sweeper did not drop the expired binding")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestParseFormatQ(t *testing.T) {
	good := map[string]int{"0": 0, "1": 1000, "0.5": 500, "0.05": 50, "0.123": 123, "1.0": 1000, "1.000": 1000, "0.": 0, "0.000": 0}
	for s, want := range good {
		q, err := ParseQ(s)
		if err != nil || q != want {
			t.Errorf("ParseQ(%q) = %d, %v; want %d", s, q, err, want)
		}
	}
	for _, s := range []string{"", "2", "1.001", "1.5", "0.1234", "-0.5", ".5", "0,5", "0.a", "01"} {
		if q, err := ParseQ(s); err == nil {
			t.Errorf("ParseQ(%q) = %d, want error", s, q)
		}
	}
	for q, want := range map[int]string{1000: "1", 0: "0", 500: "0.5", 123: "0.123", 50: "0.05", 7: "0.007"} {
		if got := FormatQ(q); got != want {
			t.Errorf("FormatQ(%d) = %q, want %q", q, got, want)
		}
	}
}

func TestCanonicalAOR(t *testing.T) {
	for in, want := range map[string]string{
		"sip:alice@EXAMPLE.com":                     "sip:alice@example.com",
		"sips:alice@example.com:5061;transport=tls": "sip:alice@example.com",
		"sip:%61lice@example.com;user=phone":        "sip:alice@example.com",
		"sip:example.com":                           "sip:example.com",
	} {
		u := mustURI(t, in)
		got, err := CanonicalAOR(&u)
		if err != nil || got != want {
			t.Errorf("CanonicalAOR(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
	u := mustURI(t, "tel:+15551234")
	if _, err := CanonicalAOR(&u); err == nil {
		t.Error("tel AOR accepted")
	}
}

func ExampleStore() {
	s := NewMemoryStore(Options{})
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	_ = s.Put(ctx, Binding{AOR: "sip:bob@example.com", Contact: "sip:bob@192.0.2.4:5060", Q: 500, Expires: now.Add(time.Hour), Updated: now})
	_ = s.Put(ctx, Binding{AOR: "sip:bob@example.com", Contact: "sip:bob@198.51.100.7", Q: QMax, Expires: now.Add(time.Hour), Updated: now})
	bs, _ := s.Lookup(ctx, "sip:bob@example.com")
	for _, b := range bs {
		fmt.Println(b.Contact, FormatQ(b.Q))
	}
	// Output:
	// sip:bob@198.51.100.7 1
	// sip:bob@192.0.2.4:5060 0.5
}

func ExampleMemoryStore_Update() {
	s := NewMemoryStore(Options{})
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	desk := Binding{AOR: "sip:bob@example.com", Contact: "sip:bob@192.0.2.4:5060", Q: 500, Expires: now.Add(time.Hour), Updated: now}
	_ = s.Put(ctx, desk)
	// Add a phone and drop the desk in one atomic step, as a REGISTER
	// with two Contacts does.
	bs, err := s.Update(ctx, "sip:bob@example.com", func(cur []Binding) ([]Binding, error) {
		cur = slices.DeleteFunc(cur, func(b Binding) bool { return b.Contact == desk.Contact })
		return append(cur, Binding{AOR: "sip:bob@example.com", Contact: "sip:bob@198.51.100.7", Q: QMax, Expires: now.Add(time.Hour), Updated: now, Node: "node-1"}), nil
	})
	fmt.Println(err)
	for _, b := range bs {
		fmt.Println(b.Contact, b.Node)
	}
	// Output:
	// <nil>
	// sip:bob@198.51.100.7 node-1
}

// A panic in an UpdateFunc must not leave the AOR's shard locked.
func TestUpdatePanicReleasesLock(t *testing.T) {
	s := NewMemoryStore(Options{SweepInterval: -1})
	defer s.Close()
	func() {
		defer func() { _ = recover() }()
		_, _ = s.Update(context.Background(), "sip:a@example.com", func([]Binding) ([]Binding, error) { panic("boom") })
	}()
	done := make(chan error, 1)
	go func() {
		_, err := s.Update(context.Background(), "sip:a@example.com", RemoveAllFunc)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("shard still locked after a panic in fn")
	}
}
