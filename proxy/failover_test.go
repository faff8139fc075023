package proxy

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
	"github.com/parley-sip/parley/transport"
	"github.com/parley-sip/parley/transport/locate"
	"github.com/parley-sip/parley/transport/locate/locatetest"
)

// withResolver has the proxy resolve next hops with r.
func withResolver(r locate.Resolver) stackOpt {
	return func(c *Config, _ *transaction.Config) { c.Resolver = r }
}

// srvStack is a proxy whose resolver asks an in-process DNS server where
// _sip._udp.svc.test has one SRV record per port given, in priority
// order, all on 127.0.0.1; bob@example.test is located at sip:bob@svc.test.
func srvStack(t *testing.T, ports ...uint16) *stack {
	t.Helper()
	var recs []string
	for i, p := range ports {
		recs = append(recs,
			fmt.Sprintf("_sip._udp.svc.test. 300 IN SRV %d 0 %d h%d.svc.test.", 10*(i+1), p, i),
			fmt.Sprintf("h%d.svc.test. 300 IN A 127.0.0.1", i))
	}
	z := locatetest.NewServer(t, recs...)
	r, err := locate.NewDNS(locate.DNSConfig{Servers: []string{z.Addr}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	loc := locatorFor(t, map[string][]Target{"bob@example.test": {target(t, "sip:bob@svc.test", 1000)}})
	return newStack(t, loc, withResolver(r))
}

func portOf(t *testing.T, addr string) uint16 {
	t.Helper()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return ap.Port()
}

// TestFailoverOnTimeout: the first SRV target is a UDP socket that never
// answers; after timer F the branch goes to the second, which answers,
// and the caller gets its answer (RFC 3263 §4.3). The INVITE after it
// goes to the second target first (the first is known down) and is
// answered.
func TestFailoverOnTimeout(t *testing.T) {
	dead := locatetest.Silent(t)
	callee := newUAS(t, []int{180}, 200, 0)
	s := srvStack(t, portOf(t, dead), callee.addr.Port())
	caller := newUA(t)

	c := caller.newCall("sip:bob@example.test")
	caller.send(s.addr, c.req(sip.OPTIONS, "sip:bob@example.test", 1))
	if resp := caller.response(sip.OPTIONS, 0); resp.StatusCode != 200 {
		t.Fatalf("OPTIONS answered %d, want 200 from the second target", resp.StatusCode)
	}

	c = caller.newCall("sip:bob@example.test")
	caller.send(s.addr, c.req(sip.INVITE, "sip:bob@example.test", 1))
	ok := caller.response(sip.INVITE, 200)
	if ok.ToTag() != callee.tag {
		t.Fatalf("INVITE answered by %q, want the callee", ok.ToTag())
	}
	if n := len(callee.received(sip.INVITE)); n != 1 {
		t.Errorf("callee got %d INVITEs, want 1", n)
	}
	s.settle(t)
}

// TestFailoverOn503: a 503 from the first target sends the request to the
// second; the caller never sees the 503. The next request goes to the
// second target first: the first is down for a while.
func TestFailoverOn503(t *testing.T) {
	busy := newUAS(t, nil, 503, 0, func(u *uas) { u.other = 503 })
	callee := newUAS(t, []int{180}, 200, 0)
	s := srvStack(t, busy.addr.Port(), callee.addr.Port())
	caller := newUA(t)
	for i := range 2 {
		c := caller.newCall("sip:bob@example.test")
		caller.send(s.addr, c.req(sip.OPTIONS, "sip:bob@example.test", 1))
		if resp := caller.response(sip.OPTIONS, 0); resp.StatusCode != 200 {
			t.Fatalf("OPTIONS %d answered %d, want 200 from the second target", i, resp.StatusCode)
		}
	}
	if n := len(busy.received(sip.OPTIONS)); n != 1 {
		t.Errorf("the 503'ing target got %d OPTIONS, want 1 (then tried last)", n)
	}
	s.settle(t)

	// INVITE, on a fresh proxy (nothing known down).
	busy = newUAS(t, nil, 503, 0)
	callee = newUAS(t, []int{180}, 200, 0)
	s = srvStack(t, busy.addr.Port(), callee.addr.Port())
	c := caller.newCall("sip:bob@example.test")
	caller.send(s.addr, c.req(sip.INVITE, "sip:bob@example.test", 1))
	if ok := caller.response(sip.INVITE, 200); ok.ToTag() != callee.tag {
		t.Fatalf("INVITE answered by %q, want the callee", ok.ToTag())
	}
	// The 503'd INVITE was ACKed by the proxy's client transaction.
	busy.waitFor(t, sip.ACK, 1)
	if n := len(busy.received(sip.INVITE)); n != 1 {
		t.Errorf("first target got %d INVITEs, want 1", n)
	}
	s.settle(t)
}

// TestFailoverExhausted: every target fails: the caller gets the answer
// of the last one (503 becomes 500, §16.7 step 6), once.
func TestFailoverExhausted(t *testing.T) {
	a := newUAS(t, nil, 503, 0, func(u *uas) { u.other = 503 })
	b := newUAS(t, nil, 503, 0, func(u *uas) { u.other = 503 })
	s := srvStack(t, a.addr.Port(), b.addr.Port())
	caller := newUA(t)
	c := caller.newCall("sip:bob@example.test")
	caller.send(s.addr, c.req(sip.OPTIONS, "sip:bob@example.test", 1))
	if resp := caller.response(sip.OPTIONS, 0); resp.StatusCode != 500 {
		t.Fatalf("OPTIONS answered %d, want 500", resp.StatusCode)
	}
	a.waitFor(t, sip.OPTIONS, 1)
	b.waitFor(t, sip.OPTIONS, 1)
	caller.none(200*time.Millisecond, "second final response", func(m sip.Message) bool {
		r, ok := m.(*sip.Response)
		return ok && r.StatusCode >= 200
	})
	s.settle(t)
}

// TestFailoverNAPTRTCPRefused: NAPTR prefers TCP, whose SRV target
// refuses the connection (nothing listens there); the branch goes on to
// the UDP record of the next NAPTR, where the callee answers.
func TestFailoverNAPTRTCPRefused(t *testing.T) {
	// A port where nothing listens: bound, then closed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := portOf(t, l.Addr().String())
	l.Close()
	callee := newUAS(t, nil, 200, 0)
	z := locatetest.NewServer(t,
		`svc.test. 300 IN NAPTR 10 10 "s" "SIP+D2T" "" _sip._tcp.svc.test.`,
		`svc.test. 300 IN NAPTR 20 10 "s" "SIP+D2U" "" _sip._udp.svc.test.`,
		fmt.Sprintf("_sip._tcp.svc.test. 300 IN SRV 10 0 %d tcp.svc.test.", closed),
		fmt.Sprintf("_sip._udp.svc.test. 300 IN SRV 10 0 %d udp.svc.test.", callee.addr.Port()),
		`tcp.svc.test. 300 IN A 127.0.0.1`,
		`udp.svc.test. 300 IN A 127.0.0.1`,
	)
	r, err := locate.NewDNS(locate.DNSConfig{Servers: []string{z.Addr}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	loc := locatorFor(t, map[string][]Target{"bob@example.test": {target(t, "sip:bob@svc.test", 1000)}})
	s := newStack(t, loc, withResolver(r))
	if err := s.tp.Listen(transport.ListenSpec{Transport: transport.TCP, Addr: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	caller := newUA(t)
	c := caller.newCall("sip:bob@example.test")
	caller.send(s.addr, c.req(sip.OPTIONS, "sip:bob@example.test", 1))
	if resp := caller.response(sip.OPTIONS, 0); resp.StatusCode != 200 {
		t.Fatalf("OPTIONS answered %d, want 200 over UDP after TCP was refused", resp.StatusCode)
	}
	if z.Count("svc.test", dns.TypeNAPTR) != 1 {
		t.Errorf("NAPTR asked %d times, want 1", z.Count("svc.test", dns.TypeNAPTR))
	}
	s.settle(t)
}

// TestNoFailoverAfterRinging: a 503 after a 180 is the callee's answer,
// not a dead server: the next address is not tried (it would ring again).
func TestNoFailoverAfterRinging(t *testing.T) {
	rang := newUAS(t, []int{180}, 503, 0)
	other := newUAS(t, nil, 200, 0)
	s := srvStack(t, rang.addr.Port(), other.addr.Port())
	caller := newUA(t)
	c := caller.newCall("sip:bob@example.test")
	caller.send(s.addr, c.req(sip.INVITE, "sip:bob@example.test", 1))
	if resp := caller.response(sip.INVITE, 500); resp == nil {
		t.Fatal("no final")
	}
	if n := len(other.received(sip.INVITE)); n != 0 {
		t.Errorf("second address got %d INVITEs after the first rang", n)
	}
	s.settle(t)
}
