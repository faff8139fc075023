package ua

import (
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/media"
	"github.com/parley-sip/parley/sip"
)

// wire records what a UA sends, through its send hook, and may drop some.
type wire struct {
	mu   sync.Mutex
	sent []sip.Message
	drop func(sip.Message) bool
}

func tap(u *UA, drop func(sip.Message) bool) *wire {
	w := &wire{drop: drop}
	u.SetSendHook(func(m sip.Message) bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.sent = append(w.sent, m)
		return w.drop != nil && w.drop(m)
	})
	return w
}

// requests returns the sends of method and the number of distinct
// transactions (branches) among them.
func (w *wire) requests(method string) (sends, txs int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	branches := map[string]bool{}
	for _, m := range w.sent {
		if r, ok := m.(*sip.Request); ok && r.Method == method {
			sends++
			v, _ := r.TopVia()
			b, _ := v.Params.Get("branch")
			branches[b] = true
		}
	}
	return sends, len(branches)
}

// responses returns the responses sent, as "code METHOD" in order.
func (w *wire) responses() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, m := range w.sent {
		if r, ok := m.(*sip.Response); ok {
			cs, _ := r.CSeq()
			out = append(out, strconv.Itoa(r.StatusCode)+" "+cs.Method)
		}
	}
	return out
}

func (w *wire) count(code int, method string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, m := range w.sent {
		if r, ok := m.(*sip.Response); ok {
			if cs, _ := r.CSeq(); r.StatusCode == code && cs.Method == method {
				n++
			}
		}
	}
	return n
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

func isPRACK(m sip.Message) bool {
	r, ok := m.(*sip.Request)
	return ok && r.Method == sip.PRACK
}

// TestReliable180PRACKedOnce: a callee configured for reliable 18x sends
// its 180 with Require: 100rel and RSeq; the caller PRACKs it once, the
// PRACK is answered 200 and only then the INVITE is answered 200.
func TestReliable180PRACKedOnce(t *testing.T) {
	a := newUA(t, "alice", nil)
	b := newUA(t, "bob", func(c *Config) { c.Reliable18x = true })
	aw, bw := tap(a, nil), tap(b, nil)
	p := call(t, a, b)
	defer p.ac.Hangup(ctxT(t, 5*time.Second))

	inv := p.ac.Request()
	if !inv.HasOption("Supported", "100rel") || !inv.HasOption("Allow", "PRACK") {
		t.Errorf("INVITE does not advertise 100rel and PRACK: %q", inv.String())
	}
	var ring *sip.Response
	bw.mu.Lock()
	for _, m := range bw.sent {
		if r, ok := m.(*sip.Response); ok && r.StatusCode == 180 {
			ring = r
			break
		}
	}
	bw.mu.Unlock()
	if ring == nil {
		t.Fatal("no 180 sent")
	}
	if rseq, ok := rseqOf(ring); !ok || rseq >= 1<<31 {
		t.Fatalf("180 not reliable: %q", ring.String())
	}
	if !waitFor(time.Second, func() bool { _, n := aw.requests(sip.PRACK); return n == 1 }) {
		t.Fatal("no PRACK sent")
	}
	time.Sleep(300 * time.Millisecond) // room for a wrong second PRACK
	if _, n := aw.requests(sip.PRACK); n != 1 {
		t.Errorf("%d PRACK transactions, want 1", n)
	}
	rs := bw.responses()
	iPrack, iOK := indexOf(rs, "200 PRACK"), indexOf(rs, "200 INVITE")
	if iPrack < 0 || iOK < 0 || iPrack > iOK {
		t.Errorf("callee responses %v: want the PRACK answered before the INVITE's 200", rs)
	}
	// A PRACK that names no unacknowledged provisional gets 481.
	d := p.ac.Dialog()
	req, _ := d.NewRequest(sip.PRACK)
	a.addCommon(req)
	req.Add("RAck", rack{rseq: 7, seq: 1, method: sip.INVITE}.String())
	_, err := a.do(ctxT(t, 5*time.Second), req, d.NextCSeq)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 481 {
		t.Errorf("stray PRACK: %v, want 481", err)
	}
}

// TestLostPRACK: the PRACK is lost; the callee retransmits its
// reliable 180, the caller does not PRACK the retransmission again but its
// PRACK transaction's retransmission gets through, and the call is answered.
func TestLostPRACK(t *testing.T) {
	a := newUA(t, "alice", nil)
	b := newUA(t, "bob", func(c *Config) { c.Reliable18x = true })
	// The first PRACK and its first retransmission (after T1) are lost,
	// so that the 180's retransmission (after T1) surely comes first.
	dropped := 0
	aw := tap(a, func(m sip.Message) bool {
		if isPRACK(m) && dropped < 2 {
			dropped++
			return true
		}
		return false
	})
	bw := tap(b, nil)
	p := call(t, a, b)
	defer p.ac.Hangup(ctxT(t, 5*time.Second))
	if n := bw.count(180, sip.INVITE); n < 2 {
		t.Errorf("180 sent %d times, want a retransmission", n)
	}
	sends, txs := aw.requests(sip.PRACK)
	if txs != 1 || sends < 3 {
		t.Errorf("PRACK: %d sends in %d transactions, want a retransmission of one", sends, txs)
	}
	if bw.count(200, sip.PRACK) < 1 {
		t.Error("PRACK not answered")
	}
}

// TestNoPRACKWithoutReliable: a callee that sends an ordinary 180 (the
// default when the INVITE only says Supported: 100rel) gets no PRACK.
func TestNoPRACKWithoutReliable(t *testing.T) {
	a, b := newUA(t, "alice", nil), newUA(t, "bob", nil)
	aw, bw := tap(a, nil), tap(b, nil)
	p := call(t, a, b)
	defer p.ac.Hangup(ctxT(t, 5*time.Second))
	if !p.aEv.has(EventRinging) {
		t.Error("no ringing event")
	}
	if n, _ := aw.requests(sip.PRACK); n != 0 {
		t.Errorf("%d PRACKs sent to a callee without 100rel", n)
	}
	bw.mu.Lock()
	for _, m := range bw.sent {
		if r, ok := m.(*sip.Response); ok && r.StatusCode == 180 && r.Has("RSeq") {
			t.Errorf("180 reliable: %q", r.String())
		}
	}
	bw.mu.Unlock()
}

// TestRequire100rel: an INVITE with Require: 100rel is not refused with
// 420 and gets a reliable 180 even from a callee not configured for
// reliable 18x.
func TestRequire100rel(t *testing.T) {
	a, b := newUA(t, "alice", nil), newUA(t, "bob", nil)
	aw := tap(a, func(m sip.Message) bool {
		if r, ok := m.(*sip.Request); ok && r.Method == sip.INVITE && !r.Has("Require") {
			r.Add("Require", "100rel")
		}
		return false
	})
	p := call(t, a, b)
	defer p.ac.Hangup(ctxT(t, 5*time.Second))
	if _, n := aw.requests(sip.PRACK); n != 1 {
		t.Errorf("%d PRACK transactions, want 1", n)
	}
}

// TestNoPRACKGivesUp: every PRACK is lost; after 64*T1 the callee refuses
// the INVITE with 500 (RFC 3262 §3) and Answer fails.
func TestNoPRACKGivesUp(t *testing.T) {
	short := func(c *Config) { c.T1 = 20 * time.Millisecond }
	a := newUA(t, "alice", short)
	b := newUA(t, "bob", func(c *Config) { short(c); c.Reliable18x = true })
	tap(a, isPRACK)
	answered := make(chan error, 1)
	go func() {
		c := <-b.Incoming()
		answered <- c.Answer(CallOptions{Play: media.NewSilence(8000, 0)})
	}()
	_, err := a.Dial(ctxT(t, 10*time.Second), b.ContactString(), CallOptions{})
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 500 {
		t.Fatalf("dial: %v, want 500", err)
	}
	select {
	case err := <-answered:
		if !errors.Is(err, errNoPRACK) {
			t.Errorf("answer: %v, want errNoPRACK", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Answer did not return")
	}
}
