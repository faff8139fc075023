package main

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/internal/peertest"
	"github.com/parley-sip/parley/media"
	"github.com/parley-sip/parley/ua"
)

// writeTone writes a WAV file of a sine tone.
func writeTone(t *testing.T, path string, freq float64, rate int, d time.Duration) {
	t.Helper()
	w, err := media.CreateWAV(path, rate)
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]int16, rate/50)
	tone := media.NewTone(freq, 8000, rate, d)
	for tone.ReadFrame(frame) == nil {
		if err := w.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// recordedFrequency reads a recording and returns its dominant frequency
// and length.
func recordedFrequency(t *testing.T, path string) (float64, time.Duration) {
	t.Helper()
	r, err := media.OpenWAV(path, 8000)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var all []int16
	buf := make([]int16, 1600)
	for {
		n, err := r.Read(buf)
		all = append(all, buf[:n]...)
		if err != nil {
			break
		}
	}
	f, _ := media.DominantFrequency(all, 8000)
	return f, time.Duration(len(all)) * time.Second / 8000
}

// syncBuffer is a bytes.Buffer safe for the phone's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestPhoneCallSIPpEcho calls SIPp's UAS, which echoes our RTP back
// (-rtp_echo): the call must be answered and ended cleanly, and the
// recording must hold the tone we played, over UDP and TCP signalling.
func TestPhoneCallSIPpEcho(t *testing.T) {
	sipp := peertest.Need(t, "sipp", "sip-tester")
	for _, tc := range []struct{ name, sippTransport, transport string }{
		{"udp", "u1", "udp"},
		{"tcp", "t1", "tcp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			in, out := filepath.Join(dir, "in.wav"), filepath.Join(dir, "out.wav")
			// 16 kHz input: the phone resamples to 8 kHz.
			writeTone(t, in, 1000, 16000, 4*time.Second)
			port, mport := peertest.FreePort(t), peertest.FreePort(t)
			s := peertest.SIPp{Scenario: "phone_uas", Transport: tc.sippTransport, LocalPort: port,
				Calls: 1, Timeout: 30 * time.Second, Extra: []string{"-rtp_echo", "-mp", strconv.Itoa(mport)}}
			proc, sdir := s.Start(t, sipp)
			time.Sleep(300 * time.Millisecond) // let SIPp bind

			server := "127.0.0.1:" + strconv.Itoa(port)
			var stdout, stderr syncBuffer
			code := phoneContext(peertest.Context(t, 30*time.Second), []string{"call", "sip:service@" + server,
				"--server", server, "--transport", tc.transport, "--user", "alice",
				"--play", in, "--record", out, "--duration", "3s", "--rtp-ports", "20000-20999", "--dtmf", "1#"}, &stdout, &stderr)
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s\nsipp:\n%s", code, stdout.String(), stderr.String(), peertest.Tail(proc.Output(), 20))
			}
			o := stdout.String()
			for _, want := range []string{"calling sip:service@", "ringing (180 Ringing)", "answered", "hung up (local hangup)", "RTP: sent",
				"DTMF sent: 1#", "DTMF received: 1", "DTMF received: #"} {
				if !strings.Contains(o, want) {
					t.Errorf("output lacks %q:\n%s", want, o)
				}
			}
			f, length := recordedFrequency(t, out)
			if f != 1000 {
				t.Errorf("recording's dominant frequency %v Hz, want the 1000 Hz echo (length %v)", f, length)
			}
			if length < 2*time.Second {
				t.Errorf("recording only %v long", length)
			}
			t.Logf("%s", strings.TrimSpace(o[strings.LastIndex(o, "RTP:"):]))
			if err := proc.Wait(20 * time.Second); err != nil {
				r := peertest.Result{Dir: sdir}
				t.Logf("phone stderr: %s", stderr.String())
				t.Errorf("sipp: %v\n%s\n%s", err, peertest.Tail(proc.Output(), 20), r.Errors())
			}
		})
	}
}

// TestPhoneCallAnswer runs "phone answer" and "phone call" against each
// other on loopback: tones both ways, DTMF, a MESSAGE, BYE from the caller.
func TestPhoneCallAnswer(t *testing.T) {
	dir := t.TempDir()
	aIn, aOut := filepath.Join(dir, "a-in.wav"), filepath.Join(dir, "a-out.wav")
	bIn, bOut := filepath.Join(dir, "b-in.wav"), filepath.Join(dir, "b-out.wav")
	writeTone(t, aIn, 440, 8000, 5*time.Second)
	writeTone(t, bIn, 1000, 8000, 5*time.Second)
	port := peertest.FreePort(t)
	listen := "127.0.0.1:" + strconv.Itoa(port)
	ctx := peertest.Context(t, 40*time.Second)

	var bOutBuf, bErr syncBuffer
	bDone := make(chan int, 1)
	go func() {
		bDone <- phoneContext(ctx, []string{"answer", "--user", "bob", "--listen", listen,
			"--play", bIn, "--record", bOut, "--wait", "20s"}, &bOutBuf, &bErr)
	}()
	if !peertest.WaitFor(5*time.Second, func() bool { return strings.Contains(bOutBuf.String(), "waiting for a call") }) {
		t.Fatalf("answer did not start: %s %s", bOutBuf.String(), bErr.String())
	}
	var mOut, mErr bytes.Buffer
	if code := phoneContext(ctx, []string{"message", "sip:bob@" + listen, "hello bob", "--user", "alice"}, &mOut, &mErr); code != 0 {
		t.Fatalf("message: exit %d: %s %s", code, mOut.String(), mErr.String())
	}
	var aOutBuf, aErr syncBuffer
	code := phoneContext(ctx, []string{"call", "sip:bob@" + listen, "--user", "alice",
		"--play", aIn, "--record", aOut, "--duration", "3s", "--dtmf", "42#"}, &aOutBuf, &aErr)
	if code != 0 {
		t.Fatalf("call: exit %d\n%s\n%s", code, aOutBuf.String(), aErr.String())
	}
	select {
	case code := <-bDone:
		if code != 0 {
			t.Fatalf("answer: exit %d\n%s\n%s", code, bOutBuf.String(), bErr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("answer did not exit after the call")
	}
	bo := bOutBuf.String()
	for _, want := range []string{"message from sip:alice@", "hello bob", "incoming call from sip:alice@", "DTMF received: 4", "DTMF received: 2", "DTMF received: #", "hung up by the far end", "RTP: sent"} {
		if !strings.Contains(bo, want) {
			t.Errorf("answer output lacks %q:\n%s", want, bo)
		}
	}
	if f, _ := recordedFrequency(t, aOut); f != 1000 {
		t.Errorf("caller heard %v Hz, want 1000", f)
	}
	if f, _ := recordedFrequency(t, bOut); f != 440 {
		t.Errorf("callee heard %v Hz, want 440", f)
	}
}

// TestPhoneCallFailed: a callee that refuses gives a non-zero exit and the
// status on the "call failed" line.
func TestPhoneCallFailed(t *testing.T) {
	ctx := peertest.Context(t, 20*time.Second)
	busy, err := ua.New(ua.Config{User: "bob", Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close(context.Background())
	go func() {
		for c := range busy.Incoming() {
			c.Reject(486, "")
		}
	}()
	var out, errb bytes.Buffer
	code := phoneContext(ctx, []string{"call", busy.ContactString(), "--user", "alice"}, &out, &errb)
	if code == 0 || !strings.Contains(out.String(), "call failed: 486 Busy Here") {
		t.Fatalf("exit %d, output:\n%s", code, out.String())
	}
	if code := phoneContext(ctx, []string{"bogus"}, &out, &errb); code != 2 {
		t.Fatalf("unknown command: exit %d", code)
	}
	if code := phoneContext(ctx, []string{"call", "sip:x@y", "--rtp-ports", "9-1"}, &out, &errb); code != 2 {
		t.Fatalf("bad --rtp-ports: exit %d", code)
	}
}

func TestTargetDomain(t *testing.T) {
	for _, tc := range []struct{ target, want string }{
		{"sip:bob@example.test", "example.test"},
		{"sips:bob@Example.Test:5061;transport=tcp", "Example.Test"},
		{"<sip:bob@example.test>", "example.test"},
		{`"Bob" <sip:bob@example.test>`, "example.test"},
		{"bob@example.test", "example.test"},
		{"bob@example.test:5070", "example.test"},
		{"sip:example.test", "example.test"},
		{"bob", ""},                    // our own domain
		{"sip:bob@127.0.0.1:5060", ""}, // an address is no domain: the server's host
		{"sip:bob@[::1]", ""},
		{"tel:+15551234", ""},
		{"sip:bob@", ""},
	} {
		if got := targetDomain(tc.target); got != tc.want {
			t.Errorf("targetDomain(%q) = %q, want %q", tc.target, got, tc.want)
		}
	}
}

// TestPhoneDomainFromTarget: the form of the softphone's own usage line,
// `call sip:bob@example.test --server S --user alice --password PW` with
// no --domain, works against the starter config: call and message take the
// account's domain from the target. --domain still overrides it. The
// answer and call commands are the ones the welcome text prints.
func TestPhoneDomainFromTarget(t *testing.T) {
	s := startStarter(t)
	ctx := peertest.Context(t, 40*time.Second)
	alicePW := s.password(t, "alice")
	answer, call := s.welcomeCommand(t, "answer"), s.welcomeCommand(t, "call")
	if slices.Contains(call, "--domain") {
		t.Errorf("the welcome's call command still needs --domain: %q", call)
	}
	bob := startPhone(ctx, append(answer, "--wait", "20s", "--rtp-ports", rtpPorts(t))...)
	if !peertest.WaitFor(10*time.Second, func() bool { return strings.Contains(bob.stdout.String(), "waiting for a call") }) {
		t.Fatalf("parley phone answer did not register:\n%s", bob)
	}

	var mOut, mErr syncBuffer
	if code := phoneContext(ctx, []string{"message", "sip:bob@example.test", "hello", "--server", s.addr,
		"--user", "alice", "--password", alicePW}, &mOut, &mErr); code != 0 || !strings.Contains(mOut.String(), "message delivered: 200") {
		t.Fatalf("message without --domain: exit %d\n%s\n%s", code, mOut.String(), mErr.String())
	}
	if !peertest.WaitFor(3*time.Second, func() bool {
		return strings.Contains(bob.stdout.String(), "message from sip:alice@example.test: hello")
	}) {
		t.Errorf("bob did not get the MESSAGE from sip:alice@example.test:\n%s", bob)
	}

	// --domain overrides the target's: alice@elsewhere.test is no account
	// of this server, so registering it is refused.
	var oOut, oErr syncBuffer
	if code := phoneContext(ctx, []string{"call", "sip:bob@example.test", "--server", s.addr, "--domain", "elsewhere.test",
		"--user", "alice", "--password", alicePW}, &oOut, &oErr); code == 0 ||
		!strings.Contains(oOut.String(), "registration failed") || strings.Contains(oOut.String(), "calling") {
		t.Errorf("call with --domain elsewhere.test: exit %d, want the registration of sip:alice@elsewhere.test refused:\n%s\n%s",
			code, oOut.String(), peertest.Tail(oErr.String(), 20))
	}

	alice := startPhone(ctx, append(call, "--duration", "1s", "--rtp-ports", rtpPorts(t))...)
	if code := alice.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("call without --domain: exit %d\n%s", code, alice)
	}
	alice.expect(t, "registered sip:alice@example.test", "calling sip:bob@example.test", "answered", "hung up (local hangup)")
	if code := bob.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("parley phone answer: exit %d\n%s", code, bob)
	}
	bob.expect(t, "incoming call from sip:alice@example.test", "hung up by the far end")
}
