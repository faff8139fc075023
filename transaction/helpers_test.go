package transaction

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// sent is one message the fake Sender was given.
type sent struct {
	at   time.Duration // since the sender was made (fake time in a bubble)
	req  *sip.Request
	resp *sip.Response
	dst  transport.Addr
}

func (s sent) String() string {
	if s.req != nil {
		return fmt.Sprintf("%v %s", s.at, s.req.Method)
	}
	return fmt.Sprintf("%v %d", s.at, s.resp.StatusCode)
}

// fakeSender records what the layer sends, and when.
type fakeSender struct {
	mu    sync.Mutex
	start time.Time
	msgs  []sent
	fail  error
}

func newFakeSender() *fakeSender { return &fakeSender{start: time.Now()} }

func (f *fakeSender) SendRequest(req *sip.Request, dst transport.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.msgs = append(f.msgs, sent{at: time.Since(f.start), req: req, dst: dst})
	return nil
}

func (f *fakeSender) SendResponse(resp *sip.Response) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.msgs = append(f.msgs, sent{at: time.Since(f.start), resp: resp})
	return nil
}

func (f *fakeSender) setFail(err error) {
	f.mu.Lock()
	f.fail = err
	f.mu.Unlock()
}

func (f *fakeSender) all() []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sent(nil), f.msgs...)
}

// requests returns the sent requests with the method.
func (f *fakeSender) requests(method string) []sent {
	var out []sent
	for _, s := range f.all() {
		if s.req != nil && s.req.Method == method {
			out = append(out, s)
		}
	}
	return out
}

// responses returns the sent responses with the code (0: all).
func (f *fakeSender) responses(code int) []sent {
	var out []sent
	for _, s := range f.all() {
		if s.resp != nil && (code == 0 || s.resp.StatusCode == code) {
			out = append(out, s)
		}
	}
	return out
}

func (f *fakeSender) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.msgs)
}

func times(ss []sent) []time.Duration {
	out := make([]time.Duration, len(ss))
	for i, s := range ss {
		out[i] = s.at
	}
	return out
}

func ms(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, n := range v {
		out[i] = time.Duration(n) * time.Millisecond
	}
	return out
}

func sameTimes(t *testing.T, what string, got, want []time.Duration) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s sent at\n got %v\nwant %v", what, got, want)
	}
}

var (
	udpOrigin = sip.Origin{Source: netip.MustParseAddrPort("192.0.2.1:5060"), Local: netip.MustParseAddrPort("198.51.100.1:5060"), Transport: "UDP"}
	tcpOrigin = sip.Origin{Source: netip.MustParseAddrPort("192.0.2.1:40000"), Local: netip.MustParseAddrPort("198.51.100.1:5060"), Transport: "TCP"}
	udpDst    = transport.Addr{Transport: "UDP", AddrPort: netip.MustParseAddrPort("192.0.2.9:5060")}
	tcpDst    = transport.Addr{Transport: "TCP", AddrPort: netip.MustParseAddrPort("192.0.2.9:5060")}
)

// msg describes a test request.
type msg struct {
	method  string
	branch  string // "" for none
	via     string // transport in Via, default UDP
	cseq    int
	callID  string
	fromTag string
	toTag   string
	uri     string
	extra   string // more header lines, each ending in \r\n
}

func (m msg) build(origin sip.Origin) *sip.Request {
	if m.method == "" {
		m.method = sip.INVITE
	}
	if m.via == "" {
		m.via = "UDP"
	}
	if m.cseq == 0 {
		m.cseq = 1
	}
	if m.callID == "" {
		m.callID = "call-1@example.com"
	}
	if m.fromTag == "" {
		m.fromTag = "from1"
	}
	if m.uri == "" {
		m.uri = "sip:bob@example.com"
	}
	cseqMethod := m.method
	via := "SIP/2.0/" + m.via + " 192.0.2.1:5060"
	if m.branch != "" {
		via += ";branch=" + m.branch
	}
	to := "<sip:bob@example.com>"
	if m.toTag != "" {
		to += ";tag=" + m.toTag
	}
	text := m.method + " " + m.uri + " SIP/2.0\r\n" +
		"Via: " + via + "\r\n" +
		"Max-Forwards: 70\r\n" +
		m.extra +
		"To: " + to + "\r\n" +
		"From: <sip:alice@example.com>;tag=" + m.fromTag + "\r\n" +
		"Call-ID: " + m.callID + "\r\n" +
		fmt.Sprintf("CSeq: %d %s\r\n", m.cseq, cseqMethod) +
		"Content-Length: 0\r\n\r\n"
	parsed, err := sip.Parse([]byte(text))
	if err != nil {
		panic(fmt.Sprintf("bad test message: %v\n%s", err, text))
	}
	req := parsed.(*sip.Request)
	req.Origin = origin
	return req
}

// reply builds a response to a request the layer sent, as the peer would.
func reply(req *sip.Request, code int, toTag string) *sip.Response {
	resp := sip.NewResponse(req, code, "")
	if toTag != "" {
		resp.SetToTag(toTag)
	}
	// Round-trip through the parser, as if it came from the network.
	m, err := sip.Parse([]byte(resp.String()))
	if err != nil {
		panic(err)
	}
	return m.(*sip.Response)
}

// serverRecorder is a Handler that records the transactions it gets and
// optionally runs a function on each.
type serverRecorder struct {
	mu  sync.Mutex
	txs []*ServerTx
	fn  func(tx *ServerTx)
}

func (r *serverRecorder) ServeSIP(tx *ServerTx) {
	r.mu.Lock()
	r.txs = append(r.txs, tx)
	fn := r.fn
	r.mu.Unlock()
	if fn != nil {
		fn(tx)
	}
}

func (r *serverRecorder) got() []*ServerTx {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*ServerTx(nil), r.txs...)
}

// newTestLayer makes a layer whose workers and timers are stopped when the
// test ends (a synctest bubble requires every goroutine to exit).
func newTestLayer(t *testing.T, cfg Config, h Handler) (*Layer, *fakeSender) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s := newFakeSender()
	if h == nil {
		h = HandlerFunc(func(*ServerTx) {})
	}
	l := New(cfg, s, h)
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = l.Shutdown(ctx)
	})
	return l, s
}

func (tx *ClientTx) currentState() state {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return tx.state
}

func wantState(t *testing.T, got, want state) {
	t.Helper()
	if got != want {
		t.Fatalf("state %v, want %v", got, want)
	}
}

// drain returns what is waiting on a channel without blocking.
func drain(ch <-chan *sip.Response) (out []*sip.Response, closed bool) {
	for {
		select {
		case r, ok := <-ch:
			if !ok {
				return out, true
			}
			out = append(out, r)
		default:
			return out, false
		}
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

var errBoom = errors.New("boom")

// sleep advances the bubble's clock and lets the timers that fired finish
// their callbacks (they run in goroutines of their own).
func sleep(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// waitLate is how late the layer may end a transaction after a wait timer
// (D, I, J, K, L, M) of length d: the wait queues serve deadlines in
// batches (see waitQueues).
func waitLate(d time.Duration) time.Duration { return d / 256 }
