package transport

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-sip/parley/sip"
)

// TestHandlerPanicAnswered500: a panic above the transport stops at the
// reader; the request gets 500, the next request is served.
func TestHandlerPanicAnswered500(t *testing.T) {
	l := New(Config{})
	var calls atomic.Int32
	l.SetHandler(HandlerFunc(func(m sip.Message) {
		req := m.(*sip.Request)
		if calls.Add(1) == 1 {
			panic("bug in a stage")
		}
		resp := sip.NewResponse(req, 200, "")
		resp.Origin = req.Origin
		_ = l.SendResponse(resp)
	}))
	if err := l.Listen(ListenSpec{Transport: UDP, Addr: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	defer l.Shutdown(context.Background())
	c, err := net.Dial("udp", l.LocalAddrs()[0].AddrPort.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	via := "SIP/2.0/UDP " + c.LocalAddr().String() + ";branch=z9hG4bKp1"
	c.Write([]byte(request("OPTIONS", via)))
	if r := readResponse(t, c); r.StatusCode != 500 || r.ToTag() == "" {
		t.Fatalf("after a panic: %d (To tag %q), want 500 with a tag", r.StatusCode, r.ToTag())
	}
	c.Write([]byte(request("OPTIONS", strings.Replace(via, "p1", "p2", 1))))
	if r := readResponse(t, c); r.StatusCode != 200 {
		t.Fatalf("next request: %d, want 200", r.StatusCode)
	}
	if n := l.Stats().HandlerPanics; n != 1 {
		t.Fatalf("HandlerPanics = %d, want 1", n)
	}
}

type denyFilter struct{ deny netip.Addr }

func (f denyFilter) Admit(src netip.Addr) bool { return src != f.deny }

// TestSourceFilter: packets and connections from a refused source are
// dropped before parsing; others are served.
func TestSourceFilter(t *testing.T) {
	cfg := Config{Filter: denyFilter{netip.MustParseAddr("127.0.0.3")}}
	l, got := echoLayer(t, cfg, "udp:127.0.0.1:0", "tcp:127.0.0.1:0")
	var udpAddr, tcpAddr string
	for _, a := range l.LocalAddrs() {
		if a.Transport == UDP {
			udpAddr = a.AddrPort.String()
		} else {
			tcpAddr = a.AddrPort.String()
		}
	}
	bad, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 3)}, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(udpAddr)))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	bad.Write([]byte(request("OPTIONS", "SIP/2.0/UDP "+bad.LocalAddr().String()+";branch=z9hG4bKbad")))
	bad.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := bad.Read(make([]byte, 100)); err == nil {
		t.Fatal("a refused source got an answer")
	}
	good, err := net.Dial("udp", udpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	good.Write([]byte(request("OPTIONS", "SIP/2.0/UDP "+good.LocalAddr().String()+";branch=z9hG4bKgood")))
	if r := readResponse(t, good); r.StatusCode != 200 {
		t.Fatalf("admitted source: %d", r.StatusCode)
	}
	<-got
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 3)}}
	tc, err := d.Dial("tcp", tcpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := tc.Read(make([]byte, 10)); err == nil {
		t.Fatal("a refused source's connection stayed open and answered")
	}
	if st := l.Stats(); st.Filtered != 1 || st.ConnsRejected != 1 {
		t.Fatalf("Filtered %d, ConnsRejected %d; want 1 and 1", st.Filtered, st.ConnsRejected)
	}
}
