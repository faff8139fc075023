package bridge_test

import (
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/pbx/leg"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
	"github.com/parley-sip/parley/transport"
)

// rawPhone is a bare stack on loopback that answers as a test scripts it:
// an INVITE with the provisional responses of early, then answer (0: no
// final, the test decides); in-dialog requests 200. It also calls, with
// package leg, which is what the benchmark's caller is.
type rawPhone struct {
	st   *leg.Stack
	addr transport.Addr

	mu      sync.Mutex
	early   []int // provisional codes to send first (183 carries SDP)
	answer  int
	got     []*sip.Request
	invites chan *transaction.ServerTx

	closeOnce sync.Once
}

const phoneSDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"

func newRawPhone(tb testing.TB, answer int, early ...int) *rawPhone {
	tb.Helper()
	tp := transport.New(transport.Config{})
	if err := tp.Listen(transport.ListenSpec{Transport: transport.UDP, Addr: "127.0.0.1:0"}); err != nil {
		tb.Fatal(err)
	}
	a, _ := tp.LocalAddr(transport.UDP)
	p := &rawPhone{addr: a, answer: answer, early: early, invites: make(chan *transaction.ServerTx, 16)}
	txl := transaction.New(transaction.Config{T1: 50 * time.Millisecond, OnAck: func(*sip.Request) {}}, tp,
		transaction.HandlerFunc(p.serve))
	tp.SetHandler(txl)
	p.st = &leg.Stack{Tx: txl, TP: tp}
	tb.Cleanup(p.close)
	return p
}

// close stops the phone's stack (a phone that died).
func (p *rawPhone) close() {
	p.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		p.st.Tx.Shutdown(ctx)
		p.st.TP.Shutdown(ctx)
	})
}

func (p *rawPhone) serve(tx *transaction.ServerTx) {
	req := tx.Request()
	p.mu.Lock()
	if req.Method != sip.INVITE || req.ToTag() != "" {
		p.got = append(p.got, req)
	}
	early, answer := p.early, p.answer
	p.mu.Unlock()
	if req.Method != sip.INVITE || req.ToTag() != "" {
		resp := sip.NewResponse(req, sip.StatusOK, "")
		if req.Method == sip.INVITE || req.Method == sip.UPDATE {
			resp.Add("Contact", "<sip:"+p.addr.AddrPort.String()+">")
			if len(req.Body) > 0 {
				resp.Add("Content-Type", "application/sdp")
				resp.Body = []byte(phoneSDP)
			}
		}
		tx.Respond(resp)
		return
	}
	tag := transaction.NewTag()
	for _, code := range early {
		resp := sip.NewResponse(req, code, "")
		resp.SetToTag(tag)
		resp.Add("Contact", "<sip:"+p.addr.AddrPort.String()+">")
		if code == 183 {
			resp.Add("Content-Type", "application/sdp")
			resp.Body = []byte(phoneSDP)
		}
		tx.Respond(resp)
	}
	if answer == 0 {
		p.invites <- tx
		return
	}
	resp := sip.NewResponse(req, answer, "")
	resp.SetToTag(tag)
	if answer < 300 {
		resp.Add("Contact", "<sip:"+p.addr.AddrPort.String()+">")
		resp.Add("Content-Type", "application/sdp")
		resp.Body = []byte(phoneSDP)
	}
	tx.Respond(resp)
}

// requests returns the in-dialog requests received with method.
func (p *rawPhone) requests(method string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.got {
		if r.Method == method {
			n++
		}
	}
	return n
}

// call dials number at the PBX and returns the leg and the responses seen
// until the final one.
func (p *rawPhone) call(tb testing.TB, pbxAddr, from, number string) (*leg.Leg, []*sip.Response) {
	tb.Helper()
	host, port, _ := net.SplitHostPort(pbxAddr)
	n, _ := strconv.Atoi(port)
	flow, err := leg.ResolveURI(&sip.URI{Scheme: "sip", Host: host, Port: n})
	if err != nil {
		tb.Fatal(err)
	}
	resps := make(chan *sip.Response, 16)
	l, err := leg.Dial(context.Background(), p.st, leg.Invite{
		Target: sip.URI{Scheme: "sip", User: number, Host: "example.test"},
		Flow:   flow,
		From:   sip.Address{URI: sip.URI{Scheme: "sip", User: from, Host: "example.test"}},
		To:     sip.Address{URI: sip.URI{Scheme: "sip", User: number, Host: "example.test"}},
		Body:   []byte(phoneSDP),
	}, func(_ *leg.Leg, r *sip.Response) {
		if r != nil {
			resps <- r
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	var got []*sip.Response
	timeout := time.After(5 * time.Second)
	for {
		select {
		case r := <-resps:
			got = append(got, r)
			if r.StatusCode >= 200 {
				return l, got
			}
		case <-timeout:
			tb.Fatalf("no final response from the PBX; got %d responses", len(got))
		}
	}
}
