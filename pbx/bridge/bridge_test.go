package bridge_test

import (
	"context"
	"errors"
	"math"
	"net/netip"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/parley-sip/parley/internal/peertest"
	"github.com/parley-sip/parley/media"
	"github.com/parley-sip/parley/pbx/bridge"
	"github.com/parley-sip/parley/pbx/cdr"
	"github.com/parley-sip/parley/pbx/dialplan"
	"github.com/parley-sip/parley/pbx/leg"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
	"github.com/parley-sip/parley/transport"
	"github.com/parley-sip/parley/ua"
)

// pbx is a bridge on a loopback stack of its own, with phones (package ua)
// registered in a map standing in for the location store.
type pbx struct {
	b     *bridge.Bridge
	relay *media.Relay
	ports *media.PortAllocator
	addr  string
	cdrs  *memCDR

	mu      sync.Mutex
	devices map[string][]proxy.Target
}

type memCDR struct {
	mu sync.Mutex
	rs []cdr.Record
}

func (m *memCDR) Write(_ context.Context, r cdr.Record) error {
	m.mu.Lock()
	m.rs = append(m.rs, r)
	m.mu.Unlock()
	return nil
}
func (m *memCDR) Last(context.Context, int) ([]cdr.Record, error)         { return nil, nil }
func (m *memCDR) Query(context.Context, cdr.Filter) ([]cdr.Record, error) { return nil, nil }
func (m *memCDR) Close() error                                            { return nil }

// last waits for the n-th record and returns it.
func (m *memCDR) last(t *testing.T, n int) cdr.Record {
	t.Helper()
	var r cdr.Record
	ok := peertest.WaitFor(3*time.Second, func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		if len(m.rs) >= n {
			r = m.rs[n-1]
			return true
		}
		return false
	})
	if !ok {
		t.Fatalf("no call record %d", n)
	}
	return r
}

var users = []string{"alice", "bob", "carol", "dave"}

// newPBX starts a bridge with the dial plan plan (YAML, "" the default)
// and the relay on ports RTP ports (0: a free range of 64).
func newPBX(t testing.TB, plan string, ports int, edit ...func(*bridge.Config)) *pbx {
	t.Helper()
	var node yaml.Node
	if plan != "" {
		if err := yaml.Unmarshal([]byte(plan), &node); err != nil {
			t.Fatal(err)
		}
	}
	p0, err := dialplan.Parse(&node, dialplan.Options{Users: users})
	if err != nil {
		t.Fatal(err)
	}
	tp := transport.New(transport.Config{})
	p := &pbx{cdrs: &memCDR{}, devices: map[string][]proxy.Target{}}
	n := 64
	if ports > 0 {
		n = ports
	}
	lo, hi := peertest.FreePortRange(t, n)
	alloc, err := media.NewPortAllocator(lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	p.ports = alloc
	p.relay, err = media.NewRelay(media.RelayConfig{LocalAddr: netip.AddrFrom4([4]byte{127, 0, 0, 1}), Ports: alloc})
	if err != nil {
		t.Fatal(err)
	}
	var b *bridge.Bridge
	txl := transaction.New(transaction.Config{T1: 50 * time.Millisecond, OnAck: func(ack *sip.Request) { b.HandleAck(ack) }}, tp,
		transaction.HandlerFunc(func(tx *transaction.ServerTx) {
			req := tx.Request()
			switch {
			case req.ToTag() != "":
				if !b.ServeInDialog(tx) {
					_ = tx.Respond(sip.NewResponse(req, sip.StatusCallTransactionDoesNotExist, ""))
				}
			case req.Method == sip.INVITE:
				from, _ := req.From()
				b.ServeInvite(tx, from.URI.User)
			default:
				_ = tx.Respond(sip.NewResponse(req, sip.StatusMethodNotAllowed, ""))
			}
		}))
	tp.SetHandler(txl)
	bc := bridge.Config{
		Stack:   &leg.Stack{Tx: txl, TP: tp, Allow: "INVITE, ACK, CANCEL, BYE, UPDATE, INFO, OPTIONS"},
		Plan:    p0,
		Locator: proxy.LocatorFunc(p.locate),
		Domain:  "example.test",
		Relay:   p.relay,
		Ports:   alloc,
		CDR:     p.cdrs,
	}
	for _, e := range edit {
		e(&bc)
	}
	b, err = bridge.New(bc)
	if err != nil {
		t.Fatal(err)
	}
	p.b = b
	// Listen once the bridge exists: its handler reads b.
	if err := tp.Listen(transport.ListenSpec{Transport: transport.UDP, Addr: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	a, _ := tp.LocalAddr(transport.UDP)
	p.addr = a.AddrPort.String()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		b.Close(ctx)
		txl.Shutdown(ctx)
		tp.Shutdown(ctx)
		p.relay.Close()
	})
	return p
}

func (p *pbx) locate(_ context.Context, u sip.URI) ([]proxy.Target, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	known := false
	for _, n := range users {
		known = known || n == u.User
	}
	if !known {
		return nil, proxy.ErrNotFound
	}
	return append([]proxy.Target(nil), p.devices[u.User]...), nil
}

// phone starts a UA for user using the PBX as its outbound proxy; with
// register it is one of the user's devices.
func (p *pbx) phone(t *testing.T, user string, register bool, codecs ...string) *ua.UA {
	t.Helper()
	u, err := ua.New(ua.Config{User: user, Domain: "example.test", Server: p.addr, Listen: "127.0.0.1:0", T1: 50 * time.Millisecond, Codecs: codecs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		u.Close(ctx)
	})
	if register {
		p.mu.Lock()
		p.devices[user] = append(p.devices[user], proxy.Target{URI: u.Contact()})
		p.mu.Unlock()
	}
	return u
}

func incoming(t *testing.T, u *ua.UA, d time.Duration) *ua.Call {
	t.Helper()
	select {
	case c := <-u.Incoming():
		return c
	case <-time.After(d):
		t.Fatalf("%s: no incoming call within %v", u.ContactString(), d)
		return nil
	}
}

func waitDone(t *testing.T, c *ua.Call, what string) ua.EndInfo {
	t.Helper()
	select {
	case <-c.Done():
		return c.End()
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: call did not end", what)
		return ua.EndInfo{}
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// dialAnswered has alice call number and callee answer on its phone.
func dialAnswered(t *testing.T, alice *ua.UA, number string, callee *ua.UA) (out, in *ua.Call) {
	t.Helper()
	type res struct {
		c   *ua.Call
		err error
	}
	done := make(chan res, 1)
	go func() {
		c, err := alice.Dial(ctx(t), "sip:"+number+"@example.test", ua.CallOptions{})
		done <- res{c, err}
	}()
	in = incoming(t, callee, 5*time.Second)
	if err := in.Answer(ua.CallOptions{}); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("dial %s: %v", number, r.err)
	}
	return r.c, in
}

func statusOf(err error) int {
	var se *ua.StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// TestCallRelayedHoldBye: alice calls bob by name (the default plan); the
// media goes through the relay (bob's SDP names the relay, packets are
// forwarded), alice holds and resumes (re-INVITEs carried across: bob
// sees the hold), bob hangs up and alice's call ends; the record says
// answered, ended by the callee, anchored.
func TestCallRelayedHoldBye(t *testing.T) {
	p := newPBX(t, "", 0)
	alice := p.phone(t, "alice", true)
	bob := p.phone(t, "bob", true)
	out, in := dialAnswered(t, alice, "bob", bob)
	relayAddr := p.relay.Addr().String()
	if c := in.RemoteSDP().Connection; c == nil || c.Address != relayAddr {
		t.Errorf("bob's offer does not name the relay %s:\n%s", relayAddr, in.RemoteSDP())
	}
	if !peertest.WaitFor(3*time.Second, func() bool { return p.relay.Stats().Packets > 20 }) {
		t.Errorf("relay forwarded too little: %+v", p.relay.Stats())
	}
	if err := out.Hold(ctx(t)); err != nil {
		t.Fatalf("hold: %v", err)
	}
	if !peertest.WaitFor(2*time.Second, in.RemoteHold) {
		t.Error("bob does not see the hold")
	}
	if err := out.Resume(ctx(t)); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if !peertest.WaitFor(2*time.Second, func() bool { return !in.RemoteHold() }) {
		t.Error("bob still on hold after resume")
	}
	// The callee holds by UPDATE (RFC 3311): carried to alice.
	if err := in.HoldByUpdate(ctx(t)); err != nil {
		t.Fatalf("bob's hold by UPDATE: %v", err)
	}
	if !peertest.WaitFor(2*time.Second, out.RemoteHold) {
		t.Error("alice does not see bob's hold")
	}
	if err := in.ResumeByUpdate(ctx(t)); err != nil {
		t.Fatalf("bob's resume by UPDATE: %v", err)
	}
	if err := in.Hangup(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if e := waitDone(t, out, "alice"); !e.Remote {
		t.Errorf("alice's call ended %+v, want by the far end", e)
	}
	r := p.cdrs.last(t, 1)
	if r.Caller != "alice" || r.Callee != "bob" || r.Disposition != cdr.Answered || r.Cause.Side != cdr.SideCallee || !r.Anchored {
		t.Errorf("record %+v", r)
	}
	if !peertest.WaitFor(2*time.Second, func() bool { return p.relay.Stats().Streams == 0 }) {
		t.Errorf("relay streams left: %+v", p.relay.Stats())
	}
	if st := p.b.Stats(); st.Active != 0 || st.Answered != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestCancelReachesEveryLeg: bob has two devices; alice gives up while
// they ring: both see the call cancelled, alice gets 487.
func TestCancelReachesEveryLeg(t *testing.T) {
	p := newPBX(t, "", 0)
	alice := p.phone(t, "alice", true)
	bob1 := p.phone(t, "bob", true)
	bob2 := p.phone(t, "bob", true)
	c, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := alice.Dial(c, "sip:bob@example.test", ua.CallOptions{})
		errc <- err
	}()
	in1 := incoming(t, bob1, 5*time.Second)
	in2 := incoming(t, bob2, 5*time.Second)
	cancel()
	if code := statusOf(<-errc); code != 487 {
		t.Errorf("alice's dial ended %d, want 487", code)
	}
	for i, in := range []*ua.Call{in1, in2} {
		if e := waitDone(t, in, "bob"); e.Status != 487 && !strings.Contains(e.Reason, "cancel") {
			t.Errorf("bob's device %d: %+v, want cancelled", i+1, e)
		}
	}
	if r := p.cdrs.last(t, 1); r.Disposition != cdr.Cancelled || r.Cause.Side != cdr.SideCaller {
		t.Errorf("record %+v", r)
	}
}

// TestFailures: each way a call can fail gets its code.
func TestFailures(t *testing.T) {
	p := newPBX(t, "users:\n  dave:\n    dnd: true\n", 0)
	alice := p.phone(t, "alice", true)
	bob := p.phone(t, "bob", true)
	_ = p.phone(t, "carol", false) // carol has no device registered

	if _, err := alice.Dial(ctx(t), "sip:nobody@example.test", ua.CallOptions{}); statusOf(err) != 404 {
		t.Errorf("unknown number: %v, want 404", err)
	}
	if _, err := alice.Dial(ctx(t), "sip:carol@example.test", ua.CallOptions{}); statusOf(err) != 480 {
		t.Errorf("nobody registered: %v, want 480", err)
	}
	if _, err := alice.Dial(ctx(t), "sip:dave@example.test", ua.CallOptions{}); statusOf(err) != 486 {
		t.Errorf("do not disturb: %v, want 486", err)
	}
	go func() {
		in := incoming(t, bob, 5*time.Second)
		in.Reject(486, "")
	}()
	if _, err := alice.Dial(ctx(t), "sip:bob@example.test", ua.CallOptions{}); statusOf(err) != 486 {
		t.Errorf("busy: %v, want 486", err)
	}
	go func() {
		in := incoming(t, bob, 5*time.Second)
		in.Reject(488, "")
	}()
	if _, err := alice.Dial(ctx(t), "sip:bob@example.test", ua.CallOptions{}); statusOf(err) != 488 {
		t.Errorf("no common codec: %v, want 488", err)
	}
	// Records are written as each call's goroutine ends, so in any order.
	p.cdrs.last(t, 5)
	want := map[int]cdr.Disposition{404: cdr.Failed, 480: cdr.NoAnswer, 486: cdr.Busy, 488: cdr.Failed}
	p.cdrs.mu.Lock()
	for _, r := range p.cdrs.rs {
		if d, ok := want[r.Cause.Code]; !ok || d != r.Disposition || r.Cause.Side != cdr.SidePBX {
			t.Errorf("record %+v", r)
		}
	}
	p.cdrs.mu.Unlock()
}

// TestPortsExhausted: a range too small for a relayed call's two port
// pairs gets 503 with Retry-After.
func TestPortsExhausted(t *testing.T) {
	p := newPBX(t, "", 2) // one pair
	alice := p.phone(t, "alice", true)
	_ = p.phone(t, "bob", true)
	if _, err := alice.Dial(ctx(t), "sip:bob@example.test", ua.CallOptions{}); statusOf(err) != 503 {
		t.Errorf("ports exhausted: %v, want 503", err)
	}
}

// TestRingGroupSequential: carol rings first for 1 s and does not answer;
// then bob's phone rings and he answers. Carol's ringing was cancelled.
func TestRingGroupSequential(t *testing.T) {
	p := newPBX(t, `
routes:
  - match: "200"
    group: {strategy: sequential, members: [{user: carol, timeout: 1s}, bob]}
`, 0)
	alice := p.phone(t, "alice", true)
	bob := p.phone(t, "bob", true)
	carol := p.phone(t, "carol", true)
	done := make(chan error, 1)
	var out *ua.Call
	go func() {
		var err error
		out, err = alice.Dial(ctx(t), "sip:200@example.test", ua.CallOptions{})
		done <- err
	}()
	ic := incoming(t, carol, 5*time.Second)
	in := incoming(t, bob, 5*time.Second)
	if e := waitDone(t, ic, "carol"); e.Status != 487 && !strings.Contains(e.Reason, "cancel") {
		t.Errorf("carol's ringing ended %+v, want cancelled", e)
	}
	if err := in.Answer(ua.CallOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := out.Hangup(ctx(t)); err != nil {
		t.Fatal(err)
	}
	waitDone(t, in, "bob")
	if r := p.cdrs.last(t, 1); r.Callee != "bob" || r.Route != "200" || r.Disposition != cdr.Answered || r.Cause.Side != cdr.SideCaller {
		t.Errorf("record %+v", r)
	}
}

// TestForwardNoAnswer: bob does not answer within 1 s; his calls go to
// carol, who answers.
func TestForwardNoAnswer(t *testing.T) {
	p := newPBX(t, "users:\n  bob:\n    forward: {no_answer: carol, after: 1s}\n", 0)
	alice := p.phone(t, "alice", true)
	bob := p.phone(t, "bob", true)
	carol := p.phone(t, "carol", true)
	go func() { incoming(t, bob, 5*time.Second) }()
	out, in := dialAnswered(t, alice, "bob", carol)
	if err := out.Hangup(ctx(t)); err != nil {
		t.Fatal(err)
	}
	waitDone(t, in, "carol")
	if r := p.cdrs.last(t, 1); r.Callee != "carol" || r.Dialled != "bob" || r.Disposition != cdr.Answered {
		t.Errorf("record %+v", r)
	}
}

// TestTranscodePCMUToPCMA: alice's phone speaks only PCMU, bob's only
// PCMA. The PBX offers bob PCMA too, bob answers PCMA, alice's answer
// says PCMU, and the relay transcodes: each hears the other's tone.
func TestTranscodePCMUToPCMA(t *testing.T) {
	p := newPBX(t, "", 0)
	alice := p.phone(t, "alice", true, "PCMU")
	bob := p.phone(t, "bob", true, "PCMA")
	var heardByBob, heardByAlice media.BufferSink
	done := make(chan error, 1)
	var out *ua.Call
	go func() {
		var err error
		out, err = alice.Dial(ctx(t), "sip:bob@example.test", ua.CallOptions{
			Play: media.NewTone(1000, 8000, 8000, 10*time.Second), Record: &heardByAlice})
		done <- err
	}()
	in := incoming(t, bob, 5*time.Second)
	if err := in.Answer(ua.CallOptions{Play: media.NewTone(600, 8000, 8000, 10*time.Second), Record: &heardByBob}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if a, b := out.Stream().Codec.Name, in.Stream().Codec.Name; a != "PCMU" || b != "PCMA" {
		t.Errorf("alice sends %s, bob %s; want PCMU and PCMA", a, b)
	}
	peertest.WaitFor(5*time.Second, func() bool {
		return len(heardByBob.Samples()) > 8000 && len(heardByAlice.Samples()) > 8000
	})
	for _, tc := range []struct {
		who  string
		buf  *media.BufferSink
		want float64
	}{{"bob", &heardByBob, 1000}, {"alice", &heardByAlice, 600}} {
		s := tc.buf.Samples()
		if len(s) > 4000 {
			s = s[len(s)-4000:] // after the jitter buffer settled
		}
		f, level := media.DominantFrequency(s, 8000)
		if f < tc.want-30 || f > tc.want+30 || level < 1000 {
			t.Errorf("%s heard %.0f Hz at level %.0f (%d samples), want %.0f Hz", tc.who, f, level, len(s), tc.want)
		}
	}
	out.Hangup(ctx(t))
	waitDone(t, in, "bob")
}

// register makes a raw phone one of user's devices.
func (p *pbx) register(user string, ph *rawPhone) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.devices[user] = append(p.devices[user], proxy.Target{
		URI:  sip.URI{Scheme: "sip", User: user, Host: ph.addr.AddrPort.Addr().String(), Port: int(ph.addr.AddrPort.Port())},
		Flow: ph.addr,
	})
}

// TestEarlyMediaRelayed: the callee rings (180) and sends early media
// (183 with SDP) before it answers; the caller gets both, the 183's SDP
// naming the relay, then the 200.
func TestEarlyMediaRelayed(t *testing.T) {
	p := newPBX(t, "", 0)
	bob := newRawPhone(t, 200, 180, 183)
	p.register("bob", bob)
	alice := newRawPhone(t, 0)
	l, got := alice.call(t, p.addr, "alice", "bob")
	var codes []int
	for _, r := range got {
		codes = append(codes, r.StatusCode)
		if r.StatusCode == 183 && !strings.Contains(string(r.Body), "c=IN IP4 "+p.relay.Addr().String()) {
			t.Errorf("183 SDP does not name the relay:\n%s", r.Body)
		}
	}
	if !slices.Contains(codes, 180) || !slices.Contains(codes, 183) || codes[len(codes)-1] != 200 {
		t.Errorf("caller got %v, want 180, 183 (early media), 200", codes)
	}
	if resp, err := l.Request(ctx(t), sip.BYE, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("BYE: %v %v", resp, err)
	}
	if !peertest.WaitFor(2*time.Second, func() bool { return bob.requests(sip.BYE) == 1 }) {
		t.Error("bob got no BYE")
	}
}

func benchmarkCall(b *testing.B, plan string) {
	p := newPBX(b, plan, 0)
	bob := newRawPhone(b, 200)
	p.register("bob", bob)
	alice := newRawPhone(b, 0)
	c := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		l, got := alice.call(b, p.addr, "alice", "bob")
		if got[len(got)-1].StatusCode != 200 {
			b.Fatalf("call got %d", got[len(got)-1].StatusCode)
		}
		if resp, err := l.Request(c, sip.BYE, nil); err != nil || resp.StatusCode != 200 {
			b.Fatalf("BYE: %v %v", resp, err)
		}
	}
	b.StopTimer()
	peertest.WaitFor(5*time.Second, func() bool { return p.b.Stats().Active == 0 })
}

// BenchmarkCallRelayed is one whole call through the B2BUA on loopback —
// INVITE, 200, ACK, BYE, 200 on both legs, two relay port pairs opened and
// closed, a call record — with the caller's and callee's stacks in the
// same process (their work is counted too).
func BenchmarkCallRelayed(b *testing.B) { benchmarkCall(b, "") }

// BenchmarkCallDirect is the same call with the SDP passed through (no
// relay ports).
func BenchmarkCallDirect(b *testing.B) { benchmarkCall(b, "users_by_name: direct\n") }

// TestSessionRefreshEndsDeadCall: the PBX refreshes both legs' sessions
// (RFC 4028, by UPDATE) at half the interval; when bob's phone dies, the
// refresh gets no answer and the PBX hangs up alice.
func TestSessionRefreshEndsDeadCall(t *testing.T) {
	p := newPBX(t, "", 0, func(c *bridge.Config) { c.SessionExpires = time.Second })
	alice := p.phone(t, "alice", true)
	bob := newRawPhone(t, 200)
	p.register("bob", bob)
	out, err := alice.Dial(ctx(t), "sip:bob@example.test", ua.CallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !peertest.WaitFor(3*time.Second, func() bool { return bob.requests(sip.UPDATE) >= 2 }) {
		t.Fatalf("bob got %d session refreshes, want 2 within 3 s", bob.requests(sip.UPDATE))
	}
	if out.State() != ua.StateActive {
		t.Fatalf("alice's call is %s after refreshes, want active", out.State())
	}
	bob.close()
	select {
	case <-out.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("alice's call not ended after bob's phone died")
	}
	r := p.cdrs.last(t, 1)
	if r.Disposition != cdr.Answered || r.Cause.Code != 408 || r.Cause.Side != cdr.SideCallee {
		t.Errorf("record %+v, want answered, ended by the callee's failed refresh (408)", r)
	}
}

// TestPlayAndHangUp: *99 answers, plays a 1 s tone and hangs up; the
// caller hears the tone and sees the PBX end the call.
func TestPlayAndHangUp(t *testing.T) {
	wav := filepath.Join(t.TempDir(), "closed.wav")
	peertest.WriteToneWAV(t, wav, 800, time.Second)
	p := newPBX(t, "routes:\n  - match: \"*99\"\n    play: "+wav+"\n", 0)
	alice := p.phone(t, "alice", true)
	var heard media.BufferSink
	out, err := alice.Dial(ctx(t), "sip:*99@example.test", ua.CallOptions{Record: &heard})
	if err != nil {
		t.Fatal(err)
	}
	if e := waitDone(t, out, "alice"); !e.Remote {
		t.Errorf("alice's call ended %+v, want by the PBX", e)
	}
	f, level := media.DominantFrequency(heard.Samples(), 8000)
	if f < 770 || f > 830 || level < 1000 {
		t.Errorf("alice heard %.0f Hz at level %.0f (%d samples), want the 800 Hz prompt", f, level, len(heard.Samples()))
	}
	if r := p.cdrs.last(t, 1); r.Disposition != cdr.Answered || r.Cause.Side != cdr.SidePBX || r.Route != "*99" {
		t.Errorf("record %+v", r)
	}
	if !peertest.WaitFor(2*time.Second, func() bool { return p.ports.Stats().InUse == 0 }) {
		t.Errorf("ports in use after the prompt: %+v", p.ports.Stats())
	}
}

// TestResourcesReturnAfterManyCalls: 1,000 relayed calls, 10 at a time,
// and afterwards the relay's ports, its streams, the PBX's calls and the
// goroutines are back where they started.
func TestResourcesReturnAfterManyCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 calls")
	}
	p := newPBX(t, "", 0)
	bob := newRawPhone(t, 200)
	p.register("bob", bob)
	alice := newRawPhone(t, 0)
	// One call first, so that lazily started goroutines (relay workers,
	// the CDR side) count in the baseline.
	l, _ := alice.call(t, p.addr, "alice", "bob")
	l.Request(ctx(t), sip.BYE, nil)
	peertest.WaitFor(2*time.Second, func() bool { return p.b.Stats().Active == 0 })
	base := runtime.NumGoroutine()
	const calls, parallel = 1000, 10 // 64 ports hold 16 relayed calls
	var wg sync.WaitGroup
	errs := make(chan string, calls)
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range calls / parallel {
				l, got := alice.call(t, p.addr, "alice", "bob")
				if c := got[len(got)-1].StatusCode; c != 200 {
					errs <- "call got " + strconv.Itoa(c)
					continue
				}
				if resp, err := l.Request(context.Background(), sip.BYE, nil); err != nil || resp.StatusCode != 200 {
					errs <- "BYE failed"
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	ok := peertest.WaitFor(5*time.Second, func() bool {
		return p.b.Stats().Active == 0 && p.relay.Stats().Streams == 0 && p.ports.Stats().InUse == 0 &&
			runtime.NumGoroutine() <= base+2
	})
	if !ok {
		t.Errorf("after %d calls: PBX %+v, relay %+v, ports %+v, goroutines %d (baseline %d)",
			calls, p.b.Stats(), p.relay.Stats(), p.ports.Stats(), runtime.NumGoroutine(), base)
	}
	if st := p.b.Stats(); st.Answered != calls+1 {
		t.Errorf("answered %d calls, want %d", st.Answered, calls+1)
	}
}

// BenchmarkActiveCallMemory holds b.N relayed calls up at once and reports
// the heap each takes (signalling state of the PBX and both test phones,
// the relay's stream state; not the kernel's socket buffers).
func BenchmarkActiveCallMemory(b *testing.B) {
	p := newPBX(b, "", 0)
	bob := newRawPhone(b, 200)
	p.register("bob", bob)
	alice := newRawPhone(b, 0)
	n := min(b.N, 15) // 64 ports: two pairs per call
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	legs := make([]*leg.Leg, 0, n)
	for range n {
		l, _ := alice.call(b, p.addr, "alice", "bob")
		legs = append(legs, l)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/float64(n), "heapB/call")
	for _, l := range legs {
		l.Request(context.Background(), sip.BYE, nil)
	}
}

// TestHoldMusic: alice holds bob; bob hears the hold music (a 500 Hz WAV
// here) instead of silence; alice resumes and bob hears alice again.
func TestHoldMusic(t *testing.T) {
	wav := filepath.Join(t.TempDir(), "moh.wav")
	peertest.WriteToneWAV(t, wav, 500, 2*time.Second) // shorter than the hold: it loops
	p := newPBX(t, "", 0, func(c *bridge.Config) { c.HoldMusic = wav })
	alice := p.phone(t, "alice", true)
	bob := p.phone(t, "bob", true)
	var heard media.BufferSink
	done := make(chan error, 1)
	var out *ua.Call
	go func() {
		var err error
		out, err = alice.Dial(ctx(t), "sip:bob@example.test", ua.CallOptions{Play: media.NewTone(1000, 8000, 8000, time.Minute)})
		done <- err
	}()
	in := incoming(t, bob, 5*time.Second)
	if err := in.Answer(ua.CallOptions{Record: &heard}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	tail := func() (float64, float64) {
		s := heard.Samples()
		if len(s) > 4000 {
			s = s[len(s)-4000:]
		}
		return media.DominantFrequency(s, 8000)
	}
	expect := func(what string, want float64) {
		t.Helper()
		var f, level float64
		if !peertest.WaitFor(4*time.Second, func() bool { f, level = tail(); return math.Abs(f-want) < 30 && level > 1000 }) {
			t.Errorf("%s: bob hears %.0f Hz at level %.0f, want %.0f Hz", what, f, level, want)
		}
	}
	expect("talking", 1000)
	if err := out.Hold(ctx(t)); err != nil {
		t.Fatal(err)
	}
	expect("on hold", 500)
	time.Sleep(2500 * time.Millisecond) // past the WAV's end: it loops
	expect("still on hold", 500)
	if err := out.Resume(ctx(t)); err != nil {
		t.Fatal(err)
	}
	expect("resumed", 1000)
	out.Hangup(ctx(t))
	waitDone(t, in, "bob")
	if !peertest.WaitFor(2*time.Second, func() bool { return p.ports.Stats().InUse == 0 }) {
		t.Errorf("ports in use after the call: %+v", p.ports.Stats())
	}
}

// TestHoldMusicDefaultChime: without a configured WAV the held party hears
// the built-in chime (C5 E5 G5 E5).
func TestHoldMusicDefaultChime(t *testing.T) {
	p := newPBX(t, "", 0)
	alice := p.phone(t, "alice", true)
	bob := p.phone(t, "bob", true)
	var heard media.BufferSink
	done := make(chan error, 1)
	var out *ua.Call
	go func() {
		var err error
		out, err = alice.Dial(ctx(t), "sip:bob@example.test", ua.CallOptions{Play: media.NewTone(1000, 8000, 8000, time.Minute)})
		done <- err
	}()
	in := incoming(t, bob, 5*time.Second)
	if err := in.Answer(ua.CallOptions{Record: &heard}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := out.Hold(ctx(t)); err != nil {
		t.Fatal(err)
	}
	var f, level float64
	chime := func() bool {
		s := heard.Samples()
		if len(s) > 2400 {
			s = s[len(s)-2400:]
		}
		f, level = media.DominantFrequency(s, 8000)
		for _, n := range []float64{523, 659, 784} {
			if math.Abs(f-n) < 30 && level > 300 {
				return true
			}
		}
		return false
	}
	if !peertest.WaitFor(4*time.Second, chime) {
		t.Errorf("on hold bob hears %.0f Hz at level %.0f, want the chime's notes", f, level)
	}
	out.Hangup(ctx(t))
	waitDone(t, in, "bob")
}
