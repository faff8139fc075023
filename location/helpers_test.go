package location

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/sip"
)

// fakeClock is a settable clock for expiry tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testBinding is a realistic binding: the i-th phone of user u.
func testBinding(now time.Time, u, i int) Binding {
	return Binding{
		AOR:        fmt.Sprintf("sip:user%d@example.com", u),
		Contact:    fmt.Sprintf("sip:user%d@198.51.100.%d:%d;transport=udp", u, i%250+1, 5060+i),
		Params:     fmt.Sprintf(";+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-%012d>\";reg-id=1", u*10+i),
		Expires:    now.Add(time.Hour),
		Q:          QMax,
		CallID:     fmt.Sprintf("%032x@198.51.100.%d", u*10+i, i%250+1),
		CSeq:       uint32(i + 1),
		Source:     netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(u)}), uint16(40000+i)),
		Local:      netip.MustParseAddrPort("192.0.2.1:5060"),
		Transport:  "UDP",
		InstanceID: fmt.Sprintf("<urn:uuid:00000000-0000-0000-0000-%012d>", u*10+i),
		RegID:      1,
		UserAgent:  "Parley-Phone/1.0",
		Updated:    now,
	}
}

// same compares bindings field by field, times by instant.
func same(a, b Binding) bool {
	if len(a.Path) != len(b.Path) {
		return false
	}
	for i := range a.Path {
		if a.Path[i] != b.Path[i] {
			return false
		}
	}
	return a.AOR == b.AOR && a.Contact == b.Contact && a.Params == b.Params &&
		a.Expires.Equal(b.Expires) && a.Q == b.Q && a.CallID == b.CallID && a.CSeq == b.CSeq &&
		a.Source == b.Source && a.Local == b.Local && a.Transport == b.Transport &&
		a.InstanceID == b.InstanceID && a.RegID == b.RegID && a.UserAgent == b.UserAgent &&
		a.Updated.Equal(b.Updated) && a.Node == b.Node
}

// sameSet compares binding sets in order.
func sameSet(a, b []Binding) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !same(a[i], b[i]) {
			return false
		}
	}
	return true
}

func mustLookup(t testing.TB, s Store, aor string) []Binding {
	t.Helper()
	bs, err := s.Lookup(context.Background(), aor)
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

func mustPut(t testing.TB, s Store, b Binding) {
	t.Helper()
	if err := s.Put(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

// snapshotAll collects every binding of a store keyed by AOR and contact.
func snapshotAll(t testing.TB, s Store) map[string]Binding {
	t.Helper()
	out := map[string]Binding{}
	for b, err := range s.All(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		out[b.AOR+" "+b.Contact+" "+b.InstanceID] = b
	}
	return out
}

func mustURI(t testing.TB, s string) sip.URI {
	t.Helper()
	u, err := sip.ParseURI(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
