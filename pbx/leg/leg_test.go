package leg_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-sip/parley/pbx/leg"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
	"github.com/parley-sip/parley/transport"
)

// stack is a loopback transport and transaction layer whose new requests
// go to serve, and ACKs to onAck.
func stack(t *testing.T, serve func(*leg.Stack, *transaction.ServerTx), onAck func(*sip.Request)) (*leg.Stack, string) {
	t.Helper()
	tp := transport.New(transport.Config{})
	st := &leg.Stack{TP: tp}
	st.Tx = transaction.New(transaction.Config{T1: 50 * time.Millisecond, OnAck: onAck}, tp,
		transaction.HandlerFunc(func(tx *transaction.ServerTx) { serve(st, tx) }))
	tp.SetHandler(st.Tx)
	if err := tp.Listen(transport.ListenSpec{Transport: transport.UDP, Addr: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		st.Tx.Shutdown(ctx)
		tp.Shutdown(ctx)
	})
	a, _ := tp.LocalAddr(transport.UDP)
	return st, a.AddrPort.String()
}

// TestInbound2xxRetransmittedUntilAck: an inbound leg's 200 is sent again
// (T1, 2T1, ...) until its ACK comes, then no more (RFC 3261 §13.3.1.4);
// the dialog it made answers in-dialog requests with our tag.
func TestInbound2xxRetransmittedUntilAck(t *testing.T) {
	legs := make(chan *leg.Leg, 1)
	var current atomic.Pointer[leg.Leg]
	_, addr := stack(t, func(st *leg.Stack, tx *transaction.ServerTx) {
		l, err := leg.Accept(st, tx)
		if err != nil {
			t.Error(err)
			return
		}
		current.Store(l)
		if err := l.Respond(200, "", []byte("v=0\r\n")); err != nil {
			t.Error(err)
		}
		legs <- l
	}, func(ack *sip.Request) {
		if l := current.Load(); l != nil {
			l.HandleAck(ack)
		}
	})
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().String()
	invite := "INVITE sip:bob@example.test SIP/2.0\r\nVia: SIP/2.0/UDP " + local + ";branch=z9hG4bKleg1\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:alice@example.test>;tag=a1\r\nTo: <sip:bob@example.test>\r\n" +
		"Call-ID: leg-test-1\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@" + local + ">\r\nContent-Length: 0\r\n\r\n"
	if _, err := c.Write([]byte(invite)); err != nil {
		t.Fatal(err)
	}
	inbound := <-legs
	count200 := func(d time.Duration) (n int, toTag string) {
		buf := make([]byte, 4096)
		deadline := time.Now().Add(d)
		for {
			c.SetReadDeadline(deadline)
			k, err := c.Read(buf)
			if err != nil {
				return n, toTag
			}
			msg := string(buf[:k])
			if strings.HasPrefix(msg, "SIP/2.0 200") {
				n++
				if i := strings.Index(msg, "To: <sip:bob@example.test>;tag="); i >= 0 {
					toTag = strings.SplitN(msg[i+len("To: <sip:bob@example.test>;tag="):], "\r\n", 2)[0]
				}
			}
		}
	}
	n, tag := count200(400 * time.Millisecond)
	if n < 3 || tag != inbound.LocalTag() {
		t.Fatalf("got %d 200s with To tag %q in 400 ms, want the first and retransmissions with tag %q", n, tag, inbound.LocalTag())
	}
	ack := "ACK sip:bob@" + addr + " SIP/2.0\r\nVia: SIP/2.0/UDP " + local + ";branch=z9hG4bKleg2\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:alice@example.test>;tag=a1\r\nTo: <sip:bob@example.test>;tag=" + tag + "\r\n" +
		"Call-ID: leg-test-1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
	if _, err := c.Write([]byte(ack)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-inbound.Acked():
	case <-time.After(2 * time.Second):
		t.Fatal("the ACK did not reach the leg")
	}
	if n, _ := count200(500 * time.Millisecond); n > 1 {
		t.Errorf("%d 200s after the ACK, want none (one may have been in flight)", n)
	}
	if id, ok := inbound.ID(); !ok || id.LocalTag != tag || id.RemoteTag != "a1" {
		t.Errorf("leg dialog id %+v", id)
	}
}

// TestOutboundAcksAndRequests: Dial gets 180 then 200, sends the ACK
// itself, and a BYE in the dialog reaches the far side with both tags.
func TestOutboundAcksAndRequests(t *testing.T) {
	acks := make(chan *sip.Request, 4)
	byes := make(chan *sip.Request, 1)
	_, callee := stack(t, func(st *leg.Stack, tx *transaction.ServerTx) {
		req := tx.Request()
		if req.Method == sip.BYE {
			byes <- req
			tx.Respond(sip.NewResponse(req, 200, ""))
			return
		}
		for _, code := range []int{180, 200} {
			resp := sip.NewResponse(req, code, "")
			resp.SetToTag("callee1")
			resp.Add("Contact", "<sip:bob@"+req.URI.Host+":"+strconv.Itoa(req.URI.Port)+">")
			tx.Respond(resp)
		}
	}, func(ack *sip.Request) { acks <- ack })
	caller, _ := stack(t, func(*leg.Stack, *transaction.ServerTx) {}, func(*sip.Request) {})
	host, port, _ := net.SplitHostPort(callee)
	target := sip.URI{Scheme: "sip", User: "bob", Host: host, Port: mustAtoi(port)}
	got := make(chan int, 4)
	l, err := leg.Dial(context.Background(), caller, leg.Invite{
		Target: target,
		From:   sip.Address{URI: sip.URI{Scheme: "sip", User: "alice", Host: "example.test"}},
		To:     sip.Address{URI: sip.URI{Scheme: "sip", User: "bob", Host: "example.test"}},
	}, func(_ *leg.Leg, r *sip.Response) {
		if r != nil {
			got <- r.StatusCode
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []int{180, 200} {
		select {
		case c := <-got:
			if c != want {
				t.Fatalf("got %d, want %d", c, want)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("no %d", want)
		}
	}
	select {
	case ack := <-acks:
		if ack.ToTag() != "callee1" || ack.FromTag() != l.LocalTag() {
			t.Errorf("ACK tags %q/%q", ack.FromTag(), ack.ToTag())
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no ACK")
	}
	resp, err := l.Request(context.Background(), sip.BYE, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("BYE: %v %v", resp, err)
	}
	if bye := <-byes; bye.ToTag() != "callee1" || bye.FromTag() != l.LocalTag() {
		t.Errorf("BYE tags %q/%q", bye.FromTag(), bye.ToTag())
	}
	if _, err := l.Request(context.Background(), sip.BYE, nil); err == nil {
		t.Error("a request after BYE was sent; want the dialog terminated")
	}
}

func mustAtoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
