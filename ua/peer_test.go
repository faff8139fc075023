package ua

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/sdp"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
	"github.com/parley-sip/parley/transport"
)

// fakePeer is a bare transport+transaction stack on loopback whose
// requests a test answers by hand: a registrar, a challenging proxy, a UAC
// that never ACKs.
type fakePeer struct {
	tp   *transport.Layer
	txl  *transaction.Layer
	addr string

	mu   sync.Mutex
	reqs []*sip.Request
	acks atomic.Int32
}

func newFakePeer(t *testing.T, handle func(p *fakePeer, tx *transaction.ServerTx)) *fakePeer {
	t.Helper()
	p := &fakePeer{tp: transport.New(transport.Config{})}
	if err := p.tp.Listen(transport.ListenSpec{Transport: transport.UDP, Addr: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	a, _ := p.tp.LocalAddr(transport.UDP)
	p.addr = a.AddrPort.String()
	p.txl = transaction.New(transaction.Config{T1: 50 * time.Millisecond, OnAck: func(*sip.Request) { p.acks.Add(1) }}, p.tp,
		transaction.HandlerFunc(func(tx *transaction.ServerTx) {
			p.mu.Lock()
			p.reqs = append(p.reqs, tx.Request())
			p.mu.Unlock()
			handle(p, tx)
		}))
	p.tp.SetHandler(p.txl)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		p.txl.Shutdown(ctx)
		p.tp.Shutdown(ctx)
	})
	return p
}

func (p *fakePeer) requests(method string) []*sip.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*sip.Request
	for _, r := range p.reqs {
		if r.Method == method {
			out = append(out, r)
		}
	}
	return out
}

// TestRegisterDigestRefreshUnregister: a registrar that challenges (401)
// and grants 2 s; the UA answers the challenge with the same Call-ID and a
// higher CSeq, refreshes at half the lifetime and removes the binding on
// Close.
func TestRegisterDigestRefreshUnregister(t *testing.T) {
	store, _ := auth.NewStaticStore([]auth.User{{Name: "alice", Password: "secret"}})
	v, err := auth.NewVerifier(auth.Config{Realm: "example.test", Store: store})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	bindings := map[string]bool{}
	reg := newFakePeer(t, func(p *fakePeer, tx *transaction.ServerTx) {
		req := tx.Request()
		if req.Method != sip.REGISTER {
			_ = tx.Respond(sip.NewResponse(req, 405, ""))
			return
		}
		if _, res := v.Verify(req, false); res != auth.OK {
			_ = tx.Respond(v.Reject(req, false, res))
			return
		}
		exp, _ := req.Expires()
		c, _ := req.Get("Contact")
		mu.Lock()
		bindings[c] = exp > 0
		mu.Unlock()
		resp := sip.NewResponse(req, 200, "")
		resp.SetToTag("regtag")
		if exp > 0 {
			resp.Add("Contact", c+";expires=2")
		}
		_ = tx.Respond(resp)
	})
	u := newUA(t, "alice", func(c *Config) {
		c.Password = "secret"
		c.Server = reg.addr
		c.Domain = "example.test"
	})
	res, err := u.Register(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if res.Expires != 2*time.Second || len(res.Bindings) != 1 {
		t.Fatalf("registration %+v", res)
	}
	regs := reg.requests(sip.REGISTER)
	if len(regs) != 2 {
		t.Fatalf("%d REGISTERs, want the challenged one and the retry", len(regs))
	}
	cs0, _ := regs[0].CSeq()
	cs1, _ := regs[1].CSeq()
	if regs[0].CallID() != regs[1].CallID() || cs1.Seq <= cs0.Seq || !regs[1].Has("Authorization") {
		t.Errorf("retry: Call-ID %q/%q CSeq %d/%d", regs[0].CallID(), regs[1].CallID(), cs0.Seq, cs1.Seq)
	}
	if regs[0].URI.String() != "sip:example.test" {
		t.Errorf("R-URI %s", regs[0].URI.String())
	}
	// Refresh at half of the 2 s granted.
	time.Sleep(1500 * time.Millisecond)
	if n := len(reg.requests(sip.REGISTER)); n < 3 {
		t.Fatalf("no refresh: %d REGISTERs", n)
	}
	if err := u.Close(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	regs = reg.requests(sip.REGISTER)
	last := regs[len(regs)-1]
	if e, _ := last.Expires(); e != 0 {
		t.Errorf("last REGISTER asks %d s, want 0 (unregister)", e)
	}
	mu.Lock()
	defer mu.Unlock()
	for c, live := range bindings {
		if live {
			t.Errorf("binding %s left", c)
		}
	}
}

// TestInviteProxyAuth: a 407 to the INVITE is answered with
// Proxy-Authorization, the same Call-ID and a higher CSeq, through the
// outbound proxy's pre-loaded Route.
func TestInviteProxyAuth(t *testing.T) {
	store, _ := auth.NewStaticStore([]auth.User{{Name: "alice", Password: "secret"}})
	v, _ := auth.NewVerifier(auth.Config{Realm: "example.test", Store: store})
	proxy := newFakePeer(t, func(p *fakePeer, tx *transaction.ServerTx) {
		req := tx.Request()
		if _, res := v.Verify(req, true); res != auth.OK {
			_ = tx.Respond(v.Reject(req, true, res))
			return
		}
		resp := sip.NewResponse(req, sip.StatusBusyHere, "")
		resp.SetToTag("busy")
		_ = tx.Respond(resp)
	})
	u := newUA(t, "alice", func(c *Config) {
		c.Password = "secret"
		c.Server = proxy.addr
	})
	_, err := u.Dial(ctxT(t, 5*time.Second), "sip:bob@example.test", CallOptions{})
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 486 {
		t.Fatalf("dial: %v, want 486 after authenticating", err)
	}
	invs := proxy.requests(sip.INVITE)
	if len(invs) != 2 {
		t.Fatalf("%d INVITEs", len(invs))
	}
	cs0, _ := invs[0].CSeq()
	cs1, _ := invs[1].CSeq()
	if invs[0].CallID() != invs[1].CallID() || cs1.Seq != cs0.Seq+1 || !invs[1].Has("Proxy-Authorization") {
		t.Errorf("retry: Call-ID %q/%q CSeq %d/%d", invs[0].CallID(), invs[1].CallID(), cs0.Seq, cs1.Seq)
	}
	if r, _ := invs[0].Get("Route"); r != "<sip:"+proxy.addr+";lr>" {
		t.Errorf("Route %q", r)
	}
	if invs[0].URI.String() != "sip:bob@example.test" {
		t.Errorf("R-URI %s", invs[0].URI.String())
	}
	// MESSAGE goes the same way.
	if _, err := u.SendMessage(ctxT(t, 5*time.Second), "sip:bob@example.test", "", []byte("hi")); !errors.As(err, &se) || se.Code != 486 {
		t.Fatalf("message: %v", err)
	}
}

// TestNoAckRetransmitsThenBye: a caller that never ACKs gets the 2xx
// retransmitted with growing intervals, and a BYE after 64*T1 (§13.3.1.4).
func TestNoAckRetransmitsThenBye(t *testing.T) {
	b := newUA(t, "bob", func(c *Config) { c.T1 = 50 * time.Millisecond })
	caller := newFakePeer(t, func(p *fakePeer, tx *transaction.ServerTx) {
		_ = tx.Respond(sip.NewResponse(tx.Request(), 200, ""))
	})
	go func() {
		c := <-b.Incoming()
		c.Answer(CallOptions{})
	}()
	offer, err := sdp.BuildOffer(&sdp.Local{Address: netip.MustParseAddr("127.0.0.1"), Media: []sdp.LocalMedia{{Type: "audio", Port: 40000,
		Codecs: []sdp.Codec{{PayloadType: 0, Name: "PCMU", ClockRate: 8000}}}}})
	if err != nil {
		t.Fatal(err)
	}
	req := sip.NewRequest(sip.INVITE, b.Contact())
	req.Add("Via", "SIP/2.0/UDP "+caller.addr+";rport;branch="+transaction.NewBranch())
	req.Add("From", "<sip:alice@127.0.0.1>;tag=noack")
	req.Add("To", "<sip:bob@127.0.0.1>")
	req.Add("Call-ID", "noack-"+transaction.NewTag())
	req.Add("CSeq", "1 INVITE")
	req.Add("Max-Forwards", "70")
	req.Add("Contact", "<sip:alice@"+caller.addr+">")
	req.Add("Content-Type", "application/sdp")
	req.Body = offer.Marshal()
	dst, _ := transport.Resolve("127.0.0.1", b.port, "UDP")
	tx, err := caller.txl.Request(context.Background(), req, transport.Addr{Transport: transport.UDP, AddrPort: dst})
	if err != nil {
		t.Fatal(err)
	}
	var times []time.Time
	start := time.Now()
	for resp := range tx.Responses() {
		if resp.StatusCode == 200 {
			times = append(times, time.Now())
		}
	}
	if len(times) < 5 {
		t.Fatalf("%d 2xx received, want the first and its retransmissions", len(times))
	}
	// Intervals double from T1 (50 ms) up to T2.
	var gaps []string
	for i := 1; i < len(times) && i < 5; i++ {
		gaps = append(gaps, times[i].Sub(times[i-1]).Round(10*time.Millisecond).String())
	}
	if g := times[2].Sub(times[1]); g < 70*time.Millisecond {
		t.Errorf("retransmission gaps %v: not doubling", gaps)
	}
	if !waitFor(3*time.Second, func() bool { return len(caller.requests(sip.BYE)) == 1 }) {
		t.Fatalf("no BYE after 64*T1 without ACK (%v since the INVITE)", time.Since(start))
	}
	t.Logf("%d 2xx, gaps %s..., BYE after %v", len(times), strings.Join(gaps, " "), time.Since(start).Round(100*time.Millisecond))
}

// TestEarlyMedia: the answer arrives in a 183 and the 200 carries none; the
// early dialog is confirmed by the 200 and media goes where the 183 said.
func TestEarlyMedia(t *testing.T) {
	callee := newFakePeer(t, func(p *fakePeer, tx *transaction.ServerTx) {
		req := tx.Request()
		if req.Method != sip.INVITE {
			_ = tx.Respond(sip.NewResponse(req, 200, ""))
			return
		}
		offer, err := sdp.Parse(req.Body)
		if err != nil {
			_ = tx.Respond(sip.NewResponse(req, 400, ""))
			return
		}
		answer, _, err := sdp.BuildAnswer(offer, &sdp.Local{Address: netip.MustParseAddr("127.0.0.1"),
			Media: []sdp.LocalMedia{{Type: "audio", Port: 40100, Codecs: []sdp.Codec{{PayloadType: 8, Name: "PCMA", ClockRate: 8000}}}}})
		if err != nil {
			_ = tx.Respond(sip.NewResponse(req, 488, ""))
			return
		}
		prog := sip.NewResponse(req, 183, "")
		prog.SetToTag("early")
		prog.Add("Contact", "<sip:callee@"+p.addr+">")
		prog.Add("Content-Type", "application/sdp")
		prog.Body = answer.Marshal()
		_ = tx.Respond(prog)
		time.Sleep(100 * time.Millisecond)
		ok := sip.NewResponse(req, 200, "")
		ok.SetToTag("early")
		ok.Add("Contact", "<sip:callee@"+p.addr+">")
		_ = tx.Respond(ok)
	})
	u := newUA(t, "alice", nil)
	ev := &eventLog{}
	c, err := u.Dial(ctxT(t, 5*time.Second), "sip:callee@"+callee.addr, CallOptions{OnEvent: ev.on})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if !ev.has(EventProgress) {
		t.Error("no progress event for the 183")
	}
	if got := c.Media().RemoteAddr().String(); got != "127.0.0.1:40100" {
		t.Errorf("media goes to %s, want the 183's 127.0.0.1:40100", got)
	}
	if c.Media().Codec().Name() != "PCMA" {
		t.Errorf("codec %s", c.Media().Codec().Name())
	}
	if id := c.Dialog().ID(); id.RemoteTag != "early" || c.Dialog().State().String() != "confirmed" {
		t.Errorf("dialog %v", c.Dialog())
	}
	if !waitFor(time.Second, func() bool { return callee.acks.Load() >= 1 }) {
		t.Error("2xx not ACKed")
	}
	if err := c.Hangup(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := len(callee.requests(sip.BYE)); n != 1 {
		t.Errorf("%d BYEs", n)
	}
}
