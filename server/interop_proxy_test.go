package server

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/internal/peertest"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// The tests in this file run SIPp against the whole server — registrar,
// digest authentication, location store and forking proxy — started in
// process on free loopback ports with its data in a temp dir.

// startConfigured starts a server with cfg (listen and data filled in).
func startConfigured(t *testing.T, cfg *config.Config) *Server {
	t.Helper()
	cfg.Listen = []string{"udp:127.0.0.1:0"}
	if cfg.Data == "" {
		cfg.Data = t.TempDir()
	}
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Shutdown(shutdownCtx()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

// labConfig is a server for example.test without authentication.
func labConfig(t *testing.T) *config.Config {
	cfg := config.Default()
	cfg.Data = t.TempDir()
	cfg.Auth = "none"
	return cfg
}

// writeUsers writes a SIPp injection file with one user per line.
func writeUsers(t *testing.T, users ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.csv")
	text := "SEQUENTIAL\n" + strings.Join(users, "\n") + "\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// failSIPp fails the test with SIPp's result, error log and, when
// traced, the end of its message log.
func failSIPp(t *testing.T, what string, res peertest.Result) {
	t.Helper()
	msgs, _ := os.ReadFile(filepath.Join(res.Dir, "messages.log"))
	t.Fatalf("SIPp %s: %s\nerrors:\n%s\noutput:\n%s\nmessages:\n%s", what, res, res.Errors(),
		peertest.Tail(res.Output, 20), peertest.Tail(string(msgs), 80))
}

// sippRegister registers users from SIPp's port port (one REGISTER per
// user, each answered 200) with the register_uac scenario, so that a SIPp
// callee started later on that port is reachable at the binding.
func sippRegister(t *testing.T, sipp, target string, port, expires int, users ...string) {
	t.Helper()
	run := peertest.SIPp{
		Scenario: "register_uac", Transport: "u1", Target: target,
		LocalPort: port, Calls: len(users), Rate: 200, Timeout: 30 * time.Second,
		Extra: []string{"-inf", writeUsers(t, users...), "-key", "domain", "example.test",
			"-key", "expires", strconv.Itoa(expires), "-trace_msg", "-message_file", "messages.log"},
	}
	res := run.Run(t, sipp)
	if res.ExitCode != 0 || res.Successful != len(users) || res.Failed != 0 {
		failSIPp(t, "REGISTER", res)
	}
}

func lookup(t *testing.T, s *Server, aor string) int {
	t.Helper()
	bs, err := s.Store().Lookup(peertest.Context(t, 5*time.Second), aor)
	if err != nil {
		t.Fatal(err)
	}
	return len(bs)
}

// TestSIPpRegisterManyUsers: 200 distinct users from an injection file
// register without authentication; every REGISTER gets 200 and the store
// holds 200 bindings.
func TestSIPpRegisterManyUsers(t *testing.T) {
	sipp := peertest.Need(t, "sipp", "sip-tester")
	s := startConfigured(t, labConfig(t))
	users := make([]string, 200)
	for i := range users {
		users[i] = "user" + strconv.Itoa(i)
	}
	sippRegister(t, sipp, addr(t, s, transport.UDP), peertest.FreePort(t), 600, users...)
	n, err := s.Store().Count(peertest.Context(t, 5*time.Second))
	if err != nil || n != 200 {
		t.Fatalf("store holds %d bindings (%v), want 200", n, err)
	}
	for _, u := range []string{"user0", "user199"} {
		if lookup(t, s, "sip:"+u+"@example.test") != 1 {
			t.Errorf("%s has no binding", u)
		}
	}
}

// TestSIPpRegisterDigest: with digest authentication SIPp answers the 401
// with its [authentication] (-au/-ap) and is registered; a wrong password
// is refused.
//
// SIPp 3.6.1 answers only the first challenge and fails on anything but
// MD5 ("createAuthHeader: authentication must use MD5 or AKAv1-MD5").
// Two ways through: digest_algorithms [SHA-256, MD5] with a relay that
// hides the SHA-256 challenge from SIPp (as an old phone behind an ALG, or
// an attacker on the path, would see them: the MD5 answer is accepted),
// and the default, MD5 alone, talked to directly.
func TestSIPpRegisterDigest(t *testing.T) {
	sipp := peertest.Need(t, "sipp", "sip-tester")
	for _, tc := range []struct {
		name  string
		algs  []string
		relay bool
	}{
		{"sha256-first-sha256-hidden", []string{"SHA-256", "MD5"}, true},
		{"default-md5", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Data = t.TempDir()
			cfg.Users = []config.User{{Name: "alice", Password: "secret"}, {Name: "bob", Password: "builder"}}
			cfg.DigestAlgorithms = tc.algs
			s := startConfigured(t, cfg)
			target := addr(t, s, transport.UDP)
			if tc.relay {
				target = startMD5OnlyRelay(t, target)
			}
			const calls = 5
			run := peertest.SIPp{
				Scenario: "register_digest_uac", Transport: "u1", Target: target,
				LocalPort: peertest.FreePort(t), Calls: calls, Rate: 50, Timeout: 30 * time.Second,
				Extra: []string{"-s", "alice", "-au", "alice", "-ap", "secret", "-auth_uri", "example.test", "-key", "domain", "example.test",
					"-key", "expires", "600", "-trace_msg", "-message_file", "messages.log"},
			}
			res := run.Run(t, sipp)
			if res.ExitCode != 0 || res.Successful != calls || res.Failed != 0 {
				failSIPp(t, "digest REGISTER", res)
			}
			// Each call registered the same contact under a new Call-ID: one binding.
			if n := lookup(t, s, "sip:alice@example.test"); n != 1 {
				t.Fatalf("alice has %d bindings, want 1", n)
			}

			// A wrong password is refused: SIPp's second REGISTER gets 401
			// again, which the scenario does not expect, so the call fails.
			// (Without SIPp's default BYE on failure, which the proxy would
			// forward to the contact of the run before.)
			run.Extra = []string{"-default_behaviors", "abortunexp", "-s", "alice", "-au", "alice", "-ap", "wrong", "-auth_uri", "example.test", "-key", "domain", "example.test",
				"-key", "expires", "600"}
			run.Calls = 1
			run.LocalPort = peertest.FreePort(t)
			res = run.Run(t, sipp)
			if res.Successful != 0 || res.Failed != 1 {
				t.Fatalf("wrong password: %s, want the call to fail", res)
			}
		})
	}
}

// TestSIPpRegisterRefreshAndExpiry: a registration of 2 s is refreshed
// once (same Call-ID, next CSeq); the refreshed binding is held, then
// expires and disappears from Lookup.
func TestSIPpRegisterRefreshAndExpiry(t *testing.T) {
	sipp := peertest.Need(t, "sipp", "sip-tester")
	cfg := labConfig(t)
	cfg.Registrar.MinExpires = 1
	s := startConfigured(t, cfg)
	run := peertest.SIPp{
		Scenario: "register_refresh_uac", Transport: "u1", Target: addr(t, s, transport.UDP),
		LocalPort: peertest.FreePort(t), Calls: 1, Timeout: 20 * time.Second,
		Extra: []string{"-inf", writeUsers(t, "carol"), "-key", "domain", "example.test",
			"-key", "expires", "2", "-trace_msg", "-message_file", "messages.log"},
	}
	res := run.Run(t, sipp)
	if res.ExitCode != 0 || res.Successful != 1 {
		failSIPp(t, "REGISTER refresh", res)
	}
	refreshed := time.Now()
	bs, err := s.Store().Lookup(peertest.Context(t, 5*time.Second), "sip:carol@example.test")
	if err != nil || len(bs) != 1 {
		t.Fatalf("after the refresh: %d bindings, %v", len(bs), err)
	}
	if b := bs[0]; b.CSeq != 2 || b.Expires.Before(refreshed) {
		t.Fatalf("binding not refreshed: CSeq %d, expires %v (now %v)", b.CSeq, b.Expires, refreshed)
	}
	// Expires 2 s after the refresh: gone within a few seconds.
	if !peertest.WaitFor(5*time.Second, func() bool { return lookup(t, s, "sip:carol@example.test") == 0 }) {
		t.Fatalf("binding still held %v after a 2 s refresh", time.Since(refreshed))
	}
	if time.Since(refreshed) < time.Second {
		t.Fatalf("binding gone %v after a 2 s refresh: expired too early", time.Since(refreshed))
	}
	n, err := s.Store().Count(peertest.Context(t, 5*time.Second))
	if err != nil || n != 0 {
		t.Fatalf("Count = %d, %v after expiry", n, err)
	}
}

// sippDevice is a SIPp callee registered as bob.
type sippDevice struct {
	name string
	port int
	proc *peertest.Process
	dir  string
}

// startDevice registers bob from a free port with SIPp, then starts the
// callee scenario on that same port.
func startDevice(t *testing.T, sipp, target, scenario string, calls int) *sippDevice {
	t.Helper()
	port := peertest.FreePort(t)
	sippRegister(t, sipp, target, port, 600, "bob")
	run := peertest.SIPp{Scenario: scenario, Transport: "u1", LocalPort: port, Calls: calls, Timeout: 60 * time.Second,
		Extra: []string{"-trace_msg", "-message_file", "messages.log"}}
	proc, dir := run.Start(t, sipp)
	d := &sippDevice{name: fmt.Sprintf("%s:%d", scenario, port), port: port, proc: proc, dir: dir}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "messages.log"))
			e, _ := os.ReadFile(filepath.Join(dir, "errors.log"))
			t.Logf("SIPp device %s errors:\n%s\nmessages:\n%s", d.name, peertest.Tail(string(e), 20), peertest.Tail(string(b), 60))
		}
	})
	return d
}

func (d *sippDevice) wait(t *testing.T) {
	t.Helper()
	if err := d.proc.Wait(30 * time.Second); err != nil {
		e, _ := os.ReadFile(filepath.Join(d.dir, "errors.log"))
		t.Errorf("SIPp device %s: %v\n%s\nerrors:\n%s", d.name, err, peertest.Tail(d.proc.Output(), 20), peertest.Tail(string(e), 20))
	}
}

// sippMessage is one message from a SIPp -trace_msg log.
type sippMessage struct {
	sent bool
	text string
}

// first returns the start line.
func (m sippMessage) first() string { return strings.SplitN(m.text, "\n", 2)[0] }

// header returns every value of a header (long names only).
func (m sippMessage) header(name string) []string {
	var out []string
	for _, l := range strings.Split(m.text, "\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

// readSIPpMessages splits a SIPp message log into messages.
func readSIPpMessages(t *testing.T, dir string) []sippMessage {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "messages.log"))
	if err != nil {
		t.Fatal(err)
	}
	var out []sippMessage
	var cur *sippMessage
	for _, l := range strings.Split(strings.ReplaceAll(string(data), "\r", ""), "\n") {
		switch {
		case strings.HasPrefix(l, "-----------"):
			cur = nil
		case cur == nil && strings.Contains(l, "message sent"):
			out = append(out, sippMessage{sent: true})
			cur = &out[len(out)-1]
		case cur == nil && strings.Contains(l, "message received"):
			out = append(out, sippMessage{})
			cur = &out[len(out)-1]
		case cur != nil && (cur.text != "" || l != ""):
			cur.text += l + "\n"
		}
	}
	return out
}

// runCallerVia runs the SIPp caller for sip:bob@example.test through the
// server and checks every call completed.
func runCallerVia(t *testing.T, sipp string, s *Server, calls int) peertest.Result {
	t.Helper()
	time.Sleep(300 * time.Millisecond) // let the callees bind
	uac := peertest.SIPp{
		Scenario: "uac_call_via_proxy", Transport: "u1", Target: addr(t, s, transport.UDP),
		LocalPort: peertest.FreePort(t), Calls: calls, Rate: 10, Timeout: 60 * time.Second,
		Extra: []string{"-s", "bob", "-trace_msg", "-message_file", "messages.log"},
	}
	res := uac.Run(t, sipp)
	if res.ExitCode != 0 || res.Successful != calls || res.Failed != 0 {
		failSIPp(t, "caller", res)
	}
	return res
}

// TestSIPpCallThroughServer: bob registers from a SIPp callee's port;
// SIPp calls sip:bob@example.test through the server 20 times (INVITE,
// 100, 180, 200, ACK, BYE). The server Record-Routes, the caller sends ACK
// and BYE with the route set, and they reach the callee through the proxy.
func TestSIPpCallThroughServer(t *testing.T) {
	sipp := peertest.Need(t, "sipp", "sip-tester")
	const calls = 20
	cfg := labConfig(t)
	off := false
	cfg.PBX.Enabled = &off // the plain proxy: its Record-Route and Vias are checked
	s := startConfigured(t, cfg)
	target := addr(t, s, transport.UDP)
	callee := startDevice(t, sipp, target, "uas_answer", calls)
	caller := runCallerVia(t, sipp, s, calls)
	callee.wait(t)

	rr := "@" + target + ";" // the server's address, after its flow token
	var got200, acks, byes int
	for _, m := range readSIPpMessages(t, caller.Dir) {
		switch {
		case !m.sent && strings.HasPrefix(m.first(), "SIP/2.0 200") && strings.Contains(strings.Join(m.header("CSeq"), ""), "INVITE"):
			got200++
			if r := m.header("Record-Route"); len(r) != 1 || !strings.Contains(r[0], rr) {
				t.Fatalf("200 for INVITE carries Record-Route %q, want the server's (%s...)", r, rr)
			}
		case m.sent && (strings.HasPrefix(m.first(), "ACK ") || strings.HasPrefix(m.first(), "BYE ")):
			if r := m.header("Route"); len(r) != 1 || !strings.Contains(r[0], rr) {
				t.Fatalf("caller's %s has Route %q, want the server's Record-Route", m.first(), r)
			}
		}
	}
	// The callee received ACK and BYE from the proxy: two Vias, the
	// server's on top.
	for _, m := range readSIPpMessages(t, callee.dir) {
		if m.sent {
			continue
		}
		isAck, isBye := strings.HasPrefix(m.first(), "ACK "), strings.HasPrefix(m.first(), "BYE ")
		if !isAck && !isBye {
			continue
		}
		vias := m.header("Via")
		if len(vias) != 2 || !strings.Contains(vias[0], target) {
			t.Fatalf("callee got %s with Via %q, want the proxy's on top", m.first(), vias)
		}
		if isAck {
			acks++
		} else {
			byes++
		}
	}
	if got200 < calls || acks < calls || byes != calls {
		t.Fatalf("caller saw %d 200s for INVITE; callee got %d ACKs and %d BYEs through the proxy, want %d each", got200, acks, byes, calls)
	}
	t.Logf("caller: %s; callee got %d ACKs and %d BYEs through the proxy", caller, acks, byes)
}

// TestSIPpForkToThreeRegisteredDevices: bob registers three devices with
// equal q. Each call forks to all three: one answers, the proxy cancels
// the two ringing ones (CANCEL, 200, 487, ACK) and the caller completes
// the call.
func TestSIPpForkToThreeRegisteredDevices(t *testing.T) {
	sipp := peertest.Need(t, "sipp", "sip-tester")
	const calls = 5
	s := startConfigured(t, labConfig(t))
	target := addr(t, s, transport.UDP)
	ring1 := startDevice(t, sipp, target, "uas_ring", calls)
	answer := startDevice(t, sipp, target, "uas_answer", calls)
	ring2 := startDevice(t, sipp, target, "uas_ring", calls)
	if n := lookup(t, s, "sip:bob@example.test"); n != 3 {
		t.Fatalf("bob has %d bindings, want 3", n)
	}
	runCallerVia(t, sipp, s, calls)
	for _, d := range []*sippDevice{answer, ring1, ring2} {
		d.wait(t)
	}
	for _, d := range []*sippDevice{ring1, ring2} {
		cancels := 0
		for _, m := range readSIPpMessages(t, d.dir) {
			if !m.sent && strings.HasPrefix(m.first(), "CANCEL ") {
				cancels++
			}
		}
		if cancels != calls {
			t.Errorf("ringing device %s got %d CANCELs, want %d", d.name, cancels, calls)
		}
	}
}

// inviteFrom builds an INVITE for ruri from the UDP socket c.
func inviteFrom(c net.Conn, ruri, from string, cseq int, callID string) *sip.Request {
	local := c.LocalAddr().String()
	uri, _ := sip.ParseURI(ruri)
	req := sip.NewRequest(sip.INVITE, uri)
	req.Add("Via", "SIP/2.0/UDP "+local+";branch=z9hG4bKinv"+strconv.Itoa(cseq)+callID+";rport")
	req.Add("Max-Forwards", "70")
	req.Add("To", "<"+ruri+">")
	req.Add("From", "<"+from+">;tag=f"+callID)
	req.Add("Call-ID", callID)
	req.Add("CSeq", strconv.Itoa(cseq)+" INVITE")
	req.Add("Contact", "<sip:caller@"+local+">")
	return req
}

// ackFor sends the ACK for a non-2xx final response to inv (§17.1.1.3).
func ackFor(t *testing.T, c net.Conn, inv *sip.Request, resp *sip.Response) {
	t.Helper()
	ack := sip.NewRequest(sip.ACK, inv.URI)
	v, _ := inv.Get("Via")
	ack.Add("Via", v)
	ack.Add("Max-Forwards", "70")
	to, _ := resp.Get("To")
	ack.Add("To", to)
	f, _ := inv.Get("From")
	ack.Add("From", f)
	id, _ := inv.Get("Call-ID")
	ack.Add("Call-ID", id)
	cseq, _ := inv.CSeq()
	ack.Add("CSeq", strconv.Itoa(int(cseq.Seq))+" ACK")
	if _, err := c.Write([]byte(ack.String())); err != nil {
		t.Fatal(err)
	}
}

// TestUnknownAndUnregisteredUsers: with digest authentication and a users
// list, a call for a user that does not exist gets 404 and one for a
// known user without a registration 480 — from another domain (not
// challenged) and from alice after answering the 407.
func TestUnknownAndUnregisteredUsers(t *testing.T) {
	cfg := config.Default()
	cfg.Data = t.TempDir()
	cfg.Users = []config.User{{Name: "alice", Password: "secret"}, {Name: "bob", Password: "builder"}}
	s := startConfigured(t, cfg)
	c, err := net.Dial("udp", addr(t, s, transport.UDP))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, tc := range []struct {
		to     string
		status int
	}{{"mallory", 404}, {"bob", 480}} {
		id := "unk" + strconv.Itoa(i)
		inv := inviteFrom(c, "sip:"+tc.to+"@example.test", "sip:someone@elsewhere.test", 1, id)
		resp := send(t, c, inv)
		ackFor(t, c, inv, resp)
		if resp.StatusCode != tc.status {
			t.Errorf("INVITE %s from another domain: %d %s, want %d", tc.to, resp.StatusCode, resp.Reason, tc.status)
		}

		// From alice: challenged first, then the same answer.
		id = "alice" + strconv.Itoa(i)
		inv = inviteFrom(c, "sip:"+tc.to+"@example.test", "sip:alice@example.test", 1, id)
		chal := send(t, c, inv)
		ackFor(t, c, inv, chal)
		if chal.StatusCode != 407 {
			t.Fatalf("INVITE from alice without credentials: %d, want 407", chal.StatusCode)
		}
		inv = inviteFrom(c, "sip:"+tc.to+"@example.test", "sip:alice@example.test", 2, id)
		if err := auth.NewClient("alice", "secret").Authorize(inv, chal); err != nil {
			t.Fatal(err)
		}
		resp = send(t, c, inv)
		ackFor(t, c, inv, resp)
		if resp.StatusCode != tc.status {
			t.Errorf("INVITE %s from alice (authenticated): %d %s, want %d", tc.to, resp.StatusCode, resp.Reason, tc.status)
		}
	}
}

// startMD5OnlyRelay relays UDP between one client and server, removing
// the SHA-256 WWW-Authenticate and Proxy-Authenticate values from what the
// server sends, for clients that can only answer the first challenge and
// only with MD5 (SIPp 3.6.1). It returns the address clients send to.
func startMD5OnlyRelay(t *testing.T, server string) string {
	t.Helper()
	srv, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	front, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	back, err := net.DialUDP("udp", nil, srv)
	if err != nil {
		front.Close()
		t.Fatal(err)
	}
	var client atomic.Pointer[net.UDPAddr]
	done := make(chan struct{}, 2)
	go func() {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 65536)
		for {
			n, from, err := front.ReadFromUDP(buf)
			if err != nil {
				return
			}
			client.Store(from)
			back.Write(buf[:n])
		}
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 65536)
		for {
			n, err := back.Read(buf)
			if err != nil {
				return
			}
			if to := client.Load(); to != nil {
				front.WriteToUDP(dropSHA256Challenges(buf[:n]), to)
			}
		}
	}()
	t.Cleanup(func() {
		front.Close()
		back.Close()
		<-done
		<-done
	})
	return front.LocalAddr().String()
}

// dropSHA256Challenges removes challenge header lines naming SHA-256.
func dropSHA256Challenges(msg []byte) []byte {
	head, body, ok := strings.Cut(string(msg), "\r\n\r\n")
	if !ok {
		return msg
	}
	lines := strings.Split(head, "\r\n")
	out := lines[:0]
	for _, l := range lines {
		name, _, _ := strings.Cut(l, ":")
		name = strings.ToLower(strings.TrimSpace(name))
		if (name == "www-authenticate" || name == "proxy-authenticate") && strings.Contains(l, "SHA-256") {
			continue
		}
		out = append(out, l)
	}
	return []byte(strings.Join(out, "\r\n") + "\r\n\r\n" + body)
}
