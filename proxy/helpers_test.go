package proxy

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
	"github.com/parley-sip/parley/transport"
)

// testT1 keeps the transaction timers short: timer B/F and M/L are
// 64*T1 = 1.28 s, so branches that time out and 2xx transactions end
// quickly.
const testT1 = 20 * time.Millisecond

// stack is a real transport + transaction layer on loopback UDP with a
// proxy on top, wired the way the server wires it.
type stack struct {
	tp   *transport.Layer
	txl  *transaction.Layer
	p    *Proxy
	addr netip.AddrPort
}

// stackOpt adjusts the proxy's and the transaction layer's configuration.
type stackOpt func(*Config, *transaction.Config)

// withT1 sets the transaction layer's T1 (the tests' default is testT1).
func withT1(d time.Duration) stackOpt {
	return func(_ *Config, tc *transaction.Config) { tc.T1 = d }
}

func newStack(t testing.TB, loc Locator, opts ...stackOpt) *stack {
	t.Helper()
	s := &stack{tp: transport.New(transport.Config{})}
	if err := s.tp.Listen(transport.ListenSpec{Transport: transport.UDP, Addr: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	a, _ := s.tp.LocalAddr(transport.UDP)
	s.addr = a.AddrPort
	var p *Proxy
	tc := transaction.Config{
		T1:              testT1,
		OnAck:           func(ack *sip.Request) { p.HandleAck(ack) },
		OnStrayResponse: func(r *sip.Response) { p.HandleStrayResponse(r) },
	}
	cfg := Config{
		Transport: s.tp, Domains: []string{"example.test"},
		Locator: loc, RecordRoute: true,
	}
	for _, o := range opts {
		o(&cfg, &tc)
	}
	s.txl = transaction.New(tc, s.tp, transaction.HandlerFunc(func(tx *transaction.ServerTx) { p.ServeSIP(tx) }))
	cfg.Transactions = s.txl
	var err error
	if p, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	s.p = p
	s.tp.SetHandler(s.txl)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s.txl.Shutdown(ctx)
		s.tp.Shutdown(ctx)
	})
	return s
}

// settle waits until no response context goroutine is left: every
// forwarded transaction has ended (timer M, K or D at the test T1).
func (s *stack) settle(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.p.live.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d proxy goroutines still running", s.p.live.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rrURI is the Record-Route value the proxy writes for UDP.
func (s *stack) rrURI() string {
	return fmt.Sprintf("<sip:%s;transport=udp;lr>", s.addr)
}

// staticLocator maps AORs ("bob@example.test") to targets; users in known
// with no entry have no registration.
type staticLocator struct {
	mu      sync.Mutex
	targets map[string][]Target
	known   map[string]bool
}

func (l *staticLocator) Locate(_ context.Context, u sip.URI) ([]Target, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := u.User + "@" + strings.ToLower(u.Host)
	if ts, ok := l.targets[key]; ok {
		return append([]Target(nil), ts...), nil
	}
	if l.known[key] {
		return nil, nil
	}
	return nil, ErrNotFound
}

func (l *staticLocator) set(key string, ts ...Target) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.targets == nil {
		l.targets = map[string][]Target{}
	}
	l.targets[key] = ts
}

func target(t testing.TB, uri string, q int) Target {
	t.Helper()
	u, err := sip.ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	return Target{URI: u, Q: q}
}

// ua is a minimal SIP peer on a raw UDP socket: tests script it message by
// message.
type ua struct {
	t    testing.TB
	conn *net.UDPConn
	addr netip.AddrPort
	in   chan received
}

type received struct {
	msg  sip.Message
	from netip.AddrPort
}

func newUA(t testing.TB) *ua {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	u := &ua{t: t, conn: c, addr: c.LocalAddr().(*net.UDPAddr).AddrPort(), in: make(chan received, 256)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			m, err := sip.Parse(append([]byte(nil), buf[:n]...))
			if err != nil {
				continue
			}
			select {
			case u.in <- received{m, from}:
			default:
			}
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return u
}

func (u *ua) uri(user string) string { return fmt.Sprintf("sip:%s@%s", user, u.addr) }

func (u *ua) send(to netip.AddrPort, m sip.Message) {
	u.t.Helper()
	if _, err := u.conn.WriteToUDPAddrPort([]byte(m.String()), to); err != nil {
		u.t.Fatal(err)
	}
}

// next returns the next message that passes keep, failing after d.
func (u *ua) next(d time.Duration, what string, keep func(sip.Message) bool) received {
	u.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case r := <-u.in:
			if keep(r.msg) {
				return r
			}
		case <-timer.C:
			u.t.Fatalf("%s: nothing within %v", what, d)
			return received{}
		}
	}
}

// requestFrom waits for a request with the method and returns where it
// came from.
func (u *ua) requestFrom(method string) (*sip.Request, netip.AddrPort) {
	u.t.Helper()
	r := u.next(5*time.Second, "waiting for "+method, func(m sip.Message) bool {
		req, ok := m.(*sip.Request)
		return ok && req.Method == method
	})
	return r.msg.(*sip.Request), r.from
}

// response waits for a response to method with a code other than 100
// (and, if code != 0, that code).
func (u *ua) response(method string, code int) *sip.Response {
	u.t.Helper()
	r := u.next(8*time.Second, fmt.Sprintf("waiting for %d to %s", code, method), func(m sip.Message) bool {
		resp, ok := m.(*sip.Response)
		if !ok || resp.StatusCode == 100 {
			return false
		}
		cs, _ := resp.CSeq()
		return cs.Method == method && (code == 0 || resp.StatusCode == code)
	})
	return r.msg.(*sip.Response)
}

// none checks that no message passing keep arrives within d.
func (u *ua) none(d time.Duration, what string, keep func(sip.Message) bool) {
	u.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case r := <-u.in:
			if keep(r.msg) {
				u.t.Fatalf("unexpected %s:\n%s", what, r.msg)
			}
		case <-timer.C:
			return
		}
	}
}

// reply answers req (sent from `to`) with code and To tag.
func (u *ua) reply(to netip.AddrPort, req *sip.Request, code int, tag string, extra ...string) {
	u.t.Helper()
	resp := sip.NewResponse(req, code, "")
	if tag != "" && code > 100 {
		resp.SetToTag(tag)
	}
	if code < 300 && code > 100 {
		resp.Add("Contact", "<"+u.uri("uas")+">")
		// §12.1.1: the UAS copies Record-Route into its dialog
		// establishing responses.
		for _, f := range req.Fields() {
			if f.Is("Record-Route") {
				resp.Add("Record-Route", f.Value)
			}
		}
	}
	for i := 0; i+1 < len(extra); i += 2 {
		resp.Add(extra[i], extra[i+1])
	}
	u.send(to, resp)
}

// call is the caller's side of a dialog.
type call struct {
	u       *ua
	callID  string
	fromTag string
	toTag   string
	to      string
}

func (u *ua) newCall(to string) *call {
	return &call{u: u, callID: transaction.NewTag() + "@test", fromTag: transaction.NewTag(), to: to}
}

// req builds a request in the call; branch "" makes a fresh one.
func (c *call) req(method, ruri string, cseq int, routes ...string) *sip.Request {
	u, err := sip.ParseURI(ruri)
	if err != nil {
		c.u.t.Fatal(err)
	}
	r := sip.NewRequest(method, u)
	r.Add("Via", fmt.Sprintf("SIP/2.0/UDP %s;branch=%s;rport", c.u.addr, transaction.NewBranch()))
	r.Add("Max-Forwards", "70")
	for _, rt := range routes {
		r.Add("Route", rt)
	}
	to := "<" + c.to + ">"
	if c.toTag != "" {
		to += ";tag=" + c.toTag
	}
	r.Add("To", to)
	r.Add("From", "<sip:alice@example.test>;tag="+c.fromTag)
	r.Add("Call-ID", c.callID)
	r.Add("CSeq", strconv.Itoa(cseq)+" "+method)
	r.Add("Contact", "<"+c.u.uri("alice")+">")
	return r
}

// ackFinal ACKs a non-2xx final response to inv (§17.1.1.3): the same
// branch, the response's To.
func (c *call) ackFinal(to netip.AddrPort, inv *sip.Request, resp *sip.Response) {
	ack := sip.NewRequest(sip.ACK, inv.URI)
	v, _ := inv.Get("Via")
	ack.Add("Via", v)
	ack.Add("Max-Forwards", "70")
	toh, _ := resp.Get("To")
	ack.Add("To", toh)
	f, _ := inv.Get("From")
	ack.Add("From", f)
	ack.Add("Call-ID", c.callID)
	cs, _ := inv.CSeq()
	ack.Add("CSeq", strconv.Itoa(int(cs.Seq))+" ACK")
	c.u.send(to, ack)
}

// uas is a scripted callee: it answers each INVITE with the provisional
// codes, then (after delay, unless final is 0) the final code; answers
// CANCEL with 200 and the INVITE with 487; answers other requests with
// other (default 200). Everything it receives is recorded.
type uas struct {
	*ua
	tag     string
	prov    []int
	final   int
	delay   time.Duration
	other   int
	headers []string // extra header name/value pairs on the INVITE's final
	contact string   // Contact of its responses (default: its own address)

	mu   sync.Mutex
	reqs []*sip.Request
	done map[string]bool // INVITE branches with a final response
	stop chan struct{}
}

func newUAS(t testing.TB, prov []int, final int, delay time.Duration, opts ...func(*uas)) *uas {
	s := &uas{ua: newUA(t), tag: transaction.NewTag(), prov: prov, final: final, delay: delay, other: 200, done: map[string]bool{}, stop: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	go s.loop()
	t.Cleanup(func() { close(s.stop) })
	return s
}

// reply answers with the UAS's own Contact.
func (s *uas) reply(to netip.AddrPort, req *sip.Request, code int, tag string, extra ...string) {
	if s.contact != "" && code > 100 && code < 300 {
		extra = append(extra, "Contact", "<"+s.contact+">")
		resp := sip.NewResponse(req, code, "")
		resp.SetToTag(tag)
		for _, f := range req.Fields() {
			if f.Is("Record-Route") {
				resp.Add("Record-Route", f.Value)
			}
		}
		for i := 0; i+1 < len(extra); i += 2 {
			resp.Add(extra[i], extra[i+1])
		}
		s.send(to, resp)
		return
	}
	s.ua.reply(to, req, code, tag, extra...)
}

func (s *uas) loop() {
	seen := map[string]bool{}
	for {
		var r received
		select {
		case r = <-s.in:
		case <-s.stop:
			return
		}
		req, ok := r.msg.(*sip.Request)
		if !ok {
			continue
		}
		v, _ := req.TopVia()
		key := v.Branch() + req.Method
		retrans := seen[key]
		seen[key] = true
		if !retrans {
			s.mu.Lock()
			s.reqs = append(s.reqs, req)
			s.mu.Unlock()
		}
		switch req.Method {
		case sip.ACK:
		case sip.INVITE:
			if retrans {
				continue
			}
			for _, code := range s.prov {
				s.reply(r.from, req, code, s.tag)
			}
			if s.final != 0 {
				from := r.from
				time.AfterFunc(s.delay, func() {
					if s.finish(v.Branch()) {
						s.reply(from, req, s.final, s.tag, s.headers...)
					}
				})
			}
		case sip.CANCEL:
			s.reply(r.from, req, 200, s.tag)
			if s.finish(v.Branch()) {
				inv := sip.NewResponse(req, 487, "")
				inv.SetToTag(s.tag)
				cs, _ := req.CSeq()
				inv.Set("CSeq", strconv.Itoa(int(cs.Seq))+" INVITE")
				s.send(r.from, inv)
			}
		default:
			s.reply(r.from, req, s.other, s.tag)
		}
	}
}

// finish marks the INVITE with the branch answered; false if it was.
func (s *uas) finish(branch string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done[branch] {
		return false
	}
	s.done[branch] = true
	return true
}

// received returns the requests received with the method.
func (s *uas) received(method string) []*sip.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*sip.Request
	for _, r := range s.reqs {
		if r.Method == method {
			out = append(out, r)
		}
	}
	return out
}

// waitFor waits until the UAS has received n requests with the method.
func (s *uas) waitFor(t testing.TB, method string, n int) []*sip.Request {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := s.received(method)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("UAS %s got %d %s, want %d", s.addr, len(got), method, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
