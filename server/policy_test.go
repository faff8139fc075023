package server

import (
	"context"
	"encoding/hex"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// listenVictim opens a UDP socket on another loopback address: a host that
// is not ours, which nothing in these tests may reach through the server.
func listenVictim(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// expectNothing fails when c receives a datagram within d.
func expectNothing(t *testing.T, c *net.UDPConn, d time.Duration) {
	t.Helper()
	buf := make([]byte, 65536)
	c.SetReadDeadline(time.Now().Add(d))
	if n, _, err := c.ReadFromUDP(buf); err == nil {
		t.Fatalf("the victim host received a request through the server:\n%s", buf[:n])
	}
}

// flowHex is a flow of the proxy's Record-Route flow tokens (proxy/flow.go).
func flowHex(ap netip.AddrPort) string {
	return "udp-" + hex.EncodeToString(ap.Addr().AsSlice()) + "-" + strconv.Itoa(int(ap.Port()))
}

func TestRelayPolicy(t *testing.T) {
	s, _ := startGuarded(t)
	victim := listenVictim(t)
	va := victim.LocalAddr().(*net.UDPAddr).AddrPort()
	server := addr(t, s, transport.UDP)
	c, err := net.Dial("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	me := c.LocalAddr().(*net.UDPAddr).AddrPort()
	foreign := "sip:victim@" + va.String()
	stranger := "From: <sip:mallory@evil.example>;tag=m1"
	token := "pf." + flowHex(me) + "." + flowHex(va)

	for _, tc := range []struct {
		name   string
		req    string
		status int
		reason string // a part of the reason phrase
	}{
		{"stranger INVITE to a foreign host", fromHeader(msg("INVITE", foreign), stranger), 403, "Not relaying"},
		{"stranger MESSAGE to a foreign host", fromHeader(msg("MESSAGE", foreign), stranger), 403, "Not relaying"},
		{"stranger OPTIONS to a foreign host", fromHeader(msg("OPTIONS", foreign), stranger), 403, "Not relaying"},
		{"stranger via a Route to a foreign proxy", fromHeader(msg("INVITE", "sip:bob@example.test", "Route: <sip:"+va.String()+";lr>"), stranger), 403, "Not relaying"},
		{"stranger to our user is how SIP reaches us", fromHeader(msg("INVITE", "sip:bob@example.test"), stranger), 480, ""},
		{"our user must authenticate to go elsewhere", fromHeader(msg("INVITE", foreign), "From: <sip:alice@example.test>;tag=a1"), 407, ""},
		{"forged in-dialog request with our Route", toTag(fromHeader(msg("BYE", foreign, "Route: <sip:"+server+";lr>"), stranger)), 403, "route"},
		{"forged in-dialog flow token", toTag(fromHeader(msg("BYE", "sip:bob@example.test", "Route: <sip:"+token+"@"+server+";lr>"), stranger)), 403, "route"},
		{"forged signature", toTag(fromHeader(msg("BYE", foreign, "Route: <sip:"+token+"@"+server+";lr;psig=AAAAAAAAAAAAAAAA>"), stranger)), 403, "route"},
		// Out of dialog the unsigned token is ignored: the request
		// goes where the Request-URI says (bob, not registered).
		{"forged flow token out of dialog", fromHeader(msg("INVITE", "sip:bob@example.test", "Route: <sip:"+token+"@"+server+";lr>"), stranger), 480, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := exchange(t, c, tc.req)
			if resp.StatusCode != tc.status || !strings.Contains(resp.Reason, tc.reason) {
				t.Fatalf("got %d %q, want %d with %q", resp.StatusCode, resp.Reason, tc.status, tc.reason)
			}
		})
	}
	expectNothing(t, victim, 300*time.Millisecond)
	if n := s.relayRefused.Load(); n != 7 {
		t.Errorf("relayRefused = %d, want 7", n)
	}
}

// fromHeader replaces the From of a request made by msg.
func fromHeader(req, from string) string {
	return strings.Replace(req, "From: <sip:t@127.0.0.1>;tag=f1", from, 1)
}

// toTag puts a To tag on a request made by msg: it is then in-dialog.
func toTag(req string) string {
	return strings.Replace(req, "To: <sip:parley@127.0.0.1>", "To: <sip:parley@127.0.0.1>;tag=forged", 1)
}

func TestInviteChallengeKeepsNoState(t *testing.T) {
	s, _ := startGuarded(t)
	c, err := net.Dial("udp", addr(t, s, transport.UDP))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := fromHeader(msg("INVITE", "sip:bob@example.test"), "From: <sip:alice@example.test>;tag=a1")
	first := exchange(t, c, req)
	again := exchange(t, c, req) // a retransmission: the same answer
	if first.StatusCode != 407 || again.StatusCode != 407 {
		t.Fatalf("got %d and %d, want 407 twice", first.StatusCode, again.StatusCode)
	}
	if first.ToTag() != again.ToTag() || !strings.HasPrefix(first.ToTag(), sip.StatelessTagPrefix) {
		t.Fatalf("To tags %q and %q: want one stateless tag", first.ToTag(), again.ToTag())
	}
	// The transaction ends right after the answer is sent.
	for deadline := time.Now().Add(2 * time.Second); s.Transactions().Stats().Live != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d transactions kept for a challenge", s.Transactions().Stats().Live)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Its ACK ends at the server (it would otherwise be routed to bob).
	ack := strings.Replace(strings.Replace(req, "INVITE sip:", "ACK sip:", 1), "CSeq: 7 INVITE", "CSeq: 7 ACK", 1)
	ack = strings.Replace(ack, "To: <sip:parley@127.0.0.1>", "To: <sip:parley@127.0.0.1>;tag="+first.ToTag(), 1)
	if _, err := c.Write([]byte(ack)); err != nil {
		t.Fatal(err)
	}
}

// TestShutdownWithSilentContact: a request proxied to a phone that never
// answers must not hold a shutdown for the grace period.
func TestShutdownWithSilentContact(t *testing.T) {
	cfg := defaultTestConfig(t, "udp:127.0.0.1:0")
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	silent, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { silent.Close() }()
	c, err := net.Dial("udp", addr(t, s, transport.UDP))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// bob registers from the socket that will then never answer (the
	// proxy sends to the flow a REGISTER came from).
	la := silent.LocalAddr().(*net.UDPAddr)
	silent.Close()
	sc, err := net.DialUDP("udp", la, c.RemoteAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	silent = sc
	if resp := send(t, sc, registerReq(sc, "bob", 1, "silent-reg")); resp.StatusCode != 200 {
		t.Fatalf("REGISTER: %d %s", resp.StatusCode, resp.Reason)
	}
	if _, err := c.Write([]byte(msg("OPTIONS", "sip:bob@example.test"))); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := silent.Read(buf); err != nil {
		t.Fatalf("the OPTIONS was not proxied to the contact: %v", err)
	}
	// The grace period is long; the server must not need it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown after %v: %v", time.Since(start), err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("the caller got no final response at shutdown: %v", err)
	}
	m, _ := sip.Parse(buf[:n])
	if resp, ok := m.(*sip.Response); !ok || resp.StatusCode < 500 {
		t.Fatalf("caller got %q, want a 5xx", buf[:n])
	}
}

// TestRelayTrustedAndInbound: relay.trusted peers may relay without
// authenticating; relay.inbound limits who may reach our users from other
// domains.
func TestRelayTrustedAndInbound(t *testing.T) {
	cfg := digestConfig(t, t.TempDir(), "udp:127.0.0.1:0")
	cfg.Relay.Trusted = []string{"127.0.0.7"}
	cfg.Relay.Inbound = []string{"127.0.0.8/32"}
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(shutdownCtx())
	server := mustAddrPort(t, addr(t, s, transport.UDP))
	victim := listenVictim(t)
	from := func(ip string) net.Conn {
		c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)}, net.UDPAddrFromAddrPort(server))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	stranger := "From: <sip:mallory@evil.example>;tag=m1"
	toBob := func() string { return fromHeader(msg("INVITE", "sip:bob@example.test"), stranger) }
	if r := exchange(t, from("127.0.0.1"), toBob()); r.StatusCode != 403 || !strings.Contains(r.Reason, "inbound") {
		t.Fatalf("a stranger outside relay.inbound: %d %q, want 403 naming inbound", r.StatusCode, r.Reason)
	}
	if r := exchange(t, from("127.0.0.8"), toBob()); r.StatusCode != 480 {
		t.Fatalf("an inbound peer calling bob (not registered): %d, want 480", r.StatusCode)
	}
	// A trusted peer relays to a foreign host: the request reaches it.
	foreign := "sip:victim@" + victim.LocalAddr().String()
	if _, err := from("127.0.0.7").Write([]byte(fromHeader(msg("OPTIONS", foreign), stranger))); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	victim.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, _, err := victim.ReadFromUDP(buf); err != nil {
		t.Fatalf("a trusted peer's request was not relayed: %v", err)
	}
}
