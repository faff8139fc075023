package server

import (
	"context"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/internal/peertest"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/media"
)

// startDigestServer runs a server with digest auth, MD5 only (alice/wonderland,
// bob/builder in example.test) on UDP and TCP at 127.0.0.1:port, storing
// its data in data.
func startDigestServer(t *testing.T, data string, port int) *Server {
	t.Helper()
	a := "127.0.0.1:" + strconv.Itoa(port)
	cfg := digestConfig(t, data, "udp:"+a, "tcp:"+a)
	// baresip 1.0 (libre 1.x) gives up on a SHA-256 challenge ("Register:
	// Function not implemented") instead of answering the MD5 one after it.
	cfg.DigestAlgorithms = []string{"MD5"}
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	return s
}

// lookupPort returns the bindings of aor and whether one of them points
// at 127.0.0.1:port.
func lookupPort(t *testing.T, s *Server, aor string, port int) ([]location.Binding, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	bs, err := s.Store().Lookup(ctx, aor)
	if err != nil {
		t.Fatalf("Lookup(%s): %v", aor, err)
	}
	for _, b := range bs {
		if strings.Contains(b.Contact, "127.0.0.1:"+strconv.Itoa(port)) {
			return bs, true
		}
	}
	return bs, false
}

// decodedTone waits for baresip's dump of the audio it decoded and returns
// its dominant frequency, level and length.
func decodedTone(b *peertest.Baresip) (freq, level float64, length time.Duration) {
	var samples []int16
	peertest.WaitFor(3*time.Second, func() bool {
		p := b.DecodedWAV()
		if p == "" {
			return false
		}
		s, err := peertest.ReadWAV(p)
		samples = s
		return err == nil && len(s) >= 8000
	})
	freq, level = media.DominantFrequency(samples, 8000)
	return freq, level, time.Duration(len(samples)) * time.Second / 8000
}

// TestBaresipRegisterCallRestart is the acceptance test of the registrar,
// digest authentication and the forking proxy with a real peer: two
// baresip instances register with digest auth, alice over UDP and bob over
// TCP (so the proxy crosses transports), alice calls
// sip:bob@example.test through the server, bob answers automatically, the
// call lasts about 3 s with tones both ways (alice 1000 Hz, bob 600 Hz,
// checked in what each decoded), alice hangs up and both see the call
// end. Then the server restarts on the same data and still knows both
// registrations.
func TestBaresipRegisterCallRestart(t *testing.T) {
	peertest.Need(t, "baresip", "baresip-core")
	data := t.TempDir()
	port := peertest.FreePort(t)
	s := startDigestServer(t, data, port)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			s.Shutdown(shutdownCtx())
		}
	})
	proxy := "127.0.0.1:" + strconv.Itoa(port)

	alice := peertest.StartBaresip(t, peertest.BaresipConfig{User: "alice", Password: "wonderland", Domain: "example.test",
		Proxy: proxy, Tone: 1000, AnswerMode: "manual"})
	bob := peertest.StartBaresip(t, peertest.BaresipConfig{User: "bob", Password: "builder", Domain: "example.test",
		Proxy: proxy, Transport: "tcp", Tone: 600, AnswerMode: "auto"})
	for _, tc := range []struct {
		b         *peertest.Baresip
		transport string
	}{{alice, "UDP"}, {bob, "TCP"}} {
		b := tc.b
		if err := b.WaitRegistered(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		var bs []location.Binding
		if !peertest.WaitFor(2*time.Second, func() bool { _, ok := lookupPort(t, s, b.AOR, b.SIPPort); return ok }) {
			bs, _ = lookupPort(t, s, b.AOR, b.SIPPort)
			t.Fatalf("%s registered, but the store has %v", b.AOR, bs)
		}
		bs, _ = lookupPort(t, s, b.AOR, b.SIPPort)
		if len(bs) != 1 || bs[0].Transport != tc.transport {
			t.Errorf("%s: bindings %+v, want one over %s", b.AOR, bs, tc.transport)
		}
	}
	// A registration with digest auth means baresip answered a 401.
	if !strings.Contains(alice.Log(), "401 Unauthorized") {
		t.Errorf("alice was not challenged; log:\n%s", alice.Tail(40))
	}

	start := time.Now()
	alice.MustCommand("dial", "sip:bob@example.test")
	ea := alice.MustWaitEvent("CALL_ESTABLISHED", 10*time.Second)
	eb := bob.MustWaitEvent("CALL_ESTABLISHED", 5*time.Second)
	if ea.Direction != "outgoing" || eb.Direction != "incoming" || !strings.Contains(eb.PeerURI, "alice@example.test") {
		t.Errorf("established: alice %+v, bob %+v", ea, eb)
	}
	t.Logf("call set up in %v", time.Since(start).Round(time.Millisecond))
	time.Sleep(3 * time.Second)
	alice.MustCommand("hangup", "")
	alice.MustWaitEvent("CALL_CLOSED", 5*time.Second)
	cb := bob.MustWaitEvent("CALL_CLOSED", 5*time.Second)
	t.Logf("call lasted %v; bob's close: %q", cb.At.Sub(eb.At).Round(time.Millisecond), cb.Param)

	for _, tc := range []struct {
		who  *peertest.Baresip
		want float64
	}{{bob, 1000}, {alice, 600}} {
		f, level, length := decodedTone(tc.who)
		t.Logf("%s decoded %v: %v Hz at level %.0f", tc.who.AOR, length.Round(10*time.Millisecond), f, level)
		if math.Abs(f-tc.want) > 30 || level < 2000 || length < 2*time.Second {
			t.Errorf("%s heard %v Hz at level %.0f for %v, want %v Hz at level ≥2000 for ≥2s; log:\n%s",
				tc.who.AOR, f, level, length, tc.want, tc.who.Tail(60))
		}
	}

	// Registrations survive a restart on the same data.
	if err := s.Shutdown(shutdownCtx()); err != nil {
		t.Fatal(err)
	}
	stopped = true
	s2 := startDigestServer(t, data, port)
	defer s2.Shutdown(shutdownCtx())
	for _, b := range []*peertest.Baresip{alice, bob} {
		if bs, ok := lookupPort(t, s2, b.AOR, b.SIPPort); !ok {
			t.Errorf("after restart %s has %v, want a binding at port %d", b.AOR, bs, b.SIPPort)
		}
	}
	// Stopped with SIGTERM, baresip de-registers through the restarted
	// server (bob over a new TCP connection).
	for _, b := range []*peertest.Baresip{alice, bob} {
		st := time.Now()
		b.Stop()
		gone := peertest.WaitFor(2*time.Second, func() bool { _, ok := lookupPort(t, s2, b.AOR, b.SIPPort); return !ok })
		if bs, _ := lookupPort(t, s2, b.AOR, b.SIPPort); !gone {
			t.Errorf("%s still has %v after baresip stopped (de-registered)", b.AOR, bs)
		}
		t.Logf("%s stopped in %v", b.AOR, time.Since(st).Round(time.Millisecond))
	}
}
