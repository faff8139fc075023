// Package storetest is the conformance suite of location.Store, in the
// manner of testing/fstest: the test of a backend calls Run with a way to
// open fresh stores, and every behaviour the registrar (RFC 3261 §10.3) and
// the proxy (§16.5 target lookup) rely on is checked against it — binding
// matching by §19.1.4 URI equality and by RFC 5626 instance and reg-id,
// Lookup order by q, expiry, Contact: * removal, limits, atomic Update
// under concurrent writers (also through a second store sharing the data,
// as another node of a cluster), and restart.
//
// Every backend in this module runs it: memory and file (location's own
// tests), Redis (location/redis) and PostgreSQL (location/postgres).
package storetest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/location"
)

// Config tells Run how to make stores of the backend under test.
type Config struct {
	// Open returns a new, empty store that reads the time from clock (the
	// suite moves the clock to expire bindings without waiting). The
	// suite closes it.
	Open func(t *testing.T, clock func() time.Time) location.Store

	// Reopen, when set, closes s and opens the same data again, as a
	// restarted server does. Nil skips the restart tests (memory store).
	Reopen func(t *testing.T, s location.Store, clock func() time.Time) location.Store

	// Peer, when set, opens a second store over the data of s, as another
	// server of a cluster sharing it does; the concurrency tests then
	// write through both. Nil: the store cannot be shared.
	Peer func(t *testing.T, s location.Store, clock func() time.Time) location.Store
}

// Clock is the settable clock the suite hands to stores. It starts at the
// real time, so that a store whose server expires data by its own clock
// (Redis) is never handed a date in the past.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at the current time, to the millisecond.
func NewClock() *Clock { return &Clock{t: time.Now().Truncate(time.Millisecond)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Run runs the whole suite as subtests of t.
func Run(t *testing.T, cfg Config) {
	if cfg.Open == nil {
		t.Fatal("storetest: Config.Open is required")
	}
	for _, tc := range []struct {
		name string
		run  func(*testing.T, *suite)
	}{
		{"Table", testTable},
		{"FieldsRoundTrip", testFieldsRoundTrip},
		{"LookupUnknown", testLookupUnknown},
		{"Expiry", testExpiry},
		{"Wildcard", testWildcard},
		{"Update", testUpdate},
		{"UpdateRejects", testUpdateRejects},
		{"UpdateConcurrentAdds", testConcurrentAdds},
		{"UpdateConcurrentCounter", testConcurrentCounter},
		{"Concurrent", testConcurrent},
		{"LargeAOR", testLargeAOR},
		{"ManyAORs", testManyAORs},
		{"Closed", testClosed},
		{"Reopen", testReopen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, &suite{cfg: cfg, clk: NewClock()})
		})
	}
}

type suite struct {
	cfg Config
	clk *Clock
}

func (s *suite) open(t *testing.T) location.Store {
	t.Helper()
	st := s.cfg.Open(t, s.clk.Now)
	t.Cleanup(func() { st.Close() })
	return st
}

func (s *suite) reopen(t *testing.T, st location.Store) location.Store {
	t.Helper()
	n := s.cfg.Reopen(t, st, s.clk.Now)
	t.Cleanup(func() { n.Close() })
	return n
}

// writers returns the stores concurrent writers use: st, and a peer over
// the same data when the backend can share.
func (s *suite) writers(t *testing.T, st location.Store) []location.Store {
	if s.cfg.Peer == nil {
		return []location.Store{st}
	}
	p := s.cfg.Peer(t, st, s.clk.Now)
	t.Cleanup(func() { p.Close() })
	return []location.Store{st, p}
}

const aor = "sip:alice@example.com"

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// binding is a minimal binding of aor on the clock's now.
func (s *suite) binding(contact string, expires time.Duration, q int) location.Binding {
	now := s.clk.Now()
	return location.Binding{AOR: aor, Contact: contact, Expires: now.Add(expires), Q: q, CallID: "c1", CSeq: 1, Updated: now}
}

// phone is a realistic binding: the i-th phone of user u.
func phone(now time.Time, u, i int) location.Binding {
	return location.Binding{
		AOR:        fmt.Sprintf("sip:user%d@example.com", u),
		Contact:    fmt.Sprintf("sip:user%d@198.51.100.%d:%d;transport=udp", u, i%250+1, 5060+i),
		Params:     fmt.Sprintf(";+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-%012d>\";reg-id=1", u*1000+i),
		Expires:    now.Add(time.Hour),
		Q:          location.QMax,
		CallID:     fmt.Sprintf("%032x@198.51.100.%d", u*1000+i, i%250+1),
		CSeq:       uint32(i + 1),
		Source:     netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(u)}), uint16(40000+i)),
		Local:      netip.MustParseAddrPort("192.0.2.1:5060"),
		Transport:  "UDP",
		InstanceID: fmt.Sprintf("<urn:uuid:00000000-0000-0000-0000-%012d>", u*1000+i),
		RegID:      1,
		UserAgent:  "Parley-Phone/1.0",
		Updated:    now,
		Node:       "node-1",
	}
}

// Same reports whether two bindings are equal field by field, times by
// instant.
func Same(a, b location.Binding) bool {
	return a.AOR == b.AOR && a.Contact == b.Contact && a.Params == b.Params &&
		a.Expires.Equal(b.Expires) && a.Q == b.Q && a.CallID == b.CallID && a.CSeq == b.CSeq &&
		slices.Equal(a.Path, b.Path) &&
		a.Source == b.Source && a.Local == b.Local && a.Transport == b.Transport &&
		a.InstanceID == b.InstanceID && a.RegID == b.RegID && a.UserAgent == b.UserAgent &&
		a.Updated.Equal(b.Updated) && a.Node == b.Node
}

func lookup(t *testing.T, st location.Store, a string) []location.Binding {
	t.Helper()
	bs, err := st.Lookup(ctx(t), a)
	if err != nil {
		t.Fatalf("Lookup(%s): %v", a, err)
	}
	return bs
}

func put(t *testing.T, st location.Store, b location.Binding) {
	t.Helper()
	if err := st.Put(ctx(t), b); err != nil {
		t.Fatalf("Put(%s): %v", b.Contact, err)
	}
}

func count(t *testing.T, st location.Store) int {
	t.Helper()
	n, err := st.Count(ctx(t))
	if err != nil {
		t.Fatalf("Count: %v", err)
	}
	return n
}

func contacts(bs []location.Binding) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.Contact
	}
	return out
}

// all collects every binding of a store keyed by AOR, contact and instance.
func all(t *testing.T, st location.Store) map[string]location.Binding {
	t.Helper()
	out := map[string]location.Binding{}
	for b, err := range st.All(ctx(t)) {
		if err != nil {
			t.Fatalf("All: %v", err)
		}
		k := b.AOR + " " + b.Contact + " " + b.InstanceID + fmt.Sprint(b.RegID)
		if _, dup := out[k]; dup {
			t.Fatalf("All yields %s twice", k)
		}
		out[k] = b
	}
	return out
}

type step func(t *testing.T, s *suite, st location.Store) error

func putStep(contact string, expires time.Duration, q int) step {
	return func(t *testing.T, s *suite, st location.Store) error {
		return st.Put(ctx(t), s.binding(contact, expires, q))
	}
}

func putFunc(f func(s *suite) location.Binding) step {
	return func(t *testing.T, s *suite, st location.Store) error { return st.Put(ctx(t), f(s)) }
}

func removeStep(contact string) step {
	return func(t *testing.T, s *suite, st location.Store) error { return st.Remove(ctx(t), aor, contact) }
}

func removeAllStep(t *testing.T, s *suite, st location.Store) error { return st.RemoveAll(ctx(t), aor) }

func advance(d time.Duration) step {
	return func(t *testing.T, s *suite, st location.Store) error { s.clk.Advance(d); return nil }
}

func flow(contact, instance string, regID uint32) func(*suite) location.Binding {
	return func(s *suite) location.Binding {
		b := s.binding(contact, time.Hour, location.QMax)
		b.InstanceID, b.RegID = instance, regID
		return b
	}
}

func testTable(t *testing.T, s *suite) {
	cases := []struct {
		name    string
		steps   []step
		want    []string // contacts of Lookup(aor), in order
		wantErr error    // error of the last step
	}{
		{name: "empty", want: []string{}},
		{name: "add", steps: []step{putStep("sip:a@192.0.2.1", time.Hour, location.QMax)}, want: []string{"sip:a@192.0.2.1"}},
		{
			name: "refresh same URI by §19.1.4",
			steps: []step{
				putStep("sip:a@HOST.example;transport=udp", time.Hour, location.QMax),
				putStep("sip:a@host.example;transport=UDP", 2*time.Hour, 500),
			},
			want: []string{"sip:a@host.example;transport=UDP"},
		},
		{
			name: "different port is a different contact",
			steps: []step{
				putStep("sip:a@host.example", time.Hour, location.QMax),
				putStep("sip:a@host.example:5060", time.Hour, location.QMax),
			},
			want: []string{"sip:a@host.example", "sip:a@host.example:5060"}, // equal q and time: by contact
		},
		{
			name: "three devices sorted by q",
			steps: []step{
				putStep("sip:desk@192.0.2.1", time.Hour, 500),
				putStep("sip:mobile@192.0.2.2", time.Hour, location.QMax),
				putStep("sip:soft@192.0.2.3", time.Hour, 100),
			},
			want: []string{"sip:mobile@192.0.2.2", "sip:desk@192.0.2.1", "sip:soft@192.0.2.3"},
		},
		{
			name: "equal q: most recent first",
			steps: []step{
				putStep("sip:old@192.0.2.1", time.Hour, 700),
				advance(time.Second),
				putStep("sip:new@192.0.2.2", time.Hour, 700),
			},
			want: []string{"sip:new@192.0.2.2", "sip:old@192.0.2.1"},
		},
		{
			name: "expiry",
			steps: []step{
				putStep("sip:short@192.0.2.1", time.Minute, location.QMax),
				putStep("sip:long@192.0.2.2", time.Hour, location.QMax),
				advance(time.Minute),
			},
			want: []string{"sip:long@192.0.2.2"},
		},
		{
			name: "expired put removes its binding",
			steps: []step{
				putStep("sip:a@192.0.2.1", time.Hour, location.QMax),
				putStep("sip:b@192.0.2.2", time.Hour, location.QMax),
				putStep("sip:a@192.0.2.1", 0, location.QMax),
			},
			want: []string{"sip:b@192.0.2.2"},
		},
		{
			name: "remove by URI equality",
			steps: []step{
				putStep("sip:a@192.0.2.1;transport=tcp", time.Hour, location.QMax),
				putStep("sip:b@192.0.2.2", time.Hour, location.QMax),
				removeStep("sip:a@192.0.2.1;TRANSPORT=TCP"),
			},
			want: []string{"sip:b@192.0.2.2"},
		},
		{
			name:  "remove unknown is fine",
			steps: []step{putStep("sip:a@192.0.2.1", time.Hour, location.QMax), removeStep("sip:zz@192.0.2.9")},
			want:  []string{"sip:a@192.0.2.1"},
		},
		{
			name: "remove all",
			steps: []step{
				putStep("sip:a@192.0.2.1", time.Hour, location.QMax),
				putStep("sip:b@192.0.2.2", time.Hour, location.QMax),
				removeAllStep,
			},
			want: []string{},
		},
		{
			name: "flow: same instance and reg-id replaces a changed URI",
			steps: []step{
				putFunc(flow("sip:a@192.0.2.1:1111", "<urn:uuid:1>", 1)),
				putFunc(flow("sip:a@192.0.2.1:2222", "<urn:uuid:1>", 1)),
			},
			want: []string{"sip:a@192.0.2.1:2222"},
		},
		{
			name: "flow: two reg-ids are two bindings with one URI",
			steps: []step{
				putFunc(flow("sip:a@192.0.2.1", "<urn:uuid:1>", 1)),
				advance(time.Second),
				putFunc(flow("sip:a@192.0.2.1", "<urn:uuid:1>", 2)),
			},
			want: []string{"sip:a@192.0.2.1", "sip:a@192.0.2.1"},
		},
		{
			name: "plain contact replaces flows with its URI",
			steps: []step{
				putFunc(flow("sip:a@192.0.2.1", "<urn:uuid:1>", 1)),
				putFunc(flow("sip:a@192.0.2.1", "<urn:uuid:1>", 2)),
				putStep("sip:a@192.0.2.1", time.Hour, location.QMax),
			},
			want: []string{"sip:a@192.0.2.1"},
		},
		{
			name:    "invalid contact",
			steps:   []step{putStep("not a uri", time.Hour, location.QMax)},
			want:    []string{},
			wantErr: location.ErrInvalid,
		},
		{
			name:    "q out of range",
			steps:   []step{putStep("sip:a@192.0.2.1", time.Hour, 1001)},
			want:    []string{},
			wantErr: location.ErrInvalid,
		},
		{
			name: "empty AOR",
			steps: []step{putFunc(func(s *suite) location.Binding {
				b := s.binding("sip:a@h", time.Hour, 1)
				b.AOR = ""
				return b
			})},
			want:    []string{},
			wantErr: location.ErrInvalid,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &suite{cfg: s.cfg, clk: NewClock()}
			st := s.open(t)
			var err error
			for _, f := range tc.steps {
				if err = f(t, s, st); err != nil && tc.wantErr == nil {
					t.Fatal(err)
				}
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if got := contacts(lookup(t, st, aor)); !slices.Equal(got, tc.want) {
				t.Fatalf("lookup %q, want %q", got, tc.want)
			}
			if n := count(t, st); n != len(tc.want) {
				t.Fatalf("count %d, want %d", n, len(tc.want))
			}
		})
	}
}

func testFieldsRoundTrip(t *testing.T, s *suite) {
	st := s.open(t)
	b := phone(s.clk.Now(), 7, 3)
	b.Path = []string{"<sip:edge1.example.com;lr>", "<sip:edge2.example.com;lr;ob>"}
	v6 := phone(s.clk.Now(), 7, 4)
	v6.Source = netip.MustParseAddrPort("[2001:db8::7]:40004")
	v6.Local = netip.MustParseAddrPort("[2001:db8::1]:5060")
	v6.Transport, v6.Node, v6.Q = "TLS", "node-2", 500
	bare := location.Binding{AOR: b.AOR, Contact: "sip:bare@192.0.2.9", Expires: b.Expires, Q: 100}
	for _, x := range []location.Binding{b, v6, bare} {
		put(t, st, x)
	}
	got := lookup(t, st, b.AOR)
	want := []location.Binding{b, v6, bare}
	if len(got) != len(want) {
		t.Fatalf("got %d bindings, want %d", len(got), len(want))
	}
	for i := range want {
		if !Same(got[i], want[i]) {
			t.Fatalf("binding %d:\ngot  %+v\nwant %+v", i, got[i], want[i])
		}
	}
	if got[0].ExpiresIn(s.clk.Now()) != 3600 || !got[0].Flow() {
		t.Fatalf("ExpiresIn %d Flow %v", got[0].ExpiresIn(s.clk.Now()), got[0].Flow())
	}
	// Update hands fn the same fields and stores them back unchanged.
	after, err := st.Update(ctx(t), b.AOR, func(cur []location.Binding) ([]location.Binding, error) {
		for i := range want {
			if i >= len(cur) || !Same(cur[i], want[i]) {
				return nil, fmt.Errorf("update saw binding %d as %+v", i, cur)
			}
		}
		return cur, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got = lookup(t, st, b.AOR)
	for i := range want {
		if !Same(after[i], want[i]) || !Same(got[i], want[i]) {
			t.Fatalf("after Update, binding %d:\ngot  %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func testLookupUnknown(t *testing.T, s *suite) {
	st := s.open(t)
	bs, err := st.Lookup(ctx(t), "sip:nobody@example.com")
	if err != nil || len(bs) != 0 {
		t.Fatalf("Lookup of an unknown AOR: %v, %v", bs, err)
	}
	if n := count(t, st); n != 0 {
		t.Fatalf("empty store counts %d", n)
	}
	if len(all(t, st)) != 0 {
		t.Fatal("empty store yields bindings")
	}
}

func testExpiry(t *testing.T, s *suite) {
	st := s.open(t)
	now := s.clk.Now()
	short, long := phone(now, 1, 1), phone(now, 1, 2)
	short.Expires = now.Add(time.Minute)
	put(t, st, short)
	put(t, st, long)
	other := phone(now, 2, 1)
	other.Expires = now.Add(30 * time.Second)
	put(t, st, other)
	if n := count(t, st); n != 3 {
		t.Fatalf("count %d, want 3", n)
	}
	s.clk.Advance(time.Minute) // exactly at expiry: gone
	if got := lookup(t, st, short.AOR); len(got) != 1 || got[0].Contact != long.Contact {
		t.Fatalf("after expiry: %q", contacts(got))
	}
	if got := lookup(t, st, other.AOR); len(got) != 0 {
		t.Fatalf("expired AOR still found: %q", contacts(got))
	}
	if n := count(t, st); n != 1 {
		t.Fatalf("count %d after expiry, want 1", n)
	}
	if a := all(t, st); len(a) != 1 {
		t.Fatalf("All yields %d after expiry, want 1", len(a))
	}
	// Update never shows fn an expired binding.
	_, err := st.Update(ctx(t), short.AOR, func(cur []location.Binding) ([]location.Binding, error) {
		if len(cur) != 1 || cur[0].Contact != long.Contact {
			return nil, fmt.Errorf("update saw %q", contacts(cur))
		}
		return cur, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A refresh moves the expiry.
	long.Expires = s.clk.Now().Add(2 * time.Hour)
	long.CSeq++
	put(t, st, long)
	s.clk.Advance(90 * time.Minute)
	if got := lookup(t, st, long.AOR); len(got) != 1 || got[0].CSeq != long.CSeq {
		t.Fatalf("refreshed binding: %+v", got)
	}
	if got := lookup(t, st, long.AOR); got[0].ExpiresIn(s.clk.Now()) != 30*60 {
		t.Fatalf("ExpiresIn %d, want 1800", got[0].ExpiresIn(s.clk.Now()))
	}
}

func testWildcard(t *testing.T, s *suite) {
	st := s.open(t)
	now := s.clk.Now()
	for i := range 5 {
		put(t, st, phone(now, 1, i))
	}
	put(t, st, phone(now, 2, 0))
	if err := st.RemoveAll(ctx(t), phone(now, 1, 0).AOR); err != nil {
		t.Fatal(err)
	}
	if got := lookup(t, st, phone(now, 1, 0).AOR); len(got) != 0 {
		t.Fatalf("after RemoveAll: %q", contacts(got))
	}
	if got := lookup(t, st, phone(now, 2, 0).AOR); len(got) != 1 {
		t.Fatal("RemoveAll touched another AOR")
	}
	// The registrar's wildcard is an Update that returns nothing.
	for i := range 3 {
		put(t, st, phone(now, 1, i))
	}
	got, err := st.Update(ctx(t), phone(now, 1, 0).AOR, func(cur []location.Binding) ([]location.Binding, error) {
		if len(cur) != 3 {
			return nil, fmt.Errorf("update saw %d bindings, want 3", len(cur))
		}
		return nil, nil
	})
	if err != nil || len(got) != 0 {
		t.Fatalf("wildcard Update: %v, %v", got, err)
	}
	if n := count(t, st); n != 1 {
		t.Fatalf("count %d, want 1", n)
	}
	// RemoveAll of an unknown AOR is no error.
	if err := st.RemoveAll(ctx(t), "sip:nobody@example.com"); err != nil {
		t.Fatal(err)
	}
}

func testUpdate(t *testing.T, s *suite) {
	st := s.open(t)
	now := s.clk.Now()
	a, b, c := phone(now, 1, 1), phone(now, 1, 2), phone(now, 1, 3)
	b.Q, c.Q = 500, 100
	// On an empty AOR fn sees nothing; the result comes back sorted.
	got, err := st.Update(ctx(t), a.AOR, func(cur []location.Binding) ([]location.Binding, error) {
		if len(cur) != 0 {
			return nil, fmt.Errorf("empty AOR: fn saw %d bindings", len(cur))
		}
		return append(cur, c, a, b), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{a.Contact, b.Contact, c.Contact}; !slices.Equal(contacts(got), want) {
		t.Fatalf("Update returned %q, want %q", contacts(got), want)
	}
	if want := []string{a.Contact, b.Contact, c.Contact}; !slices.Equal(contacts(lookup(t, st, a.AOR)), want) {
		t.Fatalf("Lookup after Update %q, want %q", contacts(lookup(t, st, a.AOR)), want)
	}
	// fn sees Lookup's order and may rewrite in place; expired bindings
	// it returns are dropped.
	got, err = st.Update(ctx(t), a.AOR, func(cur []location.Binding) ([]location.Binding, error) {
		if want := []string{a.Contact, b.Contact, c.Contact}; !slices.Equal(contacts(cur), want) {
			return nil, fmt.Errorf("fn saw %q, want %q", contacts(cur), want)
		}
		cur[0].CSeq = 99
		cur[0].Node = "node-9"
		cur[2].Expires = now // expires now: dropped
		return cur, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	l := lookup(t, st, a.AOR)
	if len(got) != 2 || len(l) != 2 || l[0].CSeq != 99 || l[0].Node != "node-9" || l[1].Contact != b.Contact {
		t.Fatalf("after Update: returned %+v, stored %+v", got, l)
	}
	// An error from fn changes nothing and comes back as is.
	errStop := errors.New("stop")
	if _, err := st.Update(ctx(t), a.AOR, func(cur []location.Binding) ([]location.Binding, error) {
		return nil, errStop
	}); !errors.Is(err, errStop) {
		t.Fatalf("fn error: Update returned %v", err)
	}
	if l2 := lookup(t, st, a.AOR); len(l2) != 2 {
		t.Fatalf("a failed Update changed the AOR: %q", contacts(l2))
	}
	// Updates of one AOR leave the others alone.
	other := phone(now, 2, 1)
	put(t, st, other)
	if _, err := st.Update(ctx(t), a.AOR, location.RemoveAllFunc); err != nil {
		t.Fatal(err)
	}
	if len(lookup(t, st, a.AOR)) != 0 || len(lookup(t, st, other.AOR)) != 1 || count(t, st) != 1 {
		t.Fatal("Update to nothing: wrong bindings left")
	}
}

func testUpdateRejects(t *testing.T, s *suite) {
	st := s.open(t)
	now := s.clk.Now()
	a := phone(now, 1, 1)
	put(t, st, a)
	bad := map[string]func(cur []location.Binding) []location.Binding{
		"another AOR": func(cur []location.Binding) []location.Binding {
			return append(cur, phone(now, 2, 1))
		},
		"bad contact": func(cur []location.Binding) []location.Binding {
			b := phone(now, 1, 2)
			b.Contact = "not a uri"
			return append(cur, b)
		},
		"q out of range": func(cur []location.Binding) []location.Binding {
			b := phone(now, 1, 2)
			b.Q = location.QMax + 1
			return append(cur, b)
		},
		"field too long": func(cur []location.Binding) []location.Binding {
			b := phone(now, 1, 2)
			b.Node = strings.Repeat("n", location.MaxFieldLen+1)
			return append(cur, b)
		},
	}
	for name, f := range bad {
		_, err := st.Update(ctx(t), a.AOR, func(cur []location.Binding) ([]location.Binding, error) { return f(cur), nil })
		if !errors.Is(err, location.ErrInvalid) {
			t.Errorf("%s: Update returned %v, want ErrInvalid", name, err)
		}
		if got := lookup(t, st, a.AOR); len(got) != 1 || !Same(got[0], a) {
			t.Fatalf("%s: a rejected Update changed the AOR: %+v", name, got)
		}
	}
	if n := count(t, st); n != 1 {
		t.Fatalf("count %d after rejected updates, want 1", n)
	}
}

// testConcurrentAdds has writers each add their own contacts to one AOR
// through Update, at the same time and through every store sharing the
// data: every contact must be there at the end. A store whose Update is
// not atomic loses some (two writers read the same set and each stores it
// with only its own contact added).
func testConcurrentAdds(t *testing.T, s *suite) {
	st := s.open(t)
	stores := s.writers(t, st)
	const writers, each = 8, 20 // 160 bindings, within MaxBindings
	now := s.clk.Now()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			target := stores[w%len(stores)]
			for i := range each {
				b := phone(now, 1, w*each+i)
				if _, err := target.Update(ctx(t), b.AOR, func(cur []location.Binding) ([]location.Binding, error) {
					return append(cur, b), nil
				}); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, x := range stores {
		got := lookup(t, x, phone(now, 1, 0).AOR)
		if len(got) != writers*each {
			t.Fatalf("%d bindings after %d concurrent adds: contacts were lost", len(got), writers*each)
		}
	}
}

// testConcurrentCounter has writers increment one binding's CSeq by
// read-modify-write in Update; the final CSeq counts every update that
// was not lost.
func testConcurrentCounter(t *testing.T, s *suite) {
	st := s.open(t)
	stores := s.writers(t, st)
	const writers, each = 6, 25
	b := phone(s.clk.Now(), 1, 1)
	b.CSeq = 0
	put(t, st, b)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			target := stores[w%len(stores)]
			for range each {
				if _, err := target.Update(ctx(t), b.AOR, func(cur []location.Binding) ([]location.Binding, error) {
					if len(cur) != 1 {
						return nil, fmt.Errorf("fn saw %d bindings", len(cur))
					}
					cur[0].CSeq++
					return cur, nil
				}); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := lookup(t, st, b.AOR)
	if len(got) != 1 || got[0].CSeq != writers*each {
		t.Fatalf("CSeq %d after %d increments: updates were lost (%+v)", got[0].CSeq, writers*each, got)
	}
}

// testConcurrent mixes every operation over a few AORs from several
// goroutines: no error, no duplicate, a consistent Count.
func testConcurrent(t *testing.T, s *suite) {
	st := s.open(t)
	stores := s.writers(t, st)
	var wg sync.WaitGroup
	const workers, users, rounds = 6, 10, 60
	for w := range workers {
		wg.Go(func() {
			x := stores[w%len(stores)]
			for i := range rounds {
				u := (w*rounds + i) % users
				b := phone(s.clk.Now(), u, w)
				var err error
				switch i % 6 {
				case 3:
					err = x.Remove(ctx(t), b.AOR, b.Contact)
				case 4:
					_, err = x.Count(ctx(t))
				case 5:
					_, err = x.Update(ctx(t), b.AOR, location.PutFunc(b))
				default:
					err = x.Put(ctx(t), b)
				}
				if err == nil {
					_, err = x.Lookup(ctx(t), b.AOR)
				}
				if err != nil {
					t.Errorf("worker %d round %d: %v", w, i, err)
					return
				}
				if i%20 == 0 {
					for _, err := range x.All(ctx(t)) {
						if err != nil {
							t.Errorf("All: %v", err)
							return
						}
					}
				}
			}
		})
	}
	wg.Wait()
	a := all(t, st)
	if n := count(t, st); n != len(a) || n > workers*users {
		t.Fatalf("count %d, All %d", n, len(a))
	}
}

// bigBinding is a binding of the size a heavy client sends: long
// parameters, a Path of three, a long User-Agent.
func bigBinding(now time.Time, i int) location.Binding {
	b := phone(now, 1, i)
	b.Params += ";+sip.ice;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel\";" + strings.Repeat("x", 300)
	b.Path = []string{"<sip:edge1.example.com;lr;ob>", "<sip:edge2.example.com;lr>", "<sip:core.example.com;lr>"}
	b.UserAgent = "Parley-Phone/1.0 " + strings.Repeat("y", 200)
	b.Q = i % (location.QMax + 1)
	return b
}

func testLargeAOR(t *testing.T, s *suite) {
	st := s.open(t)
	now := s.clk.Now()
	want := map[string]location.Binding{}
	for i := range location.MaxBindings {
		b := bigBinding(now, i)
		want[b.Contact] = b
		if i%2 == 0 {
			put(t, st, b)
			continue
		}
		if _, err := st.Update(ctx(t), b.AOR, location.PutFunc(b)); err != nil {
			t.Fatalf("Update %d: %v", i, err)
		}
	}
	got := lookup(t, st, bigBinding(now, 0).AOR)
	if len(got) != location.MaxBindings {
		t.Fatalf("%d bindings, want %d", len(got), location.MaxBindings)
	}
	for i, b := range got {
		if !Same(b, want[b.Contact]) {
			t.Fatalf("binding %s changed:\ngot  %+v\nwant %+v", b.Contact, b, want[b.Contact])
		}
		if i > 0 && got[i-1].Q < b.Q {
			t.Fatal("not sorted by q")
		}
	}
	// One more is refused by Put and Update alike, and changes nothing.
	extra := bigBinding(now, location.MaxBindings)
	if err := st.Put(ctx(t), extra); !errors.Is(err, location.ErrInvalid) {
		t.Fatalf("Put beyond MaxBindings: %v, want ErrInvalid", err)
	}
	if _, err := st.Update(ctx(t), extra.AOR, location.PutFunc(extra)); !errors.Is(err, location.ErrInvalid) {
		t.Fatalf("Update beyond MaxBindings: %v, want ErrInvalid", err)
	}
	// A refresh of one already there still works.
	ref := bigBinding(now, 7)
	ref.CSeq += 10
	put(t, st, ref)
	if n := len(lookup(t, st, ref.AOR)); n != location.MaxBindings {
		t.Fatalf("%d bindings after a refresh, want %d", n, location.MaxBindings)
	}
	if n := count(t, st); n != location.MaxBindings {
		t.Fatalf("count %d, want %d", n, location.MaxBindings)
	}
}

func testManyAORs(t *testing.T, s *suite) {
	st := s.open(t)
	now := s.clk.Now()
	const users = 300
	want := map[string]location.Binding{}
	for u := range users {
		for d := range 1 + u%3 {
			b := phone(now, u, d)
			put(t, st, b)
			want[b.AOR+" "+b.Contact+" "+b.InstanceID+fmt.Sprint(b.RegID)] = b
		}
	}
	got := all(t, st)
	if len(got) != len(want) {
		t.Fatalf("All yields %d, want %d", len(got), len(want))
	}
	for k, w := range want {
		if !Same(got[k], w) {
			t.Fatalf("%s:\ngot  %+v\nwant %+v", k, got[k], w)
		}
	}
	if n := count(t, st); n != len(want) {
		t.Fatalf("count %d, want %d", n, len(want))
	}
	// Stopping All early is allowed.
	n := 0
	for range st.All(ctx(t)) {
		if n++; n == 3 {
			break
		}
	}
}

func testClosed(t *testing.T, s *suite) {
	st := s.open(t)
	st.Close()
	c := ctx(t)
	b := phone(s.clk.Now(), 1, 1)
	if err := st.Put(c, b); !errors.Is(err, location.ErrClosed) {
		t.Fatalf("Put after Close: %v", err)
	}
	if _, err := st.Lookup(c, b.AOR); !errors.Is(err, location.ErrClosed) {
		t.Fatalf("Lookup after Close: %v", err)
	}
	if _, err := st.Update(c, b.AOR, location.PutFunc(b)); !errors.Is(err, location.ErrClosed) {
		t.Fatalf("Update after Close: %v", err)
	}
	if _, err := st.Count(c); !errors.Is(err, location.ErrClosed) {
		t.Fatalf("Count after Close: %v", err)
	}
	for _, err := range st.All(c) {
		if !errors.Is(err, location.ErrClosed) {
			t.Fatalf("All after Close: %v", err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func testReopen(t *testing.T, s *suite) {
	if s.cfg.Reopen == nil {
		t.Skip("the store keeps nothing across a restart")
	}
	st := s.open(t)
	now := s.clk.Now()
	for u := range 20 {
		for d := range 3 {
			b := phone(now, u, d)
			b.Node = fmt.Sprintf("node-%d", d)
			if d == 1 {
				b.Path = []string{"<sip:edge.example.com;lr>"}
			}
			put(t, st, b)
		}
	}
	// Changes of every kind, to be replayed.
	if err := st.Remove(ctx(t), phone(now, 0, 0).AOR, phone(now, 0, 0).Contact); err != nil {
		t.Fatal(err)
	}
	if err := st.RemoveAll(ctx(t), phone(now, 1, 0).AOR); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Update(ctx(t), phone(now, 2, 0).AOR, func(cur []location.Binding) ([]location.Binding, error) {
		cur[0].CSeq, cur[0].Node = 77, "node-7"
		return cur[:2], nil
	}); err != nil {
		t.Fatal(err)
	}
	short := phone(now, 3, 5)
	short.Expires = now.Add(time.Minute)
	put(t, st, short)
	want := all(t, st)
	st = s.reopen(t, st)
	got := all(t, st)
	if len(got) != len(want) {
		t.Fatalf("after reopen %d bindings, want %d", len(got), len(want))
	}
	for k, w := range want {
		if !Same(got[k], w) {
			t.Fatalf("after reopen %s:\ngot  %+v\nwant %+v", k, got[k], w)
		}
	}
	// What expired while the server was down is gone after the restart.
	s.clk.Advance(2 * time.Minute)
	st = s.reopen(t, st)
	if n := count(t, st); n != len(want)-1 {
		t.Fatalf("after reopen past an expiry: count %d, want %d", n, len(want)-1)
	}
	if _, err := st.Update(ctx(t), short.AOR, func(cur []location.Binding) ([]location.Binding, error) {
		for _, b := range cur {
			if b.Contact == short.Contact {
				return nil, errors.New("expired binding handed to fn after reopen")
			}
		}
		return cur, nil
	}); err != nil {
		t.Fatal(err)
	}
}
