package proxy

import (
	"net/netip"
	"testing"
	"time"

	"github.com/parley-sip/parley/transport"
)

func TestDownList(t *testing.T) {
	now := time.Unix(1e9, 0)
	l := newDownList(10 * time.Second)
	l.now = func() time.Time { return now }
	a := transport.Addr{Transport: "UDP", AddrPort: netip.MustParseAddrPort("127.0.0.1:1")}
	b := transport.Addr{Transport: "UDP", AddrPort: netip.MustParseAddrPort("127.0.0.1:2")}
	c := transport.Addr{Transport: "TCP", AddrPort: netip.MustParseAddrPort("127.0.0.1:1")}
	hops := []transport.Addr{a, b, c}
	str := func(hs []transport.Addr) string {
		s := ""
		for _, h := range hs {
			s += h.String() + " "
		}
		return s
	}
	if got := str(l.order(hops)); got != str(hops) {
		t.Errorf("nothing down: %s", got)
	}
	l.mark(a, 0)
	if got, want := str(l.order(hops)), str([]transport.Addr{b, c, a}); got != want {
		t.Errorf("a down: %s, want %s", got, want)
	}
	l.mark(b, time.Minute) // a Retry-After
	now = now.Add(11 * time.Second)
	if got, want := str(l.order(hops)), str([]transport.Addr{a, c, b}); got != want {
		t.Errorf("a due again, b down: %s, want %s", got, want)
	}
	l.up(b)
	if got := str(l.order(hops)); got != str(hops) {
		t.Errorf("b answered: %s", got)
	}
	// Bounded.
	for i := range maxDown + 10 {
		l.mark(transport.Addr{Transport: "UDP", AddrPort: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(i+1))}, 0)
	}
	if n := len(l.until); n > maxDown {
		t.Errorf("%d addresses remembered, at most %d", n, maxDown)
	}
}
