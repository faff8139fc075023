package transport

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-sip/parley/sip"
)

func request(method, via string) string {
	return method + " sip:bob@example.test SIP/2.0\r\n" +
		"Via: " + via + "\r\n" +
		"Max-Forwards: 70\r\n" +
		"To: <sip:bob@example.test>\r\n" +
		"From: <sip:alice@example.test>;tag=a1\r\n" +
		"Call-ID: c1@test\r\n" +
		"CSeq: 1 " + method + "\r\n" +
		"Content-Length: 0\r\n\r\n"
}

// echoLayer answers every request with 200 through SendResponse.
func echoLayer(t *testing.T, cfg Config, specs ...string) (*Layer, chan *sip.Request) {
	t.Helper()
	l := New(cfg)
	got := make(chan *sip.Request, 16)
	l.SetHandler(HandlerFunc(func(m sip.Message) {
		req, ok := m.(*sip.Request)
		if !ok {
			return
		}
		got <- req
		resp := sip.NewResponse(req, 200, "")
		resp.Origin = req.Origin
		if err := l.SendResponse(resp); err != nil {
			t.Errorf("SendResponse: %v", err)
		}
	}))
	for _, s := range specs {
		ls, err := ParseListen(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Listen(ls); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := l.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return l, got
}

func readResponse(t *testing.T, c net.Conn) *sip.Response {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	m, err := sip.Parse(buf[:n])
	if err != nil {
		t.Fatalf("parse response: %v\n%s", err, buf[:n])
	}
	r, ok := m.(*sip.Response)
	if !ok {
		t.Fatalf("got a request, want a response")
	}
	return r
}

func TestUDPReceivedAndRport(t *testing.T) {
	l, got := echoLayer(t, Config{}, "udp:127.0.0.1:0")
	a, _ := l.LocalAddr(UDP)
	c, err := net.Dial("udp", a.AddrPort.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The client claims a sent-by that is not its address and asks for rport.
	c.Write([]byte(request("OPTIONS", "SIP/2.0/UDP 192.0.2.1:5999;branch=z9hG4bK1;rport")))
	resp := readResponse(t, c)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	req := <-got
	v, _ := req.TopVia()
	local := c.LocalAddr().(*net.UDPAddr)
	if v.Received() != "127.0.0.1" {
		t.Errorf("received = %q", v.Received())
	}
	if p, _ := v.RPort(); p != local.Port {
		t.Errorf("rport = %d, want %d", p, local.Port)
	}
	if req.Origin.Transport != UDP || req.Origin.Source.Port() != uint16(local.Port) {
		t.Errorf("origin %+v", req.Origin)
	}
}

func TestUDPMalformedGets400(t *testing.T) {
	l, got := echoLayer(t, Config{}, "udp:127.0.0.1:0")
	a, _ := l.LocalAddr(UDP)
	c, _ := net.Dial("udp", a.AddrPort.String())
	defer c.Close()
	bad := strings.Replace(request("OPTIONS", "SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK2;rport"), "CSeq: 1 OPTIONS", "CSeq: 1 INVITE", 1)
	c.Write([]byte(bad))
	resp := readResponse(t, c)
	if resp.StatusCode != 400 || !strings.Contains(resp.Reason, "CSeq") {
		t.Fatalf("got %d %q, want 400 naming CSeq", resp.StatusCode, resp.Reason)
	}
	c.Write([]byte(strings.Replace(request("OPTIONS", "SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK3;rport"), "SIP/2.0\r\n", "SIP/3.0\r\n", 1)))
	if resp := readResponse(t, c); resp.StatusCode != 505 {
		t.Fatalf("got %d, want 505", resp.StatusCode)
	}
	select {
	case <-got:
		t.Fatal("malformed request reached the handler")
	default:
	}
	if s := l.Stats(); s.StatelessErrors != 2 || s.Malformed != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestTCPSplitAndCoalesced(t *testing.T) {
	l, _ := echoLayer(t, Config{}, "tcp:127.0.0.1:0")
	a, _ := l.LocalAddr(TCP)
	c, err := net.Dial("tcp", a.AddrPort.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m1 := request("OPTIONS", "SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKa")
	m2 := request("OPTIONS", "SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKb")
	c.Write([]byte(m1[:10]))
	time.Sleep(10 * time.Millisecond)
	c.Write([]byte(m1[10:] + "\r\n\r\n" + m2))
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var f sip.Framer
	msgs, pongs := 0, 0
	for msgs < 2 || pongs < 1 {
		b, err := br.ReadByte()
		if err != nil {
			t.Fatalf("read: %v (msgs %d pongs %d)", err, msgs, pongs)
		}
		f.Write([]byte{b})
		for {
			kind, _, err := f.Next()
			if err != nil {
				t.Fatal(err)
			}
			if kind == sip.FrameNone {
				break
			}
			if kind == sip.FrameMessage {
				msgs++
			} else {
				pongs++
			}
		}
	}
}

func TestLargeRequestGoesOverTCP(t *testing.T) {
	// A request larger than the MTU goes over TCP (§18.1.1).
	srv, got := echoLayer(t, Config{}, "udp:127.0.0.1:0", "tcp:127.0.0.1:0")
	cli := New(Config{PathMTU: 300})
	t.Cleanup(func() { cli.Shutdown(context.Background()) })
	for _, s := range []string{"udp:127.0.0.1:0", "tcp:127.0.0.1:0"} {
		ls, _ := ParseListen(s)
		if err := cli.Listen(ls); err != nil {
			t.Fatal(err)
		}
	}
	resps := make(chan *sip.Response, 1)
	cli.SetHandler(HandlerFunc(func(m sip.Message) {
		if r, ok := m.(*sip.Response); ok {
			resps <- r
		}
	}))
	m, _ := sip.Parse([]byte(request("OPTIONS", "SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKbig")))
	req := m.(*sip.Request)
	req.Add("X-Padding", strings.Repeat("x", 400))
	dst, _ := srv.LocalAddr(UDP)
	tcp, _ := srv.LocalAddr(TCP)
	dst.AddrPort = netip.AddrPortFrom(dst.AddrPort.Addr(), tcp.AddrPort.Port())
	if err := cli.SendRequest(req, dst); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.Origin.Transport != TCP {
		t.Fatalf("large request came over %s", r.Origin.Transport)
	}
	if v, _ := r.TopVia(); v.Transport != TCP {
		t.Fatalf("Via transport %s", v.Transport)
	}
	select {
	case resp := <-resps:
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no response over TCP")
	}
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestTLS(t *testing.T) {
	cert := selfSigned(t)
	l, _ := echoLayer(t, Config{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}, "tls:127.0.0.1:0")
	a, _ := l.LocalAddr(TLS)
	c, err := tls.Dial("tcp", a.AddrPort.String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte(request("OPTIONS", "SIP/2.0/TLS 127.0.0.1:1;branch=z9hG4bKtls")))
	if r := readResponse(t, c); r.StatusCode != 200 {
		t.Fatalf("status %d", r.StatusCode)
	}
}

func TestWebSocket(t *testing.T) {
	l, got := echoLayer(t, Config{}, "ws:127.0.0.1:0")
	a, _ := l.LocalAddr(WS)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+a.AddrPort.String(), &websocket.DialOptions{Subprotocols: []string{"sip"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte(request("OPTIONS", "SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKws;rport"))); err != nil {
		t.Fatal(err)
	}
	_, data, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m, err := sip.Parse(data)
	if err != nil || m.(*sip.Response).StatusCode != 200 {
		t.Fatalf("response %v %q", err, data)
	}
	req := <-got
	if v, _ := req.TopVia(); v.Received() != "127.0.0.1" {
		t.Fatalf("received %q", v.Received())
	}
	// Without the sip subprotocol the handshake is refused.
	c2, _, err := websocket.Dial(ctx, "ws://"+a.AddrPort.String(), nil)
	if err == nil {
		_, _, err = c2.Read(ctx)
		if err == nil {
			t.Fatal("connection without subprotocol sip was served")
		}
	}
}

func TestConnLimitPerSource(t *testing.T) {
	l, _ := echoLayer(t, Config{MaxConnsPerSource: 2}, "tcp:127.0.0.1:0")
	a, _ := l.LocalAddr(TCP)
	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", a.AddrPort.String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	conns[2].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conns[2].Read(make([]byte, 1)); err == nil {
		t.Fatal("third connection was not closed")
	}
	if s := l.Stats(); s.ConnsRejected != 1 {
		t.Fatalf("rejected %d", s.ConnsRejected)
	}
}

func TestParseListen(t *testing.T) {
	for in, want := range map[string]ListenSpec{
		"udp:127.0.0.1:5060": {UDP, "127.0.0.1:5060"},
		"TCP:[::1]:5060":     {TCP, "[::1]:5060"},
		"127.0.0.1:5070":     {UDP, "127.0.0.1:5070"},
		"wss:0.0.0.0:8443":   {WSS, "0.0.0.0:8443"},
	} {
		got, err := ParseListen(in)
		if err != nil || got != want {
			t.Errorf("ParseListen(%q) = %+v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"sctp:127.0.0.1:5060", "foo:1.2.3.4:5", "udp:nope"} {
		if _, err := ParseListen(bad); err == nil {
			t.Errorf("ParseListen(%q) accepted", bad)
		}
	}
}

// TestUDPIPv6AndDualStack covers the raw socket calls' address handling
// (udpsock_linux.go): an IPv6 listener, and a dual-stack one that an IPv4
// client reaches (its source arrives v4-mapped; the answer must go back).
func TestUDPIPv6AndDualStack(t *testing.T) {
	if c, err := net.ListenPacket("udp", "[::1]:0"); err != nil {
		t.Skip("no IPv6 loopback:", err)
	} else {
		c.Close()
	}
	for _, tc := range []struct{ listen, client string }{
		{"udp:[::1]:0", "[::1]"},
		{"udp:[::]:0", "127.0.0.1"},
		{"udp:[::]:0", "[::1]"},
	} {
		t.Run(tc.listen+" from "+tc.client, func(t *testing.T) {
			l, got := echoLayer(t, Config{}, tc.listen)
			a, _ := l.LocalAddr(UDP)
			c, err := net.Dial("udp", net.JoinHostPort(strings.Trim(tc.client, "[]"), strconv.Itoa(int(a.AddrPort.Port()))))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write([]byte(request("OPTIONS", "SIP/2.0/UDP 192.0.2.1:5999;branch=z9hG4bK6;rport")))
			if resp := readResponse(t, c); resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			req := <-got
			local := c.LocalAddr().(*net.UDPAddr).AddrPort()
			if src := req.Origin.Source; src.Addr().Unmap() != local.Addr().Unmap() || src.Port() != local.Port() {
				t.Errorf("origin source %v, want %v", src, local)
			}
		})
	}
}

// slowPeer connects to l's TCP listener with a small receive buffer, makes
// itself known with one request (answered 200 by echoLayer) and returns
// the connection and its address as the layer sees it.
func slowPeer(t *testing.T, l *Layer, got chan *sip.Request) (*net.TCPConn, Addr) {
	t.Helper()
	a, _ := l.LocalAddr(TCP)
	nc, err := net.Dial("tcp", a.AddrPort.String())
	if err != nil {
		t.Fatal(err)
	}
	c := nc.(*net.TCPConn)
	c.SetReadBuffer(4096)
	t.Cleanup(func() { c.Close() })
	c.Write([]byte(request("OPTIONS", "SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKslow")))
	req := <-got
	readResponse(t, c)
	return c, Addr{Transport: TCP, AddrPort: req.Origin.Source}
}

// bigRequest is a 1 KB MESSAGE numbered n.
func bigRequest(n int) *sip.Request {
	m, err := sip.Parse([]byte(strings.Replace(request("MESSAGE", "SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKm"+strconv.Itoa(n)),
		"Content-Length: 0\r\n\r\n", "Content-Type: text/plain\r\nContent-Length: 1000\r\n\r\n"+strings.Repeat("x", 1000), 1)))
	if err != nil {
		panic(err)
	}
	return m.(*sip.Request)
}

// TestStreamSendNeverWaitsForPeer: a peer that stops reading must not hold
// up the sender (a transport reader relaying for the proxy, say). Sends
// queue once its socket is full, and past the backlog bound the
// connection is closed — long before WriteTimeout.
func TestStreamSendNeverWaitsForPeer(t *testing.T) {
	l, got := echoLayer(t, Config{WriteTimeout: time.Hour}, "tcp:127.0.0.1:0")
	_, dst := slowPeer(t, l, got)
	sendUntilCongested(t, l, dst)
	if err := l.SendRequest(bigRequest(0), dst); err == nil {
		t.Fatal("send on the closed connection succeeded")
	}
}

// TestStreamBacklogInOrder: what queued while the peer was slow arrives
// whole and in order once it reads.
func TestStreamBacklogInOrder(t *testing.T) {
	l, got := echoLayer(t, Config{}, "tcp:127.0.0.1:0")
	c, dst := slowPeer(t, l, got)
	// Send until the socket is full and messages queue, then a few more.
	sc := l.conn(connKey{TCP, dst.AddrPort})
	n, extra := 0, -1
	for ; extra != 0; n++ {
		if n == 20000 {
			t.Fatal("20000 sends never queued: the test tests nothing")
		}
		if err := l.SendRequest(bigRequest(n), dst); err != nil {
			t.Fatalf("send %d: %v", n, err)
		}
		if extra < 0 && sc.backlogged() {
			extra = 20
		}
		if extra > 0 {
			extra--
		}
	}
	// Now read, with a buffer that lets the bytes flow (a 4 KB window
	// trickles them).
	c.SetReadBuffer(1 << 20)
	var f sip.Framer
	buf := make([]byte, 64*1024)
	next := 0
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for next < n {
		k, err := c.Read(buf)
		if err != nil {
			t.Fatalf("read after %d messages: %v", next, err)
		}
		f.Write(buf[:k])
		for {
			kind, frame, err := f.Next()
			if err != nil {
				t.Fatal(err)
			}
			if kind == sip.FrameNone {
				break
			}
			m, err := sip.Parse(frame)
			if err != nil {
				t.Fatal(err)
			}
			v, _ := m.(*sip.Request).TopVia()
			if want := "z9hG4bKm" + strconv.Itoa(next); v.Branch() != want {
				t.Fatalf("message %d has branch %s, want %s", next, v.Branch(), want)
			}
			next++
		}
	}
}

// TestWebSocketSendNeverWaitsForPeer is TestStreamSendNeverWaitsForPeer
// over WebSocket, whose socket the transport finds through the HTTP
// server's connection context.
func TestWebSocketSendNeverWaitsForPeer(t *testing.T) {
	l, got := echoLayer(t, Config{WriteTimeout: time.Hour}, "ws:127.0.0.1:0")
	a, _ := l.LocalAddr(WS)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A small receive buffer, so that the server's socket fills soon.
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			nc.(*net.TCPConn).SetReadBuffer(4096)
		}
		return nc, err
	}
	c, _, err := websocket.Dial(ctx, "ws://"+a.AddrPort.String(), &websocket.DialOptions{
		Subprotocols: []string{"sip"},
		HTTPClient:   &http.Client{Transport: &http.Transport{DialContext: dial}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte(request("OPTIONS", "SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKws;rport"))); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx); err != nil { // the 200; from now on the client reads nothing
		t.Fatal(err)
	}
	sendUntilCongested(t, l, Addr{Transport: WS, AddrPort: (<-got).Origin.Source})
}

// sendUntilCongested sends 1 KB messages to dst, whose peer reads nothing,
// until the layer gives up on it with errCongested, and fails if that
// takes longer than any send should wait (the layer's WriteTimeout is
// set far beyond).
func sendUntilCongested(t *testing.T, l *Layer, dst Addr) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		for i := 0; i < 200000; i++ {
			if err := l.SendRequest(bigRequest(i), dst); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if !errors.Is(err, errCongested) {
			t.Fatalf("sends to a peer that does not read ended with %v, want errCongested", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a send waited for the peer")
	}
}
