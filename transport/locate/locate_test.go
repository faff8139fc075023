package locate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
	"github.com/parley-sip/parley/transport/locate/locatetest"
)

// testZone is example.test with the records of RFC 3263 §4's paths.
var testZone = []string{
	// NAPTR: TCP preferred, then UDP; a TLS record for sips; junk that
	// must be passed over.
	`example.test. 300 IN NAPTR 10 50 "s" "SIP+D2T" "" _sip._tcp.example.test.`,
	`example.test. 300 IN NAPTR 20 50 "s" "SIP+D2U" "" _sip._udp.example.test.`,
	`example.test. 300 IN NAPTR 30 50 "s" "SIPS+D2T" "" _sips._tcp.example.test.`,
	`example.test. 300 IN NAPTR 5 50 "u" "E2U+sip" "!^.*$!sip:x@y!" .`,
	`example.test. 300 IN NAPTR 6 50 "s" "SIP+D2S" "" _sip._sctp.example.test.`,
	`_sip._tcp.example.test. 300 IN SRV 10 0 5070 tcp1.example.test.`,
	`_sip._udp.example.test. 300 IN SRV 10 0 5080 udp1.example.test.`,
	`_sips._tcp.example.test. 300 IN SRV 10 0 5090 tls1.example.test.`,
	`_sip._sctp.example.test. 300 IN SRV 10 0 5095 tcp1.example.test.`,
	`tcp1.example.test. 300 IN A 127.0.0.11`,
	`udp1.example.test. 300 IN A 127.0.0.12`,
	`udp1.example.test. 300 IN AAAA ::1`,
	`tls1.example.test. 300 IN A 127.0.0.13`,
	`example.test. 300 IN A 127.0.0.10`,

	// srv.test: no NAPTR, SRV for UDP and TCP with priorities.
	`_sip._udp.srv.test. 300 IN SRV 20 0 5062 b.srv.test.`,
	`_sip._udp.srv.test. 300 IN SRV 10 0 5061 a.srv.test.`,
	`_sip._tcp.srv.test. 300 IN SRV 10 0 5063 a.srv.test.`,
	`_sips._tcp.srv.test. 300 IN SRV 10 0 5064 a.srv.test.`,
	`a.srv.test. 300 IN A 127.0.0.21`,
	`b.srv.test. 300 IN A 127.0.0.22`,
	`srv.test. 300 IN A 127.0.0.20`,

	// plain.test: only an address.
	`plain.test. 300 IN A 127.0.0.30`,
	`plain.test. 300 IN AAAA ::1`,

	// weights.test: 90/10 within priority 10, and a priority-20 backup.
	`_sip._udp.weights.test. 300 IN SRV 10 90 5060 heavy.weights.test.`,
	`_sip._udp.weights.test. 300 IN SRV 10 10 5060 light.weights.test.`,
	`_sip._udp.weights.test. 300 IN SRV 20 50 5060 backup.weights.test.`,
	`heavy.weights.test. 300 IN A 127.0.0.41`,
	`light.weights.test. 300 IN A 127.0.0.42`,
	`backup.weights.test. 300 IN A 127.0.0.43`,

	// none.test: SRV says "no such service".
	`_sip._udp.none.test. 300 IN SRV 0 0 0 .`,
	`none.test. 300 IN A 127.0.0.50`,

	// alias.test: a CNAME to plain.test.
	`alias.test. 300 IN CNAME plain.test.`,

	// udponly.test: NAPTR for UDP only; a sips URI discards it and goes
	// on as if there were no NAPTR (§4.1).
	`udponly.test. 300 IN NAPTR 10 10 "s" "SIP+D2U" "" _sip._udp.udponly.test.`,
	`_sip._udp.udponly.test. 300 IN SRV 10 0 5060 udponly.test.`,
	`udponly.test. 300 IN A 127.0.0.80`,

	// short.test: TTL 1 s, for the cache test.
	`short.test. 1 IN A 127.0.0.60`,
}

func newTestDNS(t testing.TB, cfg DNSConfig, z ...*locatetest.Server) *DNS {
	t.Helper()
	for _, s := range z {
		cfg.Servers = append(cfg.Servers, s.Addr)
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	d, err := NewDNS(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustURI(t testing.TB, s string) sip.URI {
	t.Helper()
	u, err := sip.ParseURI(s)
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return u
}

func addrs(as []transport.Addr) string {
	var b []string
	for _, a := range as {
		b = append(b, a.String())
	}
	return strings.Join(b, " ")
}

func lookup(t testing.TB, r Resolver, uri string) ([]transport.Addr, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.Lookup(ctx, mustURI(t, uri))
}

func TestDNSPaths(t *testing.T) {
	z := locatetest.NewServer(t, testZone...)
	d := newTestDNS(t, DNSConfig{}, z)
	cases := []struct {
		uri, want string
	}{
		// Numeric IP: as is (§4.1, §4.2).
		{"sip:127.0.0.1", "udp:127.0.0.1:5060"},
		{"sip:127.0.0.1:5070;transport=tcp", "tcp:127.0.0.1:5070"},
		{"sips:127.0.0.1", "tls:127.0.0.1:5061"},
		{"sip:[::1]:5999", "udp:[::1]:5999"},
		{"sip:bob@plain.test;maddr=127.0.0.9", "udp:127.0.0.9:5060"},
		// Port given: A/AAAA, no NAPTR or SRV.
		{"sip:example.test:5999", "udp:127.0.0.10:5999"},
		{"sip:plain.test:5999;transport=tcp", "tcp:127.0.0.30:5999 tcp:[::1]:5999"},
		// NAPTR, by order: TCP, then UDP, then TLS (a sip URI may be
		// reached over TLS); SCTP and E2U passed over.
		{"sip:bob@example.test", "tcp:127.0.0.11:5070 udp:127.0.0.12:5080 udp:[::1]:5080 tls:127.0.0.13:5090"},
		// sips: only SIPS+D2T.
		{"sips:bob@example.test", "tls:127.0.0.13:5090"},
		{"sip:udponly.test", "udp:127.0.0.80:5060"},
		{"sips:udponly.test", "tls:127.0.0.80:5061"},
		// Transport given: its SRV, NAPTR skipped.
		{"sip:example.test;transport=udp", "udp:127.0.0.12:5080 udp:[::1]:5080"},
		// No NAPTR: SRV per transport in our order, priorities inside.
		{"sip:srv.test", "udp:127.0.0.21:5061 udp:127.0.0.22:5062 tcp:127.0.0.21:5063"},
		{"sips:srv.test", "tls:127.0.0.21:5064"},
		{"sip:srv.test;transport=tcp", "tcp:127.0.0.21:5063"},
		// Neither: A/AAAA on the default port.
		{"sip:plain.test", "udp:127.0.0.30:5060 udp:[::1]:5060"},
		{"sips:plain.test", "tls:127.0.0.30:5061 tls:[::1]:5061"},
		{"sip:plain.test;transport=tcp", "tcp:127.0.0.30:5060 tcp:[::1]:5060"},
		{"sip:x@alias.test", "udp:127.0.0.30:5060 udp:[::1]:5060"},
		// maddr is the target; a trailing dot is the same name.
		{"sip:bob@nowhere.test;maddr=plain.test", "udp:127.0.0.30:5060 udp:[::1]:5060"},
		{"sip:plain.test.", "udp:127.0.0.30:5060 udp:[::1]:5060"},
	}
	for _, c := range cases {
		got, err := lookup(t, d, c.uri)
		if err != nil {
			t.Errorf("%s: %v", c.uri, err)
			continue
		}
		if s := addrs(got); s != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.uri, s, c.want)
		}
	}
	// The TLS name is the URI's host, not the SRV target (RFC 5922 §4).
	got, _ := lookup(t, d, "sips:bob@example.test")
	if len(got) != 1 || got[0].Host != "example.test" {
		t.Errorf("TLS name: %+v", got)
	}
	// A port given asks no NAPTR or SRV.
	z2 := locatetest.NewServer(t, testZone...)
	d2 := newTestDNS(t, DNSConfig{}, z2)
	_, _ = lookup(t, d2, "sip:plain.test:5999")
	if n := z2.Count("_sip._udp.plain.test", dns.TypeSRV) + z2.Count("plain.test", dns.TypeNAPTR); n != 0 {
		t.Errorf("NAPTR/SRV asked %d times for a URI with a port", n)
	}
}

func TestDNSNoRoute(t *testing.T) {
	z := locatetest.NewServer(t, testZone...)
	d := newTestDNS(t, DNSConfig{}, z)
	for _, uri := range []string{
		"sip:bob@missing.test",              // NXDOMAIN everywhere
		"sip:bob@none.test",                 // SRV "." : no service, no A fallback
		"sips:bob@plain.test;transport=udp", // sips over UDP
		"tel:+15551234",
	} {
		got, err := lookup(t, d, uri)
		if !errors.Is(err, transport.ErrNoRoute) {
			t.Errorf("%s: got %s, %v; want ErrNoRoute", uri, addrs(got), err)
		}
	}
}

func TestDNSTransportsFilter(t *testing.T) {
	z := locatetest.NewServer(t, testZone...)
	d := newTestDNS(t, DNSConfig{Transports: []string{"udp"}}, z)
	got, err := lookup(t, d, "sip:bob@example.test")
	if err != nil || addrs(got) != "udp:127.0.0.12:5080 udp:[::1]:5080" {
		t.Errorf("UDP only: %s, %v", addrs(got), err)
	}
	if _, err := NewDNS(DNSConfig{Servers: []string{z.Addr}, Transports: []string{"sctp"}}); err == nil {
		t.Error("unsupported transport accepted")
	}
	if _, err := NewDNS(DNSConfig{Servers: []string{"ns.example"}}); err == nil {
		t.Error("nameserver by name accepted")
	}
}

// TestSRVWeights checks RFC 2782's weighted selection statistically: with
// weights 90 and 10 the heavy target comes first about 90% of the time,
// and the priority-20 target always last. The seed is fixed, so the
// counts are the same on every run; the bounds are wide anyway.
func TestSRVWeights(t *testing.T) {
	z := locatetest.NewServer(t, testZone...)
	d := newTestDNS(t, DNSConfig{Seed: 42}, z)
	const n = 2000
	heavy := 0
	for range n {
		got, err := lookup(t, d, "sip:weights.test")
		if err != nil || len(got) != 3 {
			t.Fatalf("got %s, %v", addrs(got), err)
		}
		if got[2].AddrPort.Addr().String() != "127.0.0.43" {
			t.Fatalf("priority 20 not last: %s", addrs(got))
		}
		if got[0].AddrPort.Addr().String() == "127.0.0.41" {
			heavy++
		}
	}
	if heavy < n*85/100 || heavy > n*95/100 {
		t.Errorf("heavy target first %d of %d times, want about 90%%", heavy, n)
	}
	// The cache answered all but the first lookup.
	if q := z.Count("_sip._udp.weights.test", dns.TypeSRV); q != 1 {
		t.Errorf("SRV asked %d times, want 1 (cached)", q)
	}
}

func TestOrderSRVZeroWeights(t *testing.T) {
	d := newTestDNS(t, DNSConfig{Seed: 7}, locatetest.NewServer(t))
	recs := []srv{{priority: 1, target: "a"}, {priority: 1, target: "b"}, {priority: 0, weight: 5, target: "c"}}
	first := map[string]int{}
	for range 400 {
		out := orderSRV(recs, d.e.rnd)
		if len(out) != 3 || out[0].target != "c" {
			t.Fatalf("order %+v", out)
		}
		first[out[1].target]++
	}
	if first["a"] < 120 || first["b"] < 120 {
		t.Errorf("weight-0 records not shuffled evenly: %v", first)
	}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestDNSCacheTTL(t *testing.T) {
	z := locatetest.NewServer(t, testZone...)
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	d := newTestDNS(t, DNSConfig{Now: clk.now}, z)
	for range 3 {
		if got, err := lookup(t, d, "sip:short.test:5060"); err != nil || addrs(got) != "udp:127.0.0.60:5060" {
			t.Fatalf("got %s, %v", addrs(got), err)
		}
	}
	if q := z.Count("short.test", dns.TypeA); q != 1 {
		t.Errorf("A asked %d times within its TTL, want 1", q)
	}
	clk.add(1500 * time.Millisecond)
	_, _ = lookup(t, d, "sip:short.test:5060")
	if q := z.Count("short.test", dns.TypeA); q != 2 {
		t.Errorf("A asked %d times after its TTL, want 2", q)
	}
	// Negative answers: the SOA minimum (60 s here), at most
	// NegativeTTL (30 s by default).
	_, _ = lookup(t, d, "sip:missing.test:5060")
	_, _ = lookup(t, d, "sip:missing.test:5060")
	if q := z.Count("missing.test", dns.TypeA); q != 1 {
		t.Errorf("NXDOMAIN asked %d times, want 1 (cached)", q)
	}
	clk.add(31 * time.Second)
	_, _ = lookup(t, d, "sip:missing.test:5060")
	if q := z.Count("missing.test", dns.TypeA); q != 2 {
		t.Errorf("NXDOMAIN asked %d times after NegativeTTL, want 2", q)
	}
	if s := d.Stats(); s.CacheHits == 0 || s.Queries == 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestDNSCacheBounded(t *testing.T) {
	z := locatetest.NewServer(t, testZone...)
	d := newTestDNS(t, DNSConfig{CacheSize: 4}, z)
	for _, h := range []string{"plain.test", "srv.test", "example.test", "a.srv.test", "b.srv.test", "short.test"} {
		_, _ = lookup(t, d, "sip:"+h+":5060")
	}
	if n := d.cache.len(); n != 4 {
		t.Errorf("cache holds %d entries, want 4", n)
	}
	// No cache at all.
	d = newTestDNS(t, DNSConfig{CacheSize: -1}, z)
	before := z.Count("plain.test", dns.TypeA)
	_, _ = lookup(t, d, "sip:plain.test:5060")
	_, _ = lookup(t, d, "sip:plain.test:5060")
	if q := z.Count("plain.test", dns.TypeA) - before; q != 2 {
		t.Errorf("uncached: A asked %d times, want 2", q)
	}
}

// TestDNSTimeout: a server that never answers gives an error within the
// context's deadline, not a hang.
func TestDNSTimeout(t *testing.T) {
	d, err := NewDNS(DNSConfig{Servers: []string{locatetest.Silent(t)}, QueryTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := d.Lookup(ctx, mustURI(t, "sip:bob@example.test"))
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("lookup against a silent server succeeded")
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want the context's deadline", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("lookup against a silent server still running 5 s after a 300 ms deadline")
	}
}

// TestDNSServerFailover: a silent first server and one that fails are
// passed over for the next that answers.
func TestDNSServerFailover(t *testing.T) {
	good := locatetest.NewServer(t, testZone...)
	bad := locatetest.NewServer(t)
	bad.SetHandler(func(w dns.ResponseWriter, r *dns.Msg) bool {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeServerFailure)
		_ = w.WriteMsg(m)
		return true
	})
	d, err := NewDNS(DNSConfig{Servers: []string{locatetest.Silent(t), bad.Addr, good.Addr}, QueryTimeout: 100 * time.Millisecond, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	got, err := lookup(t, d, "sip:srv.test")
	if err != nil || addrs(got) != "udp:127.0.0.21:5061 udp:127.0.0.22:5062 tcp:127.0.0.21:5063" {
		t.Errorf("got %s, %v", addrs(got), err)
	}
}

func TestDNSMalformed(t *testing.T) {
	// Garbage for an answer: an error, no panic.
	junk := locatetest.Raw(t, func(q []byte) []byte {
		if len(q) < 2 {
			return nil
		}
		return append([]byte{q[0], q[1]}, "\x81\x80\x00\x01\x00\x05garbage"...)
	})
	d, err := NewDNS(DNSConfig{Servers: []string{junk}, QueryTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := lookup(t, d, "sip:bob@example.test"); err == nil {
		t.Errorf("garbage answers gave %s", addrs(got))
	}
	// Answers to another question are refused.
	z := locatetest.NewServer(t, testZone...)
	z.SetHandler(func(w dns.ResponseWriter, r *dns.Msg) bool {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Question[0].Name = "evil.test."
		a, _ := dns.NewRR("evil.test. 300 IN A 127.0.0.66")
		m.Answer = []dns.RR{a}
		_ = w.WriteMsg(m)
		return true
	})
	d = newTestDNS(t, DNSConfig{QueryTimeout: 200 * time.Millisecond}, z)
	if got, err := lookup(t, d, "sip:plain.test:5060"); err == nil {
		t.Errorf("answers to another question gave %s", addrs(got))
	}
	// Records of another owner in the answer are ignored.
	z2 := locatetest.NewServer(t, testZone...)
	z2.SetHandler(func(w dns.ResponseWriter, r *dns.Msg) bool {
		m := new(dns.Msg)
		m.SetReply(r)
		a, _ := dns.NewRR("evil.test. 300 IN A 127.0.0.66")
		m.Answer = []dns.RR{a}
		_ = w.WriteMsg(m)
		return true
	})
	d = newTestDNS(t, DNSConfig{QueryTimeout: 200 * time.Millisecond}, z2)
	if got, err := lookup(t, d, "sip:plain.test:5060"); err == nil {
		t.Errorf("records of another owner gave %s", addrs(got))
	}
	// Bad NAPTR records (a regexp, an unknown flag, no replacement) are
	// passed over; a bad SRV target name too.
	z3 := locatetest.NewServer(t,
		`bad.test. 300 IN NAPTR 10 10 "s" "SIP+D2U" "!^.*$!x!" .`,
		`bad.test. 300 IN NAPTR 20 10 "a" "SIP+D2U" "" _sip._udp.bad.test.`,
		`bad.test. 300 IN NAPTR 30 10 "s" "SIP+D2U" "" .`,
		`bad.test. 300 IN NAPTR 40 10 "s" "SIP+D2T" "" _sip._tcp.bad.test.`,
		`_sip._tcp.bad.test. 300 IN SRV 10 10 5070 ok.bad.test.`,
		`_sip._tcp.bad.test. 300 IN SRV 20 10 5070 gone.bad.test.`,
		`ok.bad.test. 300 IN A 127.0.0.70`,
	)
	d = newTestDNS(t, DNSConfig{}, z3)
	got, err := lookup(t, d, "sip:bad.test")
	if err != nil || addrs(got) != "tcp:127.0.0.70:5070" {
		t.Errorf("bad NAPTR records: got %s, %v", addrs(got), err)
	}
	// A truncated answer is asked again over TCP (here there is no TCP
	// server: an error, not the truncated answer).
	z4 := locatetest.NewServer(t, testZone...)
	z4.SetHandler(func(w dns.ResponseWriter, r *dns.Msg) bool {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Truncated = true
		_ = w.WriteMsg(m)
		return true
	})
	d = newTestDNS(t, DNSConfig{QueryTimeout: 200 * time.Millisecond}, z4)
	if got, err := lookup(t, d, "sip:plain.test:5060"); err == nil {
		t.Errorf("truncated answer gave %s", addrs(got))
	}
}

// TestSystem runs the net.Resolver-based resolver against the same zone:
// SRV and A/AAAA paths (it has no NAPTR).
func TestSystem(t *testing.T) {
	z := locatetest.NewServer(t, testZone...)
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", z.Addr)
	}}
	s := NewSystem(SystemConfig{Resolver: r, Seed: 1})
	cases := []struct{ uri, want string }{
		{"sip:127.0.0.1", "udp:127.0.0.1:5060"},
		{"sip:srv.test", "udp:127.0.0.21:5061 udp:127.0.0.22:5062 tcp:127.0.0.21:5063"},
		{"sips:srv.test", "tls:127.0.0.21:5064"},
		{"sip:plain.test", "udp:127.0.0.30:5060 udp:[::1]:5060"},
		{"sip:plain.test:5999;transport=tcp", "tcp:127.0.0.30:5999 tcp:[::1]:5999"},
		// NAPTR unseen: SRV of each transport, UDP first.
		{"sip:example.test", "udp:127.0.0.12:5080 udp:[::1]:5080 tcp:127.0.0.11:5070"},
	}
	for _, c := range cases {
		got, err := lookup(t, s, c.uri)
		if err != nil {
			t.Errorf("%s: %v", c.uri, err)
			continue
		}
		if g := addrs(got); g != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.uri, g, c.want)
		}
	}
	if _, err := lookup(t, s, "sip:missing.test"); !errors.Is(err, transport.ErrNoRoute) {
		t.Errorf("missing name: %v", err)
	}
}

func TestLocalhostSkipsDNS(t *testing.T) {
	z := locatetest.NewServer(t, testZone...)
	d := newTestDNS(t, DNSConfig{QueryTimeout: 200 * time.Millisecond}, z)
	_, _ = lookup(t, d, "sip:localhost")
	if n := z.Count("_sip._udp.localhost", dns.TypeSRV) + z.Count("localhost", dns.TypeNAPTR); n != 0 {
		t.Errorf("localhost: %d NAPTR/SRV questions sent", n)
	}
}

// TestDNSNAPTRFailure: a server that fails NAPTR queries (some do) is
// treated as having no NAPTR records; SRV still works.
func TestDNSNAPTRFailure(t *testing.T) {
	z := locatetest.NewServer(t, testZone...)
	z.SetHandler(func(w dns.ResponseWriter, r *dns.Msg) bool {
		if r.Question[0].Qtype != dns.TypeNAPTR {
			return false
		}
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeServerFailure)
		_ = w.WriteMsg(m)
		return true
	})
	d := newTestDNS(t, DNSConfig{}, z)
	got, err := lookup(t, d, "sip:bob@example.test")
	if err != nil || addrs(got) != "udp:127.0.0.12:5080 udp:[::1]:5080 tcp:127.0.0.11:5070" {
		t.Errorf("got %s, %v", addrs(got), err)
	}
}

func ExampleDNS() {
	d, err := NewDNS(DNSConfig{Servers: []string{"127.0.0.1:53"}})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	// A numeric IP needs no DNS: one target, as is.
	u, _ := sip.ParseURI("sips:alice@192.0.2.7")
	hops, _ := d.Lookup(ctx, u)
	fmt.Println(hops)
	// Output: [tls:192.0.2.7:5061]
}
