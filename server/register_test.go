package server

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

func digestConfig(t testing.TB, data string, listen ...string) *config.Config {
	cfg := config.Default()
	cfg.Listen = listen
	cfg.Data = data
	cfg.Domain = "example.test"
	cfg.Users = []config.User{{Name: "alice", Password: "wonderland"}, {Name: "bob", Password: "builder"}}
	return cfg
}

// registerReq builds a REGISTER for user from the UDP client socket c.
func registerReq(c net.Conn, user string, cseq int, callID string) *sip.Request {
	local := c.LocalAddr().String()
	uri, _ := sip.ParseURI("sip:example.test")
	req := sip.NewRequest(sip.REGISTER, uri)
	req.Add("Via", "SIP/2.0/UDP "+local+";branch="+fmt.Sprintf("z9hG4bKreg%d%s", cseq, callID)+";rport")
	req.Add("Max-Forwards", "70")
	req.Add("To", "<sip:"+user+"@example.test>")
	req.Add("From", "<sip:"+user+"@example.test>;tag=r"+callID)
	req.Add("Call-ID", callID)
	req.Add("CSeq", strconv.Itoa(cseq)+" REGISTER")
	req.Add("Contact", "<sip:"+user+"@"+local+">;expires=600")
	return req
}

func send(t *testing.T, c net.Conn, req *sip.Request) *sip.Response {
	t.Helper()
	return exchange(t, c, req.String())
}

func TestRegisterWithDigestAndRestart(t *testing.T) {
	data := t.TempDir()
	cfg := digestConfig(t, data, "udp:127.0.0.1:0")
	cfg.DigestAlgorithms = []string{"SHA-256", "MD5"} // the default is MD5 alone; this test checks the choice
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	c, _ := net.Dial("udp", addr(t, s, transport.UDP))
	defer c.Close()

	// No credentials: 401 offering SHA-256 and MD5.
	req := registerReq(c, "alice", 1, "reg1")
	resp := send(t, c, req)
	if resp.StatusCode != 401 {
		t.Fatalf("got %d, want 401", resp.StatusCode)
	}
	var algs []string
	for v := range resp.Values("WWW-Authenticate") {
		algs = append(algs, v)
	}
	if len(algs) != 2 || !strings.Contains(algs[0], "SHA-256") || !strings.Contains(algs[1], "MD5") {
		t.Fatalf("challenges %q", algs)
	}

	// Wrong password and unknown user get the same kind of answer.
	for _, who := range []struct{ user, pw string }{{"alice", "nope"}, {"mallory", "x"}} {
		bad := registerReq(c, who.user, 2, "bad"+who.user)
		if err := auth.NewClient(who.user, who.pw).Authorize(bad, resp); err != nil {
			t.Fatal(err)
		}
		if r := send(t, c, bad); r.StatusCode != 401 {
			t.Fatalf("%s: got %d, want 401", who.user, r.StatusCode)
		}
	}

	// Right credentials: 200 listing the binding.
	cl := auth.NewClient("alice", "wonderland")
	req = registerReq(c, "alice", 2, "reg1")
	if err := cl.Authorize(req, resp); err != nil {
		t.Fatal(err)
	}
	ok := send(t, c, req)
	if ok.StatusCode != 200 {
		t.Fatalf("got %d %s, want 200", ok.StatusCode, ok.Reason)
	}
	n := 0
	for a, err := range ok.Contacts() {
		if err != nil {
			t.Fatal(err)
		}
		if e, _ := a.Param("expires"); e == "" {
			t.Errorf("contact %s without expires", a.String())
		}
		n++
	}
	if n != 1 {
		t.Fatalf("%d contacts in 200", n)
	}

	// Alice's credentials cannot register bob.
	steal := registerReq(c, "bob", 3, "steal")
	if err := auth.NewClient("alice", "wonderland").Authorize(steal, resp); err != nil {
		t.Fatal(err)
	}
	if r := send(t, c, steal); r.StatusCode != 403 && r.StatusCode != 401 {
		t.Fatalf("registering bob as alice: got %d", r.StatusCode)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	// Restart on the same data: the registration is still there.
	s2, err := New(digestConfig(t, data, "udp:127.0.0.1:0"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Shutdown(shutdownCtx())
	bs, err := s2.Store().Lookup(ctx, "sip:alice@example.test")
	if err != nil || len(bs) != 1 {
		t.Fatalf("after restart: %d bindings, %v", len(bs), err)
	}
}

// TestRegisterAtServerAddress: a phone that registers with the server's
// address as its domain (sip:alice@127.0.0.1) is alice of the domain: the
// binding is kept under sip:alice@example.test, where calls find it.
func TestRegisterAtServerAddress(t *testing.T) {
	s, _ := startGuarded(t)
	c, _ := net.Dial("udp", addr(t, s, transport.UDP))
	defer c.Close()
	at := func(cseq int) *sip.Request {
		req := registerReq(c, "alice", cseq, "reg-at-ip")
		req.URI, _ = sip.ParseURI("sip:127.0.0.1")
		req.Set("To", "<sip:alice@127.0.0.1>")
		req.Set("From", "<sip:alice@127.0.0.1>;tag=ip1")
		return req
	}
	ch := send(t, c, at(1))
	if ch.StatusCode != 401 {
		t.Fatalf("got %d, want 401", ch.StatusCode)
	}
	req := at(2)
	if err := auth.NewClient("alice", "wonderland").Authorize(req, ch); err != nil {
		t.Fatal(err)
	}
	if r := send(t, c, req); r.StatusCode != 200 {
		t.Fatalf("got %d %s, want 200", r.StatusCode, r.Reason)
	}
	if n := lookup(t, s, "sip:alice@example.test"); n != 1 {
		t.Fatalf("sip:alice@example.test has %d bindings, want 1", n)
	}
}

// TestNonceAcrossNodesAndRestarts: nodes that share `secret` accept each
// other's digest nonces; a node's own secret (DATA/secret) keeps its
// challenges good across a restart.
func TestNonceAcrossNodesAndRestarts(t *testing.T) {
	start := func(cfg *config.Config) *Server {
		s, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		return s
	}
	challengeThenAnswer := func(a, b *Server, call string) int {
		c, _ := net.Dial("udp", addr(t, a, transport.UDP))
		defer c.Close()
		ch := send(t, c, registerReq(c, "alice", 1, call))
		if ch.StatusCode != 401 {
			t.Fatalf("got %d, want 401", ch.StatusCode)
		}
		c2, _ := net.Dial("udp", addr(t, b, transport.UDP))
		defer c2.Close()
		req := registerReq(c2, "alice", 2, call)
		if err := auth.NewClient("alice", "wonderland").Authorize(req, ch); err != nil {
			t.Fatal(err)
		}
		return send(t, c2, req).StatusCode
	}
	cfg1 := digestConfig(t, t.TempDir(), "udp:127.0.0.1:0")
	cfg2 := digestConfig(t, t.TempDir(), "udp:127.0.0.1:0")
	cfg1.Secret, cfg2.Secret = "cluster-secret-0123456789", "cluster-secret-0123456789"
	n1, n2 := start(cfg1), start(cfg2)
	defer n1.Shutdown(shutdownCtx())
	defer n2.Shutdown(shutdownCtx())
	if code := challengeThenAnswer(n1, n2, "across"); code != 200 {
		t.Fatalf("nonce of node 1 answered at node 2: %d, want 200", code)
	}

	// One node, its own secret, restarted between challenge and answer.
	data := t.TempDir()
	a := start(digestConfig(t, data, "udp:127.0.0.1:0"))
	c, _ := net.Dial("udp", addr(t, a, transport.UDP))
	defer c.Close()
	ch := send(t, c, registerReq(c, "alice", 1, "restart"))
	if err := a.Shutdown(shutdownCtx()); err != nil {
		t.Fatal(err)
	}
	b := start(digestConfig(t, data, "udp:127.0.0.1:0"))
	defer b.Shutdown(shutdownCtx())
	c2, _ := net.Dial("udp", addr(t, b, transport.UDP))
	defer c2.Close()
	req := registerReq(c2, "alice", 2, "restart")
	if err := auth.NewClient("alice", "wonderland").Authorize(req, ch); err != nil {
		t.Fatal(err)
	}
	if r := send(t, c2, req); r.StatusCode != 200 {
		t.Fatalf("a challenge answered after a restart: %d %s, want 200", r.StatusCode, r.Reason)
	}
}
