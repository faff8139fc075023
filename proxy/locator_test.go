package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
	"github.com/parley-sip/parley/transport"
)

func TestLocationLocator(t *testing.T) {
	store := location.NewMemoryStore(location.Options{})
	defer store.Close()
	ctx := context.Background()
	now := time.Now()
	put := func(contact string, q int, path []string, src string) {
		t.Helper()
		b := location.Binding{
			AOR: "sip:bob@example.test", Contact: contact, Q: q, Path: path,
			Expires: now.Add(time.Hour), Updated: now, CallID: contact, CSeq: 1,
		}
		if src != "" {
			b.Source, b.Transport = netip.MustParseAddrPort(src), "UDP"
		}
		if err := store.Put(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	put("sip:bob@10.0.0.7:5060", 500, nil, "203.0.113.9:40001")
	put("sip:bob@192.0.2.1:5062;transport=tcp", 1000, []string{"<sip:edge.example.test;lr>"}, "")
	users := map[string]bool{"bob": true, "carol": true}
	l := &LocationLocator{Store: store, UserExists: func(u string) bool { return users[u] }}

	ts, err := l.Locate(ctx, sip.URI{Scheme: "sip", User: "bob", Host: "EXAMPLE.test", Port: 5060, Params: ";user=phone"})
	if err != nil || len(ts) != 2 {
		t.Fatalf("Locate: %v, %d targets", err, len(ts))
	}
	if ts[0].URI.String() != "sip:bob@192.0.2.1:5062;transport=tcp" || ts[0].Q != 1000 || len(ts[0].Path) != 1 {
		t.Errorf("first target %+v", ts[0])
	}
	if ts[1].Flow.String() != "udp:203.0.113.9:40001" || ts[1].Q != 500 {
		t.Errorf("NAT target flow %s q %d", ts[1].Flow, ts[1].Q)
	}
	if ts, err := l.Locate(ctx, sip.URI{Scheme: "sip", User: "carol", Host: "example.test"}); err != nil || len(ts) != 0 {
		t.Errorf("known user without binding: %v, %v", ts, err)
	}
	if _, err := l.Locate(ctx, sip.URI{Scheme: "sip", User: "mallory", Host: "example.test"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}
}

// TestNATFlow: a phone behind NAT registered a private contact; the
// request goes to the address its REGISTER came from, with the private
// contact as Request-URI.
func TestNATFlow(t *testing.T) {
	phone := newUAS(t, nil, 200, 0)
	store := location.NewMemoryStore(location.Options{})
	defer store.Close()
	now := time.Now()
	err := store.Put(context.Background(), location.Binding{
		AOR: "sip:bob@example.test", Contact: "sip:bob@10.255.0.1:5060", Q: 1000,
		Expires: now.Add(time.Hour), Updated: now, CallID: "reg", CSeq: 1,
		Source: phone.addr, Transport: "UDP",
	})
	if err != nil {
		t.Fatal(err)
	}
	s := newStack(t, &LocationLocator{Store: store})
	caller := newUA(t)
	c := caller.newCall("sip:bob@example.test")
	caller.send(s.addr, c.req(sip.MESSAGE, "sip:bob@example.test", 1))
	caller.response(sip.MESSAGE, 200)
	if got := phone.waitFor(t, sip.MESSAGE, 1)[0]; got.URI.String() != "sip:bob@10.255.0.1:5060" {
		t.Errorf("Request-URI %s, want the registered contact", got.URI.String())
	}
	s.settle(t)
}

// tcpUAS is a callee on a real TCP transport and transaction layer that
// answers every request with 200 and records it.
type tcpUAS struct {
	addr netip.AddrPort
	mu   sync.Mutex
	reqs []*sip.Request
}

func newTCPUAS(t *testing.T) *tcpUAS {
	u := &tcpUAS{}
	tp := transport.New(transport.Config{})
	if err := tp.Listen(transport.ListenSpec{Transport: transport.TCP, Addr: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	a, _ := tp.LocalAddr(transport.TCP)
	u.addr = a.AddrPort
	tag := transaction.NewTag()
	onAck := func(ack *sip.Request) {
		u.mu.Lock()
		u.reqs = append(u.reqs, ack)
		u.mu.Unlock()
	}
	txl := transaction.New(transaction.Config{T1: testT1, OnAck: onAck}, tp, transaction.HandlerFunc(func(tx *transaction.ServerTx) {
		req := tx.Request()
		u.mu.Lock()
		u.reqs = append(u.reqs, req)
		u.mu.Unlock()
		resp := sip.NewResponse(req, 200, "")
		resp.SetToTag(tag)
		for _, f := range req.Fields() {
			if f.Is("Record-Route") {
				resp.Add("Record-Route", f.Value)
			}
		}
		resp.Add("Contact", fmt.Sprintf("<sip:bob@%s;transport=tcp>", u.addr))
		_ = tx.Respond(resp)
	}))
	tp.SetHandler(txl)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		txl.Shutdown(ctx)
		tp.Shutdown(ctx)
	})
	return u
}

func (u *tcpUAS) wait(t *testing.T, method string) *sip.Request {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		u.mu.Lock()
		for _, r := range u.reqs {
			if r.Method == method {
				u.mu.Unlock()
				return r
			}
		}
		u.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("TCP UAS: no %s", method)
	return nil
}

// TestDoubleRecordRoute: UDP in, TCP out. The proxy records two routes
// (RFC 5658), the outgoing side on top, and takes both off again when the
// in-dialog request comes back through them.
func TestDoubleRecordRoute(t *testing.T) {
	callee := newTCPUAS(t)
	contact := fmt.Sprintf("sip:bob@%s;transport=tcp", callee.addr)
	s := newStack(t, locatorFor(t, map[string][]Target{"bob@example.test": {target(t, contact, 1000)}}))
	if err := s.tp.Listen(transport.ListenSpec{Transport: transport.TCP, Addr: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	s.p.me.Store(nil) // forget the identity cached before the TCP listener
	tcp, _ := s.tp.LocalAddr(transport.TCP)
	caller := newUA(t)
	c := caller.newCall("sip:bob@example.test")
	caller.send(s.addr, c.req(sip.INVITE, "sip:bob@example.test", 1))
	ok := caller.response(sip.INVITE, 200)
	var rr []string
	for v := range ok.Values("Record-Route") {
		rr = append(rr, v)
	}
	want := []string{fmt.Sprintf("<sip:%s;transport=tcp;lr>", tcp.AddrPort), s.rrURI()}
	if fmt.Sprint(rr) != fmt.Sprint(want) {
		t.Fatalf("Record-Route %v, want %v", rr, want)
	}
	inv := callee.wait(t, sip.INVITE)
	if v, _ := inv.TopVia(); v.Transport != "TCP" {
		t.Errorf("forwarded over %s", v.Transport)
	}
	c.toTag = ok.ToTag()
	caller.send(s.addr, c.req(sip.ACK, contact, 1, rr[1], rr[0]))
	caller.send(s.addr, c.req(sip.BYE, contact, 2, rr[1], rr[0]))
	caller.response(sip.BYE, 200)
	bye := callee.wait(t, sip.BYE)
	if bye.Has("Route") {
		r, _ := bye.Get("Route")
		t.Errorf("BYE reached the callee with Route %q", r)
	}
	callee.wait(t, sip.ACK)
	s.settle(t)
}

// TestNATDialog: both ends behind NAT, with private Contacts. The proxy's
// Record-Route carries both flows, so the ACK and BYE from the caller and a
// request from the callee reach the other end over its flow.
func TestNATDialog(t *testing.T) {
	callee := newUAS(t, nil, 200, 0, func(u *uas) { u.contact = "sip:bob@10.255.0.1:5060" })
	store := location.NewMemoryStore(location.Options{})
	defer store.Close()
	now := time.Now()
	err := store.Put(context.Background(), location.Binding{
		AOR: "sip:bob@example.test", Contact: "sip:bob@10.255.0.1:5060", Q: 1000,
		Expires: now.Add(time.Hour), Updated: now, CallID: "reg", CSeq: 1,
		Source: callee.addr, Transport: "UDP",
	})
	if err != nil {
		t.Fatal(err)
	}
	s := newStack(t, &LocationLocator{Store: store})
	caller := newUA(t)
	c := caller.newCall("sip:bob@example.test")
	inv := c.req(sip.INVITE, "sip:bob@example.test", 1)
	inv.Set("Contact", "<sip:alice@10.1.2.3:5060>")
	caller.send(s.addr, inv)
	ok := caller.response(sip.INVITE, 200)
	rr, _ := ok.Get("Record-Route")
	if !strings.Contains(rr, "sip:pf.udp-7f000001-") {
		t.Fatalf("Record-Route %q carries no flow token", rr)
	}
	c.toTag = ok.ToTag()
	caller.send(s.addr, c.req(sip.ACK, "sip:bob@10.255.0.1:5060", 1, rr))
	caller.send(s.addr, c.req(sip.BYE, "sip:bob@10.255.0.1:5060", 2, rr))
	caller.response(sip.BYE, 200)
	callee.waitFor(t, sip.ACK, 1)
	if bye := callee.waitFor(t, sip.BYE, 1)[0]; bye.URI.String() != "sip:bob@10.255.0.1:5060" {
		t.Errorf("BYE Request-URI %s", bye.URI.String())
	}

	// The callee's own in-dialog request goes to the caller's flow.
	u, _ := sip.ParseURI("sip:alice@10.1.2.3:5060")
	info := sip.NewRequest(sip.INFO, u)
	info.Add("Via", fmt.Sprintf("SIP/2.0/UDP %s;branch=%s", callee.addr, transaction.NewBranch()))
	info.Add("Max-Forwards", "70")
	info.Add("Route", rr)
	info.Add("From", "<sip:bob@example.test>;tag="+callee.tag)
	info.Add("To", "<sip:alice@example.test>;tag="+c.fromTag)
	info.Add("Call-ID", c.callID)
	info.Add("CSeq", "1 INFO")
	callee.send(s.addr, info)
	got, from := caller.requestFrom(sip.INFO)
	if got.Has("Route") {
		t.Error("INFO reached the caller with Route")
	}
	caller.reply(from, got, 200, c.fromTag)
	s.settle(t)
}
