package server

import (
	"context"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/internal/peertest"
	"github.com/parley-sip/parley/pbx/cdr"
)

// startPBXServer runs a digest-auth server (alice/wonderland, bob/builder,
// MD5 for baresip) with the PBX on and its relay on a free port range of
// its own; edit may change the config before it starts.
func startPBXServer(t *testing.T, port int, edit func(*config.Config)) *Server {
	t.Helper()
	a := "127.0.0.1:" + strconv.Itoa(port)
	cfg := digestConfig(t, t.TempDir(), "udp:"+a, "tcp:"+a)
	cfg.DigestAlgorithms = []string{"MD5"}
	on := true
	cfg.PBX.Enabled = &on
	lo, hi := peertest.FreePortRange(t, 64)
	cfg.Media.RTPPorts = config.PortRange{Lo: lo, Hi: hi}
	if edit != nil {
		edit(cfg)
	}
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(shutdownCtx()) })
	return s
}

// lastCDR waits for the PBX's n-th record and returns the last n, oldest
// first.
func lastCDR(t *testing.T, s *Server, n int) []cdr.Record {
	t.Helper()
	var rs []cdr.Record
	peertest.WaitFor(5*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := s.cdr.Flush(ctx); err != nil {
			return false
		}
		var err error
		rs, err = s.cdr.Last(ctx, n)
		return err == nil && len(rs) >= n
	})
	if len(rs) < n {
		t.Fatalf("want %d call records, have %+v", n, rs)
	}
	return rs
}

func registered(t *testing.T, s *Server, bs ...*peertest.Baresip) {
	t.Helper()
	for _, b := range bs {
		if err := b.WaitRegistered(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		if !peertest.WaitFor(2*time.Second, func() bool { _, ok := lookupPort(t, s, b.AOR, b.SIPPort); return ok }) {
			t.Fatalf("%s registered, but the store does not have it", b.AOR)
		}
	}
}

func checkTone(t *testing.T, b *peertest.Baresip, want float64) {
	t.Helper()
	f, level, length := decodedTone(b)
	t.Logf("%s decoded %v: %v Hz at level %.0f", b.AOR, length.Round(10*time.Millisecond), f, level)
	if math.Abs(f-want) > 30 || level < 2000 || length < 2*time.Second {
		t.Errorf("%s heard %v Hz at level %.0f for %v, want %v Hz at level ≥2000 for ≥2s; log:\n%s",
			b.AOR, f, level, length, want, b.Tail(60))
	}
}

// TestBaresipCallThroughPBX: alice (UDP) calls bob (TCP) through the
// B2BUA with digest auth on; the media goes through Parley's relay (the
// phones' RTP reaches the relay's ports, counted there), tones are heard
// both ways, alice hangs up, both phones see the call end and a call
// record says who called whom, answered, ended by the caller. A second
// call is ended by bob (BYE from the callee).
func TestBaresipCallThroughPBX(t *testing.T) {
	peertest.Need(t, "baresip", "baresip-core")
	port := peertest.FreePort(t)
	s := startPBXServer(t, port, nil)
	proxy := "127.0.0.1:" + strconv.Itoa(port)
	alice := peertest.StartBaresip(t, peertest.BaresipConfig{User: "alice", Password: "wonderland", Domain: "example.test",
		Proxy: proxy, Tone: 1000, AnswerMode: "manual"})
	bob := peertest.StartBaresip(t, peertest.BaresipConfig{User: "bob", Password: "builder", Domain: "example.test",
		Proxy: proxy, Transport: "tcp", Tone: 600, AnswerMode: "auto"})
	registered(t, s, alice, bob)

	alice.MustCommand("dial", "sip:bob@example.test")
	ea := alice.MustWaitEvent("CALL_ESTABLISHED", 10*time.Second)
	eb := bob.MustWaitEvent("CALL_ESTABLISHED", 5*time.Second)
	if !strings.Contains(eb.PeerURI, "alice@example.test") {
		t.Errorf("bob sees the call from %q, want alice", eb.PeerURI)
	}
	_ = ea
	time.Sleep(3 * time.Second)
	st := s.relay.Stats()
	t.Logf("relay: %+v", st)
	if st.Streams < 1 || st.Packets < 200 {
		t.Errorf("relay has no stream or relayed few packets during the call: %+v", st)
	}
	alice.MustCommand("hangup", "")
	alice.MustWaitEvent("CALL_CLOSED", 5*time.Second)
	bob.MustWaitEvent("CALL_CLOSED", 5*time.Second)
	checkTone(t, bob, 1000)
	checkTone(t, alice, 600)

	r := lastCDR(t, s, 1)[0]
	t.Logf("CDR: %+v", r)
	if r.Caller != "alice" || r.Callee != "bob" || r.Dialled != "bob" || r.Disposition != cdr.Answered ||
		r.Cause.Side != cdr.SideCaller || !r.Anchored || r.Duration < 2*time.Second || len(r.CallIDs) != 2 {
		t.Errorf("record %+v, want alice → bob answered, anchored, ended by the caller after ≥2s, two Call-IDs", r)
	}
	if ps := s.relay.Stats(); ps.Streams != 0 {
		t.Errorf("relay streams left after the call: %+v", ps)
	}

	// Second call: bob hangs up.
	alice.MustCommand("dial", "sip:bob@example.test")
	alice.MustWaitEvent("CALL_ESTABLISHED", 10*time.Second)
	bob.MustWaitEvent("CALL_ESTABLISHED", 5*time.Second)
	time.Sleep(500 * time.Millisecond)
	bob.MustCommand("hangup", "")
	bob.MustWaitEvent("CALL_CLOSED", 5*time.Second)
	alice.MustWaitEvent("CALL_CLOSED", 5*time.Second)
	r = lastCDR(t, s, 2)[1]
	if r.Disposition != cdr.Answered || r.Cause.Side != cdr.SideCallee {
		t.Errorf("second record %+v, want answered, ended by the callee", r)
	}
}

// TestBaresipCancelReachesEveryDevice: bob has two phones; alice's call
// rings both through the PBX, alice gives up before anyone answers, and
// both of bob's phones stop ringing; the record says cancelled.
func TestBaresipCancelReachesEveryDevice(t *testing.T) {
	peertest.Need(t, "baresip", "baresip-core")
	port := peertest.FreePort(t)
	s := startPBXServer(t, port, nil)
	proxy := "127.0.0.1:" + strconv.Itoa(port)
	alice := peertest.StartBaresip(t, peertest.BaresipConfig{User: "alice", Password: "wonderland", Domain: "example.test",
		Proxy: proxy, AnswerMode: "manual"})
	bob1 := peertest.StartBaresip(t, peertest.BaresipConfig{User: "bob", Password: "builder", Domain: "example.test",
		Proxy: proxy, AnswerMode: "manual"})
	bob2 := peertest.StartBaresip(t, peertest.BaresipConfig{User: "bob", Password: "builder", Domain: "example.test",
		Proxy: proxy, Transport: "tcp", AnswerMode: "manual"})
	registered(t, s, alice, bob1, bob2)

	alice.MustCommand("dial", "sip:bob@example.test")
	bob1.MustWaitEvent("CALL_INCOMING", 10*time.Second)
	bob2.MustWaitEvent("CALL_INCOMING", 10*time.Second)
	alice.MustWaitEvent("CALL_RINGING", 5*time.Second)
	alice.MustCommand("hangup", "")
	alice.MustWaitEvent("CALL_CLOSED", 5*time.Second)
	bob1.MustWaitEvent("CALL_CLOSED", 5*time.Second)
	bob2.MustWaitEvent("CALL_CLOSED", 5*time.Second)
	r := lastCDR(t, s, 1)[0]
	if r.Disposition != cdr.Cancelled || r.Cause.Code != 487 || len(r.CallIDs) != 3 {
		t.Errorf("record %+v, want cancelled (487) with the caller's and two callee Call-IDs", r)
	}
}
