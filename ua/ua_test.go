package ua

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-sip/parley/media"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
)

// newUA starts a UA on loopback with a short T1, closed with the test.
func newUA(t *testing.T, user string, mod func(*Config)) *UA {
	t.Helper()
	cfg := Config{User: user, Listen: "127.0.0.1:0", T1: 100 * time.Millisecond}
	if os.Getenv("PARLEY_UA_TRACE") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		cfg.Trace = true
	}
	if mod != nil {
		mod(&cfg)
	}
	u, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		u.Close(ctx)
	})
	return u
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// eventLog collects call events.
type eventLog struct {
	mu     sync.Mutex
	events []Event
	digits []rune
}

func (l *eventLog) on(_ *Call, ev Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
	if ev.Kind == EventDTMF {
		l.digits = append(l.digits, ev.Digit)
	}
}

func (l *eventLog) has(k EventKind) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if e.Kind == k {
			return true
		}
	}
	return false
}

func (l *eventLog) digitString() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.digits)
}

func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond()
}

type callPair struct {
	a, b       *UA
	ac, bc     *Call
	aRec, bRec *media.BufferSink
	aEv, bEv   *eventLog
}

// call makes a answer-ready pair: a dials b's contact, b answers at once.
// a plays 440 Hz, b plays 1000 Hz.
func call(t *testing.T, a, b *UA) *callPair {
	t.Helper()
	p := &callPair{a: a, b: b, aRec: &media.BufferSink{}, bRec: &media.BufferSink{}, aEv: &eventLog{}, bEv: &eventLog{}}
	answered := make(chan error, 1)
	go func() {
		select {
		case c := <-b.Incoming():
			p.bc = c
			answered <- c.Answer(CallOptions{Play: media.NewTone(1000, 8000, 8000, 0), Record: p.bRec, OnEvent: p.bEv.on})
		case <-time.After(5 * time.Second):
			answered <- errors.New("no incoming call")
		}
	}()
	c, err := a.Dial(ctxT(t, 10*time.Second), b.ContactString(),
		CallOptions{Play: media.NewTone(440, 8000, 8000, 0), Record: p.aRec, OnEvent: p.aEv.on})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if err := <-answered; err != nil {
		t.Fatalf("answer: %v", err)
	}
	p.ac = c
	return p
}

func TestCallToneAndByeFromCaller(t *testing.T) {
	a, b := newUA(t, "alice", nil), newUA(t, "bob", nil)
	p := call(t, a, b)
	if !p.aEv.has(EventRinging) || !p.aEv.has(EventAnswered) {
		t.Errorf("caller events %v: want ringing and answered", p.aEv.events)
	}
	time.Sleep(1500 * time.Millisecond)
	if err := p.ac.Hangup(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("hangup: %v", err)
	}
	select {
	case <-p.bc.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("callee did not see the BYE")
	}
	if e := p.bc.End(); !e.Remote || e.Reason != "remote hangup" {
		t.Errorf("callee end %+v", e)
	}
	if e := p.ac.End(); e.Remote {
		t.Errorf("caller end %+v", e)
	}
	fa, _ := media.DominantFrequency(p.aRec.Samples(), 8000)
	fb, _ := media.DominantFrequency(p.bRec.Samples(), 8000)
	if fa != 1000 || fb != 440 {
		t.Errorf("caller heard %v Hz (want 1000), callee heard %v Hz (want 440)", fa, fb)
	}
	st := p.ac.Stats()
	if st.PacketsSent < 50 || st.PacketsReceived < 50 {
		t.Errorf("caller stats %+v", st)
	}
	t.Logf("caller RTP: sent %d received %d lost %d jitter %.2f ms", st.PacketsSent, st.PacketsReceived, st.Lost, st.JitterMs)
	if a.dialogs.Len() != 0 || b.dialogs.Len() != 0 {
		t.Errorf("dialogs left: %d %d", a.dialogs.Len(), b.dialogs.Len())
	}
}

func TestByeFromCallee(t *testing.T) {
	a, b := newUA(t, "alice", nil), newUA(t, "bob", nil)
	p := call(t, a, b)
	time.Sleep(200 * time.Millisecond)
	if err := p.bc.Hangup(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.ac.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("caller did not see the BYE")
	}
	if e := p.ac.End(); !e.Remote {
		t.Errorf("caller end %+v", e)
	}
	if !p.aEv.has(EventEnded) {
		t.Error("no ended event")
	}
}

func TestHoldResume(t *testing.T) {
	a, b := newUA(t, "alice", nil), newUA(t, "bob", nil)
	p := call(t, a, b)
	time.Sleep(300 * time.Millisecond)
	if err := p.ac.Hold(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("hold: %v", err)
	}
	checkHeld(t, p)
	if !p.bEv.has(EventRemoteHold) {
		t.Error("no remote-hold event")
	}
	if err := p.ac.Resume(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("resume: %v", err)
	}
	checkResumed(t, p)
	// The callee holds the caller the other way round.
	if err := p.bc.Hold(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("callee hold: %v", err)
	}
	if !waitFor(time.Second, p.ac.RemoteHold) {
		t.Error("caller not held")
	}
	p.ac.Hangup(ctxT(t, 5*time.Second))
}

// checkHeld asserts that the caller has put the callee on hold: the
// callee answered recvonly and stops sending, the caller goes on.
func checkHeld(t *testing.T, p *callPair) {
	t.Helper()
	if !p.ac.OnHold() || !waitFor(time.Second, p.bc.RemoteHold) {
		t.Fatalf("hold state: a %v b %v", p.ac.OnHold(), p.bc.RemoteHold())
	}
	if d := p.bc.LocalSDP().Direction(p.bc.LocalSDP().Media[0]); d.String() != "recvonly" {
		t.Errorf("callee answered %s to the hold offer", d)
	}
	time.Sleep(100 * time.Millisecond)
	bSent, aSent := p.bc.Stats().PacketsSent, p.ac.Stats().PacketsSent
	time.Sleep(400 * time.Millisecond)
	if n := p.bc.Stats().PacketsSent; n != bSent {
		t.Errorf("held callee still sending: %d -> %d", bSent, n)
	}
	if n := p.ac.Stats().PacketsSent; n <= aSent {
		t.Errorf("holding caller stopped sending: %d -> %d", aSent, n)
	}
}

// checkResumed asserts that the hold is over and the callee sends again.
func checkResumed(t *testing.T, p *callPair) {
	t.Helper()
	if !waitFor(time.Second, func() bool { return !p.bc.RemoteHold() }) || p.ac.OnHold() {
		t.Fatal("still on hold")
	}
	bSent := p.bc.Stats().PacketsSent
	time.Sleep(300 * time.Millisecond)
	if n := p.bc.Stats().PacketsSent; n < bSent+5 {
		t.Errorf("resumed callee not sending: %d -> %d", bSent, n)
	}
}

func TestCancelBeforeAnswer(t *testing.T) {
	a, b := newUA(t, "alice", nil), newUA(t, "bob", nil)
	ctx, cancel := context.WithCancel(ctxT(t, 10*time.Second))
	ev := &eventLog{}
	go func() {
		waitFor(5*time.Second, func() bool { return ev.has(EventRinging) })
		cancel()
	}()
	_, err := a.Dial(ctx, b.ContactString(), CallOptions{OnEvent: ev.on})
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 487 || !errors.Is(err, context.Canceled) {
		t.Fatalf("dial: %v, want 487 wrapping context.Canceled", err)
	}
	var bc *Call
	select {
	case bc = <-b.Incoming():
	case <-time.After(2 * time.Second):
		t.Fatal("no incoming call")
	}
	select {
	case <-bc.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("callee not cancelled")
	}
	if e := bc.End(); e.Status != 487 || e.Reason != "cancelled" {
		t.Errorf("callee end %+v", e)
	}
	if err := bc.Answer(CallOptions{}); !errors.Is(err, ErrCallEnded) {
		t.Errorf("answer after cancel: %v", err)
	}
}

func TestRejectBusy(t *testing.T) {
	a, b := newUA(t, "alice", nil), newUA(t, "bob", nil)
	go func() {
		c := <-b.Incoming()
		c.Reject(sip.StatusBusyHere, "")
	}()
	_, err := a.Dial(ctxT(t, 10*time.Second), b.ContactString(), CallOptions{})
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 486 || se.Error() != "486 Busy Here" {
		t.Fatalf("dial: %v", err)
	}
}

func TestNoCommonCodec488(t *testing.T) {
	a := newUA(t, "alice", func(c *Config) { c.Codecs = []string{"PCMU"} })
	b := newUA(t, "bob", func(c *Config) { c.Codecs = []string{"PCMA"} })
	ans := make(chan error, 1)
	go func() {
		c := <-b.Incoming()
		ans <- c.Answer(CallOptions{})
	}()
	_, err := a.Dial(ctxT(t, 10*time.Second), b.ContactString(), CallOptions{})
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 488 {
		t.Fatalf("dial: %v, want 488", err)
	}
	if w, _ := se.Response.Get("Warning"); w == "" {
		t.Error("488 without Warning")
	}
	if err := <-ans; err == nil {
		t.Fatal("answer succeeded")
	}
}

func TestPCMANegotiated(t *testing.T) {
	a := newUA(t, "alice", func(c *Config) { c.Codecs = []string{"PCMU", "PCMA"} })
	b := newUA(t, "bob", func(c *Config) { c.Codecs = []string{"PCMA"} })
	p := call(t, a, b)
	time.Sleep(time.Second)
	if p.ac.Media().Codec().Name() != "PCMA" || p.bc.Media().Codec().Name() != "PCMA" {
		t.Fatalf("codecs %s/%s", p.ac.Media().Codec().Name(), p.bc.Media().Codec().Name())
	}
	p.ac.Hangup(ctxT(t, 5*time.Second))
	if f, _ := media.DominantFrequency(p.bRec.Samples(), 8000); f != 440 {
		t.Errorf("callee heard %v Hz over PCMA", f)
	}
}

func TestDTMF(t *testing.T) {
	a, b := newUA(t, "alice", nil), newUA(t, "bob", nil)
	p := call(t, a, b)
	if err := p.ac.SendDTMF(ctxT(t, 5*time.Second), "123#"); err != nil {
		t.Fatal(err)
	}
	if !waitFor(2*time.Second, func() bool { return p.bEv.digitString() == "123#" }) {
		t.Fatalf("callee got digits %q", p.bEv.digitString())
	}
	p.bc.Hangup(ctxT(t, 5*time.Second))
}

func TestMessageBothWays(t *testing.T) {
	got := make(chan Message, 2)
	onMsg := func(m Message) { got <- m }
	a := newUA(t, "alice", func(c *Config) { c.OnMessage = onMsg })
	b := newUA(t, "bob", func(c *Config) { c.OnMessage = onMsg })
	for _, dir := range []struct {
		from, to *UA
		text     string
	}{{a, b, "hello bob"}, {b, a, "hi alice"}} {
		resp, err := dir.from.SendMessage(ctxT(t, 5*time.Second), dir.to.ContactString(), "", []byte(dir.text))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("message: %v %v", resp, err)
		}
		select {
		case m := <-got:
			if string(m.Body) != dir.text || m.ContentType != "text/plain;charset=UTF-8" || m.From.URI.User != dir.from.cfg.User {
				t.Errorf("got %q %q from %s", m.Body, m.ContentType, m.From.URI.String())
			}
		case <-time.After(2 * time.Second):
			t.Fatal("message not delivered")
		}
	}
	resp, err := a.Options(ctxT(t, 5*time.Second), b.ContactString())
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("options: %v %v", resp, err)
	}
}

func TestOutsideDialog481(t *testing.T) {
	a, b := newUA(t, "alice", nil), newUA(t, "bob", nil)
	for _, m := range []string{sip.BYE, sip.INVITE, sip.MESSAGE} {
		to := sip.Address{URI: b.Contact(), Params: ";tag=nosuchdialog"}
		req := a.newRequest(m, b.Contact(), to)
		_, err := a.do(ctxT(t, 5*time.Second), req, nil)
		var se *StatusError
		if !errors.As(err, &se) || se.Code != 481 {
			t.Errorf("%s outside a dialog: %v, want 481", m, err)
		}
	}
	// A BYE without a To tag names no dialog either.
	req := a.newRequest(sip.BYE, b.Contact(), sip.Address{URI: b.Contact()})
	if _, err := a.do(ctxT(t, 5*time.Second), req, nil); err == nil || err.(*StatusError).Code != 481 {
		t.Errorf("BYE without tag: %v", err)
	}
}

func TestGlare491(t *testing.T) {
	a, b := newUA(t, "alice", nil), newUA(t, "bob", nil)
	p := call(t, a, b)
	// Hold each side's first received re-INVITE until both have sent
	// theirs, so that they cross.
	var barrier sync.WaitGroup
	barrier.Add(2)
	var seen atomic.Int32
	hook := func(*Call) {
		if seen.Add(1) <= 2 {
			barrier.Done()
			waitCh := make(chan struct{})
			go func() { barrier.Wait(); close(waitCh) }()
			select {
			case <-waitCh:
			case <-time.After(2 * time.Second):
			}
		}
	}
	a.SetBeforeReinvite(hook)
	b.SetBeforeReinvite(hook)
	start := time.Now()
	errs := make(chan error, 2)
	go func() { errs <- p.ac.Hold(ctxT(t, 15*time.Second)) }()
	go func() { errs <- p.bc.Hold(ctxT(t, 15*time.Second)) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("hold: %v", err)
		}
	}
	// The two that crossed (491) and at least one retry; the second
	// retry may find the first already done and the roles settled (timing
	// under the race detector varies), so the hold state below is what
	// must hold.
	if n := seen.Load(); n < 3 {
		t.Errorf("%d re-INVITEs received: want the 2 that crossed (491) and the retries", n)
	}
	t.Logf("glare resolved in %v", time.Since(start).Round(10*time.Millisecond))
	if !p.ac.OnHold() || !p.bc.OnHold() {
		t.Errorf("hold state a %v b %v", p.ac.OnHold(), p.bc.OnHold())
	}
	p.ac.Hangup(ctxT(t, 5*time.Second))
}

func TestCloseHangsUp(t *testing.T) {
	a, b := newUA(t, "alice", nil), newUA(t, "bob", nil)
	p := call(t, a, b)
	ctx := ctxT(t, 5*time.Second)
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.bc.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("callee not hung up by Close")
	}
	if _, err := a.Dial(ctx, b.ContactString(), CallOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("dial after close: %v", err)
	}
}

func TestEventKindStrings(t *testing.T) {
	for k := EventTrying; k <= EventEnded; k++ {
		if s := k.String(); s == "" || s[0] == 'e' && s != "ended" {
			t.Errorf("%d: %q", k, s)
		}
	}
	_ = fmt.Sprint(StateActive, transaction.DefaultT1)
}
