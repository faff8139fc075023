package location

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

const aor = "sip:alice@example.com"

// b makes a minimal binding for aor on the clock's now.
func bnd(clk *fakeClock, contact string, expires time.Duration, q int) Binding {
	now := clk.Now()
	return Binding{AOR: aor, Contact: contact, Expires: now.Add(expires), Q: q, CallID: "c1", CSeq: 1, Updated: now}
}

type step func(t *testing.T, s Store, clk *fakeClock) error

func put(contact string, expires time.Duration, q int) step {
	return func(t *testing.T, s Store, clk *fakeClock) error {
		return s.Put(context.Background(), bnd(clk, contact, expires, q))
	}
}

func putB(f func(clk *fakeClock) Binding) step {
	return func(t *testing.T, s Store, clk *fakeClock) error { return s.Put(context.Background(), f(clk)) }
}

func remove(contact string) step {
	return func(t *testing.T, s Store, clk *fakeClock) error {
		return s.Remove(context.Background(), aor, contact)
	}
}

func removeAll() step {
	return func(t *testing.T, s Store, clk *fakeClock) error { return s.RemoveAll(context.Background(), aor) }
}

func advance(d time.Duration) step {
	return func(t *testing.T, s Store, clk *fakeClock) error { clk.Advance(d); return nil }
}

func flow(contact, instance string, regID uint32) func(*fakeClock) Binding {
	return func(clk *fakeClock) Binding {
		b := bnd(clk, contact, time.Hour, QMax)
		b.InstanceID, b.RegID = instance, regID
		return b
	}
}

func TestStoreTable(t *testing.T) {
	cases := []struct {
		name    string
		steps   []step
		want    []string // contacts of Lookup(aor), in order
		wantErr error    // error of the last step
	}{
		{name: "empty", want: []string{}},
		{name: "add", steps: []step{put("sip:a@192.0.2.1", time.Hour, QMax)}, want: []string{"sip:a@192.0.2.1"}},
		{
			name: "refresh same URI by §19.1.4",
			steps: []step{
				put("sip:a@HOST.example;transport=udp", time.Hour, QMax),
				put("sip:a@host.example;transport=UDP", 2*time.Hour, 500),
			},
			want: []string{"sip:a@host.example;transport=UDP"},
		},
		{
			name: "different port is a different contact",
			steps: []step{
				put("sip:a@host.example", time.Hour, QMax),
				put("sip:a@host.example:5060", time.Hour, QMax),
			},
			want: []string{"sip:a@host.example", "sip:a@host.example:5060"}, // equal q and time: by contact
		},
		{
			name: "three devices sorted by q",
			steps: []step{
				put("sip:desk@192.0.2.1", time.Hour, 500),
				put("sip:mobile@192.0.2.2", time.Hour, QMax),
				put("sip:soft@192.0.2.3", time.Hour, 100),
			},
			want: []string{"sip:mobile@192.0.2.2", "sip:desk@192.0.2.1", "sip:soft@192.0.2.3"},
		},
		{
			name: "equal q: most recent first",
			steps: []step{
				put("sip:old@192.0.2.1", time.Hour, 700),
				advance(time.Second),
				put("sip:new@192.0.2.2", time.Hour, 700),
			},
			want: []string{"sip:new@192.0.2.2", "sip:old@192.0.2.1"},
		},
		{
			name: "expiry",
			steps: []step{
				put("sip:short@192.0.2.1", time.Minute, QMax),
				put("sip:long@192.0.2.2", time.Hour, QMax),
				advance(time.Minute),
			},
			want: []string{"sip:long@192.0.2.2"},
		},
		{
			name: "expired put removes its binding",
			steps: []step{
				put("sip:a@192.0.2.1", time.Hour, QMax),
				put("sip:b@192.0.2.2", time.Hour, QMax),
				put("sip:a@192.0.2.1", 0, QMax),
			},
			want: []string{"sip:b@192.0.2.2"},
		},
		{
			name: "remove by URI equality",
			steps: []step{
				put("sip:a@192.0.2.1;transport=tcp", time.Hour, QMax),
				put("sip:b@192.0.2.2", time.Hour, QMax),
				remove("sip:a@192.0.2.1;TRANSPORT=TCP"),
			},
			want: []string{"sip:b@192.0.2.2"},
		},
		{
			name:  "remove unknown is fine",
			steps: []step{put("sip:a@192.0.2.1", time.Hour, QMax), remove("sip:zz@192.0.2.9")},
			want:  []string{"sip:a@192.0.2.1"},
		},
		{
			name: "remove all",
			steps: []step{
				put("sip:a@192.0.2.1", time.Hour, QMax),
				put("sip:b@192.0.2.2", time.Hour, QMax),
				removeAll(),
			},
			want: []string{},
		},
		{
			name: "flow: same instance and reg-id replaces a changed URI",
			steps: []step{
				putB(flow("sip:a@192.0.2.1:1111", "<urn:uuid:1>", 1)),
				putB(flow("sip:a@192.0.2.1:2222", "<urn:uuid:1>", 1)),
			},
			want: []string{"sip:a@192.0.2.1:2222"},
		},
		{
			name: "flow: two reg-ids are two bindings with one URI",
			steps: []step{
				putB(flow("sip:a@192.0.2.1", "<urn:uuid:1>", 1)),
				advance(time.Second),
				putB(flow("sip:a@192.0.2.1", "<urn:uuid:1>", 2)),
			},
			want: []string{"sip:a@192.0.2.1", "sip:a@192.0.2.1"},
		},
		{
			name: "plain contact replaces flows with its URI",
			steps: []step{
				putB(flow("sip:a@192.0.2.1", "<urn:uuid:1>", 1)),
				putB(flow("sip:a@192.0.2.1", "<urn:uuid:1>", 2)),
				put("sip:a@192.0.2.1", time.Hour, QMax),
			},
			want: []string{"sip:a@192.0.2.1"},
		},
		{
			name:    "invalid contact",
			steps:   []step{put("not a uri", time.Hour, QMax)},
			want:    []string{},
			wantErr: ErrInvalid,
		},
		{
			name:    "q out of range",
			steps:   []step{put("sip:a@192.0.2.1", time.Hour, 1001)},
			want:    []string{},
			wantErr: ErrInvalid,
		},
		{
			name:    "empty AOR",
			steps:   []step{putB(func(clk *fakeClock) Binding { b := bnd(clk, "sip:a@h", time.Hour, 1); b.AOR = ""; return b })},
			want:    []string{},
			wantErr: ErrInvalid,
		},
	}
	for _, kind := range storeKinds {
		for _, tc := range cases {
			t.Run(kind.name+"/"+tc.name, func(t *testing.T) {
				clk := newFakeClock()
				s := kind.open(t, clk.Now)
				var err error
				for _, st := range tc.steps {
					if err = st(t, s, clk); err != nil && tc.wantErr == nil {
						t.Fatal(err)
					}
				}
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				got := contacts(mustLookup(t, s, aor))
				if !slices.Equal(got, tc.want) {
					t.Fatalf("lookup %q, want %q", got, tc.want)
				}
				n, err := s.Count(context.Background())
				if err != nil || n != len(tc.want) {
					t.Fatalf("count %d %v, want %d", n, err, len(tc.want))
				}
			})
		}
	}
}

func TestFieldsRoundTrip(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind.name, func(t *testing.T) {
			clk := newFakeClock()
			s := kind.open(t, clk.Now)
			b := testBinding(clk.Now(), 7, 3)
			b.Path = []string{"<sip:edge1.example.com;lr>", "<sip:edge2.example.com;lr;ob>"}
			mustPut(t, s, b)
			got := mustLookup(t, s, b.AOR)
			if len(got) != 1 || !same(got[0], b) {
				t.Fatalf("got %+v\nwant %+v", got, b)
			}
			if got[0].ExpiresIn(clk.Now()) != 3600 || !got[0].Flow() {
				t.Fatalf("ExpiresIn %d Flow %v", got[0].ExpiresIn(clk.Now()), got[0].Flow())
			}
		})
	}
}

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

func TestClosed(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind.name, func(t *testing.T) {
			clk := newFakeClock()
			s := kind.open(t, clk.Now)
			s.Close()
			ctx := context.Background()
			if err := s.Put(ctx, testBinding(clk.Now(), 1, 1)); !errors.Is(err, ErrClosed) {
				t.Fatalf("Put after Close: %v", err)
			}
			if _, err := s.Lookup(ctx, aor); !errors.Is(err, ErrClosed) {
				t.Fatalf("Lookup after Close: %v", err)
			}
			for _, err := range s.All(ctx) {
				if !errors.Is(err, ErrClosed) {
					t.Fatalf("All after Close: %v", err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
		})
	}
}

func TestConcurrent(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind.name, func(t *testing.T) {
			clk := newFakeClock()
			s := kind.open(t, clk.Now)
			ctx := context.Background()
			var wg sync.WaitGroup
			const workers, users, rounds = 8, 20, 200
			for w := range workers {
				wg.Go(func() {
					for i := range rounds {
						u := (w*rounds + i) % users
						b := testBinding(clk.Now(), u, w)
						switch i % 7 {
						case 5:
							_ = s.Remove(ctx, b.AOR, b.Contact)
						case 6:
							_, _ = s.Count(ctx)
						default:
							if err := s.Put(ctx, b); err != nil {
								t.Error(err)
								return
							}
						}
						if _, err := s.Lookup(ctx, b.AOR); err != nil {
							t.Error(err)
							return
						}
						if i%50 == 0 {
							for range s.All(ctx) {
							}
							if m, ok := s.(interface{ Sweep() int }); ok {
								m.Sweep()
							}
						}
					}
				})
			}
			wg.Wait()
			// Every binding left is one of the workers' and unique per key.
			all := snapshotAll(t, s)
			n, _ := s.Count(ctx)
			if n != len(all) || n > workers*users {
				t.Fatalf("count %d, all %d", n, len(all))
			}
		})
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
