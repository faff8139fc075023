package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/internal/peertest"
	"github.com/parley-sip/parley/media"
	"github.com/parley-sip/parley/server"
)

// baresipServe runs `parley serve` in process with a config file of its
// own: digest auth (MD5 only: baresip 1.0 cannot skip a SHA-256
// challenge), users alice, bob and carol in example.test, UDP and TCP on a
// free port. It returns the server's HOST:PORT.
func baresipServe(t *testing.T, extra ...string) string {
	t.Helper()
	addr, _ := baresipServer(t, extra...)
	return addr
}

// baresipServer is baresipServe returning the server too; extra are YAML
// lines added to the config.
func baresipServer(t *testing.T, extra ...string) (string, *server.Server) {
	t.Helper()
	dir := t.TempDir()
	addr := "127.0.0.1:" + strconv.Itoa(peertest.FreePort(t))
	cfg := fmt.Sprintf(`domain: example.test
auth: digest
digest_algorithms: [MD5]
users:
  - name: alice
    password: wonderland
  - name: bob
    password: builder
  - name: carol
    password: carolpw
data: %s
listen: ["udp:%s", "tcp:%s"]
`, filepath.Join(dir, "data"), addr, addr) + strings.Join(extra, "")
	path := filepath.Join(dir, "parley.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *server.Server, 1)
	done := make(chan int, 1)
	var out, errb syncBuffer
	go func() {
		done <- serveContext(ctx, []string{"--config", path}, &out, &errb, func(s *server.Server) { ready <- s })
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
		t.Fatal("parley serve did not start")
	}
	return addr, srv
}

// wavTone reads a WAV file and returns its dominant frequency, level and
// length.
func wavTone(t *testing.T, path string) (freq, level float64, length time.Duration) {
	t.Helper()
	s, err := peertest.ReadWAV(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	freq, level = media.DominantFrequency(s, 8000)
	return freq, level, time.Duration(len(s)) * time.Second / 8000
}

// checkTone fails the test unless the WAV file at path holds want Hz
// (±30 Hz) at a reasonable level for at least min.
func checkTone(t *testing.T, what, path string, want float64, min time.Duration) {
	t.Helper()
	f, level, length := wavTone(t, path)
	t.Logf("%s: %v Hz at level %.0f, %v recorded", what, f, level, length.Round(10*time.Millisecond))
	if math.Abs(f-want) > 30 || level < 2000 || length < min {
		t.Errorf("%s: %v Hz at level %.0f for %v, want %v Hz at level ≥2000 for ≥%v", what, f, level, length, want, min)
	}
}

// baresipDecoded waits for baresip's dump of what it decoded in its last
// call and returns its path.
func baresipDecoded(t *testing.T, b *peertest.Baresip) string {
	t.Helper()
	var path string
	peertest.WaitFor(3*time.Second, func() bool {
		path = b.DecodedWAV()
		if path == "" {
			return false
		}
		s, err := peertest.ReadWAV(path)
		return err == nil && len(s) >= 8000
	})
	if path == "" {
		t.Fatalf("baresip %s wrote no decoded dump in %s; log:\n%s", b.AOR, b.SndDir, b.Tail(40))
	}
	return path
}

// phoneRun runs `parley phone ARGS` in process in the background.
type phoneRun struct {
	stdout, stderr syncBuffer
	done           chan int
	start          time.Time
}

func startPhone(ctx context.Context, args ...string) *phoneRun {
	r := &phoneRun{done: make(chan int, 1), start: time.Now()}
	go func() { r.done <- phoneContext(ctx, args, &r.stdout, &r.stderr) }()
	return r
}

// wait returns the exit code, failing the test after d.
func (r *phoneRun) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case code := <-r.done:
		return code
	case <-time.After(d):
		t.Fatalf("parley phone still running after %v\nstdout:\n%s\nstderr:\n%s", d, r.stdout.String(), peertest.Tail(r.stderr.String(), 40))
		return -1
	}
}

func (r *phoneRun) String() string {
	return "stdout:\n" + r.stdout.String() + "stderr:\n" + peertest.Tail(r.stderr.String(), 40)
}

func (r *phoneRun) expect(t *testing.T, lines ...string) {
	t.Helper()
	o := r.stdout.String()
	for _, want := range lines {
		if !strings.Contains(o, want) {
			t.Errorf("parley phone output lacks %q:\n%s", want, o)
		}
	}
}

func rtpPorts(t *testing.T) string {
	lo, hi := peertest.FreePortRange(t, 20)
	return fmt.Sprintf("%d-%d", lo, hi)
}

// TestBaresipPhone is the acceptance test of the user agent and `parley
// phone` against a real peer, baresip, through `parley serve` with digest
// auth: calls in both directions with tones checked in both recordings,
// BYE from either side, CANCEL before answer, DTMF from baresip, and hold
// and resume by re-INVITE from baresip.
func TestBaresipPhone(t *testing.T) {
	peertest.Need(t, "baresip", "baresip-core")
	testBaresipPhone(t, baresipServe(t))
}

// TestBaresipPhoneThroughPBX is TestBaresipPhone with the PBX on: every
// call is two dialogs with the media relayed through Parley's ports, the
// CANCEL, DTMF, hold and resume carried across by the B2BUA.
func TestBaresipPhoneThroughPBX(t *testing.T) {
	peertest.Need(t, "baresip", "baresip-core")
	lo, hi := peertest.FreePortRange(t, 64)
	addr, srv := baresipServer(t, "pbx:\n  enabled: true\n", fmt.Sprintf("media:\n  rtp_ports: %d-%d\n", lo, hi))
	testBaresipPhone(t, addr)
	if st := srv.PBX().Stats(); st.Calls < 4 || st.Answered < 3 || st.Cancelled < 1 {
		t.Errorf("the PBX saw %+v, want the four calls (three answered, one cancelled)", st)
	}
}

func testBaresipPhone(t *testing.T, srv string) {
	dir := t.TempDir()
	tone1000 := filepath.Join(dir, "tone1000.wav")
	peertest.WriteToneWAV(t, tone1000, 1000, 10*time.Second)
	ctx := peertest.Context(t, 80*time.Second)

	// parley phone calls baresip (auto-answer, 600 Hz); parley's
	// --duration ends the call with its BYE.
	t.Run("call-to-baresip", func(t *testing.T) {
		bob := peertest.StartBaresip(t, peertest.BaresipConfig{User: "bob", Password: "builder", Domain: "example.test",
			Proxy: srv, Tone: 600, AnswerMode: "auto"})
		if err := bob.WaitRegistered(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "out.wav")
		r := startPhone(ctx, "call", "sip:bob@example.test", "--server", srv, "--domain", "example.test", "--user", "alice", "--password", "wonderland",
			"--play", tone1000, "--record", out, "--duration", "4s", "--rtp-ports", rtpPorts(t))
		est := bob.MustWaitEvent("CALL_ESTABLISHED", 10*time.Second)
		code := r.wait(t, 15*time.Second)
		if code != 0 {
			t.Fatalf("parley phone call: exit %d\n%s\nbaresip:\n%s", code, r, bob.Tail(40))
		}
		closed := bob.MustWaitEvent("CALL_CLOSED", 5*time.Second)
		t.Logf("baresip: established after %v, closed %v later (%q)", est.At.Sub(r.start).Round(time.Millisecond),
			closed.At.Sub(est.At).Round(time.Millisecond), closed.Param)
		r.expect(t, "registered sip:alice@example.test", "calling sip:bob@example.test", "answered", "hung up (local hangup)", "RTP: sent")
		checkTone(t, "parley recorded", out, 600, 3*time.Second)
		checkTone(t, "baresip decoded", baresipDecoded(t, bob), 1000, 3*time.Second)
		t.Logf("%s", lastLine(r.stdout.String(), "RTP:"))
	})

	// baresip (alice, 800 Hz) calls `parley phone answer` registered as
	// bob; baresip hangs up first. Before the call, MESSAGEs both ways:
	// baresip to the waiting parley phone, `parley phone message` (carol)
	// to baresip.
	t.Run("baresip-calls-answer", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out.wav")
		r := startPhone(ctx, "answer", "--server", srv, "--domain", "example.test", "--user", "bob", "--password", "builder",
			"--play", tone1000, "--record", out, "--wait", "20s", "--rtp-ports", rtpPorts(t))
		alice := peertest.StartBaresip(t, peertest.BaresipConfig{User: "alice", Password: "wonderland", Domain: "example.test",
			Proxy: srv, Tone: 800, Stdio: true, Contacts: []string{`"Bob" <sip:bob@example.test>`}})
		if !peertest.WaitFor(10*time.Second, func() bool { return strings.Contains(r.stdout.String(), "waiting for a call") }) {
			t.Fatalf("parley phone answer did not register:\n%s", r)
		}
		if err := alice.WaitRegistered(10 * time.Second); err != nil {
			t.Fatal(err)
		}

		alice.MustCommand("message", "hello parley")
		if !peertest.WaitFor(5*time.Second, func() bool {
			return strings.Contains(r.stdout.String(), "message from sip:alice@example.test: hello parley")
		}) {
			t.Errorf("parley phone answer did not print baresip's MESSAGE:\n%s\nbaresip:\n%s", r, alice.Tail(40))
		}
		var mOut, mErr syncBuffer
		if code := phoneContext(ctx, []string{"message", "sip:alice@example.test", "hello baresip", "--server", srv,
			"--domain", "example.test", "--user", "carol", "--password", "carolpw"}, &mOut, &mErr); code != 0 ||
			!strings.Contains(mOut.String(), "message delivered: 200") {
			t.Errorf("parley phone message: exit %d\n%s\n%s", code, mOut.String(), mErr.String())
		}
		if !peertest.WaitFor(3*time.Second, func() bool { return strings.Contains(alice.Log(), `sip:carol@example.test: "hello baresip"`) }) {
			t.Errorf("baresip did not show parley's MESSAGE:\n%s", alice.Tail(40))
		}

		alice.MustCommand("dial", "sip:bob@example.test")
		est := alice.MustWaitEvent("CALL_ESTABLISHED", 10*time.Second)
		time.Sleep(3 * time.Second)
		alice.MustCommand("hangup", "")
		closed := alice.MustWaitEvent("CALL_CLOSED", 5*time.Second)
		if code := r.wait(t, 10*time.Second); code != 0 {
			t.Fatalf("parley phone answer: exit %d\n%s\nbaresip:\n%s", code, r, alice.Tail(40))
		}
		t.Logf("call lasted %v", closed.At.Sub(est.At).Round(time.Millisecond))
		r.expect(t, "incoming call from sip:alice@example.test", "hung up by the far end", "RTP: sent")
		checkTone(t, "parley recorded", out, 800, 2500*time.Millisecond)
		checkTone(t, "baresip decoded", baresipDecoded(t, alice), 1000, 2500*time.Millisecond)
	})

	// parley phone calls baresip, which rings (manual answer); parley's
	// ring timeout cancels the call before anyone answers.
	t.Run("cancel-before-answer", func(t *testing.T) {
		carol := peertest.StartBaresip(t, peertest.BaresipConfig{User: "carol", Password: "carolpw", Domain: "example.test",
			Proxy: srv, Tone: 600, AnswerMode: "manual"})
		if err := carol.WaitRegistered(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		r := startPhone(ctx, "call", "sip:carol@example.test", "--server", srv, "--domain", "example.test", "--user", "alice", "--password", "wonderland",
			"--ring-timeout", "2s", "--rtp-ports", rtpPorts(t))
		carol.MustWaitEvent("CALL_INCOMING", 10*time.Second)
		code := r.wait(t, 15*time.Second)
		closed := carol.MustWaitEvent("CALL_CLOSED", 5*time.Second)
		if code != 1 {
			t.Errorf("parley phone call: exit %d, want 1\n%s", code, r)
		}
		r.expect(t, "ringing (180 Ringing)", "call failed: 487 Request Terminated")
		for _, e := range carol.Events() {
			if e.Type == "CALL_ESTABLISHED" {
				t.Errorf("baresip established a cancelled call: %+v", e)
			}
		}
		// What crossed the wire at baresip (its -s trace, on its stdout,
		// which may trail the event on the control connection).
		for _, want := range []string{"CANCEL sip:carol", "SIP/2.0 487 Request Terminated"} {
			if !peertest.WaitFor(2*time.Second, func() bool { return strings.Contains(carol.Log(), want) }) {
				t.Errorf("baresip's trace lacks %q:\n%s", want, carol.Tail(60))
			}
		}
		t.Logf("baresip: call closed %q after %v", closed.Param, closed.At.Sub(r.start).Round(time.Millisecond))
	})

	// baresip calls parley, sends DTMF (RFC 4733), puts the call on hold
	// and resumes it by re-INVITE; the call survives and ends cleanly.
	t.Run("dtmf-hold-resume", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out.wav")
		r := startPhone(ctx, "answer", "--server", srv, "--domain", "example.test", "--user", "bob", "--password", "builder",
			"--play", tone1000, "--record", out, "--wait", "20s", "--rtp-ports", rtpPorts(t))
		alice := peertest.StartBaresip(t, peertest.BaresipConfig{User: "alice", Password: "wonderland", Domain: "example.test",
			Proxy: srv, Tone: 800})
		if !peertest.WaitFor(10*time.Second, func() bool { return strings.Contains(r.stdout.String(), "waiting for a call") }) {
			t.Fatalf("parley phone answer did not register:\n%s", r)
		}
		if err := alice.WaitRegistered(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		alice.MustCommand("dial", "sip:bob@example.test")
		alice.MustWaitEvent("CALL_ESTABLISHED", 10*time.Second)
		time.Sleep(500 * time.Millisecond)
		alice.MustCommand("sndcode", "123#")
		if !peertest.WaitFor(3*time.Second, func() bool { return strings.Contains(r.stdout.String(), "DTMF received: #") }) {
			t.Errorf("parley did not receive the DTMF:\n%s\nbaresip:\n%s", r, alice.Tail(30))
		}
		alice.MustCommand("hold", "")
		if !peertest.WaitFor(3*time.Second, func() bool { return strings.Contains(r.stdout.String(), "remote-hold") }) {
			t.Errorf("parley did not see the hold:\n%s\nbaresip:\n%s", r, alice.Tail(40))
		}
		time.Sleep(500 * time.Millisecond)
		alice.MustCommand("resume", "")
		if !peertest.WaitFor(3*time.Second, func() bool { return strings.Contains(r.stdout.String(), "remote-resume") }) {
			t.Errorf("parley did not see the resume:\n%s\nbaresip:\n%s", r, alice.Tail(40))
		}
		time.Sleep(time.Second)
		alice.MustCommand("hangup", "")
		alice.MustWaitEvent("CALL_CLOSED", 5*time.Second)
		if code := r.wait(t, 10*time.Second); code != 0 {
			t.Fatalf("parley phone answer: exit %d\n%s\nbaresip:\n%s", code, r, alice.Tail(40))
		}
		r.expect(t, "DTMF received: 1", "DTMF received: 2", "DTMF received: 3", "DTMF received: #",
			"remote-hold", "remote-resume", "hung up by the far end")
		checkTone(t, "parley recorded", out, 800, 2*time.Second)
		// The hold was a re-INVITE offering sendonly, answered recvonly,
		// and the resume one offering sendrecv again.
		log := alice.Log()
		hold := strings.Index(log, "a=sendonly")
		if hold < 0 || !strings.Contains(log[hold:], "a=recvonly") || !strings.Contains(log[hold:], "a=sendrecv") {
			t.Errorf("baresip's trace lacks the hold/resume offers and answers:\n%s", peertest.Tail(log, 120))
		}
		t.Logf("parley phone answer:\n%s", r.stdout.String())
	})
}

// lastLine returns the last line of s starting with prefix.
func lastLine(s, prefix string) string {
	i := strings.LastIndex(s, prefix)
	if i < 0 {
		return ""
	}
	return strings.TrimSpace(strings.SplitN(s[i:], "\n", 2)[0])
}
