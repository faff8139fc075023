package main

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/internal/peertest"
	"github.com/parley-sip/parley/server"
)

// starterServer is `parley serve` run as a new user first runs it.
type starterServer struct {
	addr string         // HOST:PORT of its UDP and TCP listeners
	cfg  *config.Config // the starter config as serve wrote and loaded it
	srv  *server.Server
	out  *syncBuffer // serve's stdout (the welcome text)
}

// password returns the demo user's password from the starter config.
func (s *starterServer) password(t *testing.T, user string) string {
	t.Helper()
	for _, u := range s.cfg.Users {
		if u.Name == user {
			return u.Password
		}
	}
	t.Fatalf("the starter config has no user %q: %v", user, s.cfg.Users)
	return ""
}

// bindings returns how many contacts aor has in the server's store.
func (s *starterServer) bindings(t *testing.T, aor string) int {
	t.Helper()
	bs, err := s.srv.Store().Lookup(peertest.Context(t, 5*time.Second), aor)
	if err != nil {
		t.Fatalf("Lookup(%s): %v", aor, err)
	}
	return len(bs)
}

// welcomeCommand returns the arguments after "parley phone" of the
// example command line the welcome text gives for cmd ("answer", "call").
func (s *starterServer) welcomeCommand(t *testing.T, cmd string) []string {
	t.Helper()
	for line := range strings.Lines(s.out.String()) {
		if _, rest, ok := strings.Cut(line, "parley phone "+cmd+" "); ok {
			return append([]string{cmd}, strings.Fields(rest)...)
		}
	}
	t.Fatalf("the welcome text has no parley phone %s line:\n%s", cmd, s.out.String())
	return nil
}

// startStarter runs `parley serve` in process with no config and an empty
// data directory, so that it writes its starter config and runs it, as on
// a first start; only the listen addresses are moved to a free port, with
// --listen, since 5060 may be taken. Everything else — the domain, the
// digest algorithms, the demo users — is the file as it comes.
func startStarter(t *testing.T) *starterServer {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "parley-data")
	addr := "127.0.0.1:" + strconv.Itoa(peertest.FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *server.Server, 1)
	done := make(chan int, 1)
	out, errb := &syncBuffer{}, &syncBuffer{}
	go func() {
		done <- serveContext(ctx, []string{"--data", dir, "--listen", "udp:" + addr + ",tcp:" + addr}, out, errb,
			func(s *server.Server) { ready <- s })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Errorf("parley serve did not stop")
		}
	})
	var srv *server.Server
	select {
	case srv = <-ready:
	case code := <-done:
		t.Fatalf("parley serve exited %d:\n%s\n%s", code, out.String(), errb.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("parley serve did not start:\n%s\n%s", out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "first start: wrote") {
		t.Fatalf("parley serve did not write a starter config:\n%s", out.String())
	}
	// Loaded from the file serve wrote, exactly as serve loads it.
	cfg, err := config.Load(filepath.Join(dir, config.StarterName))
	if err != nil {
		t.Fatalf("the starter config does not load: %v", err)
	}
	return &starterServer{addr: addr, cfg: cfg, srv: srv, out: out}
}

// TestStarterBaresip: Debian's baresip 1.0, configured as the welcome text
// says (account sip:alice@example.test, the printed password, the server as
// outbound proxy), registers with the starter config over UDP and TCP.
// baresip 1.0 gives up when a challenge offers SHA-256, so this fails when
// the starter offers it.
func TestStarterBaresip(t *testing.T) {
	peertest.Need(t, "baresip", "baresip-core")
	s := startStarter(t)
	for _, tc := range []struct{ user, transport string }{{"alice", "udp"}, {"bob", "tcp"}} {
		b := peertest.StartBaresip(t, peertest.BaresipConfig{User: tc.user, Password: s.password(t, tc.user),
			Domain: s.cfg.Domain, Proxy: s.addr, Transport: tc.transport})
		if err := b.WaitRegistered(10 * time.Second); err != nil {
			t.Fatalf("baresip %s over %s with the starter config: %v\nchallenges offered: %v", tc.user, tc.transport, err, s.cfg.DigestAlgorithms)
		}
		aor := "sip:" + tc.user + "@" + s.cfg.Domain
		if n := s.bindings(t, aor); n != 1 {
			t.Errorf("%s has %d bindings after baresip registered, want 1", aor, n)
		}
	}
}

// TestStarterSIPpDigestRegister: SIPp 3.6.1's digest REGISTER (it answers
// only the first challenge, and only MD5) registers with the starter config;
// a wrong password is still refused.
func TestStarterSIPpDigestRegister(t *testing.T) {
	sipp := peertest.Need(t, "sipp", "sip-tester")
	s := startStarter(t)
	domain := s.cfg.Domain
	const calls = 3
	run := peertest.SIPp{
		Scenario: "register_digest_uac", Transport: "u1", Target: s.addr,
		LocalPort: peertest.FreePort(t), Calls: calls, Rate: 10, Timeout: 20 * time.Second,
		Extra: []string{"-s", "alice", "-au", "alice", "-ap", s.password(t, "alice"), "-auth_uri", domain,
			"-key", "domain", domain, "-key", "expires", "600"},
	}
	res := run.Run(t, sipp)
	if res.ExitCode != 0 || res.Successful != calls || res.Failed != 0 {
		t.Fatalf("SIPp digest REGISTER with the starter config (challenges %v): %s\n%s\n%s",
			s.cfg.DigestAlgorithms, res, peertest.Tail(res.Output, 20), res.Errors())
	}
	if n := s.bindings(t, "sip:alice@"+domain); n != 1 {
		t.Errorf("alice has %d bindings, want 1", n)
	}

	run.Extra = []string{"-default_behaviors", "abortunexp", "-s", "bob", "-au", "bob", "-ap", "wrong",
		"-auth_uri", domain, "-key", "domain", domain, "-key", "expires", "600"}
	run.Calls = 1
	run.LocalPort = peertest.FreePort(t)
	if res := run.Run(t, sipp); res.Successful != 0 || res.Failed != 1 {
		t.Fatalf("wrong password: %s, want the REGISTER refused", res)
	}
	if n := s.bindings(t, "sip:bob@"+domain); n != 0 {
		t.Errorf("bob has %d bindings after a wrong password, want 0", n)
	}
}
