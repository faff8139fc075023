package ng

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/media"
	"github.com/parley-sip/parley/sdp"
)

func newTestServer(t *testing.T, pairs int) (*Server, *media.Relay, *net.UDPConn) {
	t.Helper()
	probe, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	lo := 40000 + (probe.LocalAddr().(*net.UDPAddr).Port*14)%19000
	probe.Close()
	ports, err := media.NewPortAllocator(lo, lo+2*pairs-1)
	if err != nil {
		t.Fatal(err)
	}
	relay, err := media.NewRelay(media.RelayConfig{LocalAddr: netip.MustParseAddr("127.0.0.1"), Ports: ports})
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(Config{Relay: relay})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(pc) }()
	client, err := net.DialUDP("udp", nil, pc.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		srv.Close()
		select {
		case err := <-done:
			if err != ErrServerClosed {
				t.Errorf("Serve returned %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after Close")
		}
		relay.Close()
	})
	return srv, relay, client
}

var cookieN int

// ng sends one command and returns the decoded reply.
func ng(t *testing.T, c *net.UDPConn, req map[string]any) Dict {
	t.Helper()
	cookieN++
	cookie := fmt.Sprintf("c%d", cookieN)
	body, err := Append([]byte(cookie+" "), req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(body); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no ng reply to %v: %v", req["command"], err)
	}
	got, ok := strings.CutPrefix(string(buf[:n]), cookie+" ")
	if !ok {
		t.Fatalf("reply %q does not start with the cookie", buf[:n])
	}
	v, err := Decode([]byte(got))
	if err != nil {
		t.Fatal(err)
	}
	return v.(Dict)
}

func phoneSDP(port int) string {
	return fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n", port)
}

func TestServerCallFlow(t *testing.T) {
	srv, relay, c := newTestServer(t, 8)
	if r := ng(t, c, map[string]any{"command": "ping"}); r.Str("result") != "pong" {
		t.Fatalf("ping: %v", r)
	}
	alice, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	bob, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer alice.Close()
	defer bob.Close()
	aPort, bPort := alice.LocalAddr().(*net.UDPAddr).Port, bob.LocalAddr().(*net.UDPAddr).Port

	r := ng(t, c, map[string]any{"command": "offer", "call-id": "call1", "from-tag": "at", "sdp": phoneSDP(aPort), "flags": []string{"trust-address"}})
	if r.Str("result") != "ok" {
		t.Fatalf("offer: %v", r)
	}
	toBob, err := sdp.Parse([]byte(r.Str("sdp")))
	if err != nil {
		t.Fatal(err)
	}
	r = ng(t, c, map[string]any{"command": "answer", "call-id": "call1", "from-tag": "at", "to-tag": "bt", "sdp": phoneSDP(bPort)})
	if r.Str("result") != "ok" {
		t.Fatalf("answer: %v", r)
	}
	toAlice, err := sdp.Parse([]byte(r.Str("sdp")))
	if err != nil {
		t.Fatal(err)
	}
	relayForBob, _ := toBob.RTPAddr(toBob.Media[0])
	relayForAlice, _ := toAlice.RTPAddr(toAlice.Media[0])
	if relayForBob == relayForAlice || relayForBob.Port() == uint16(aPort) || toBob.Media[0].Formats[1] != "101" {
		t.Fatalf("rewritten SDP: to bob %v, to alice %v", relayForBob, relayForAlice)
	}
	pkt := []byte{0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 1, 0xff, 0xff}
	alice.WriteToUDPAddrPort(pkt, relayForAlice)
	bob.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 1500)
	n, from, err := bob.ReadFromUDPAddrPort(buf)
	if err != nil || !bytes.Equal(buf[:n], pkt) || from != relayForBob {
		t.Fatalf("bob got %x from %v: %v", buf[:n], from, err)
	}
	if st := srv.Stats(); st.Calls != 1 {
		t.Fatalf("%+v", st)
	}
	if r := ng(t, c, map[string]any{"command": "delete", "call-id": "call1", "from-tag": "at"}); r.Str("result") != "ok" {
		t.Fatalf("delete: %v", r)
	}
	if rs := relay.Stats(); rs.Streams != 0 || rs.Packets != 1 {
		t.Fatalf("relay %+v", rs)
	}
	for _, tc := range []struct {
		req  map[string]any
		want string
	}{
		{map[string]any{"command": "delete", "call-id": "call1"}, "not found"},
		{map[string]any{"command": "answer", "call-id": "nope", "from-tag": "a", "to-tag": "b", "sdp": phoneSDP(4000)}, "Unknown call-id"},
		{map[string]any{"command": "offer", "call-id": "x", "from-tag": "a"}, "No SDP"},
		{map[string]any{"command": "offer", "call-id": "x", "sdp": "v=0"}, "from-tag"},
		{map[string]any{"command": "offer", "call-id": "x", "from-tag": "a", "sdp": "garbage"}, "parse SDP"},
		{map[string]any{"command": "dance"}, "Unrecognized"},
	} {
		r := ng(t, c, tc.req)
		if r.Str("result") != "error" || !strings.Contains(r.Str("error-reason"), tc.want) {
			t.Errorf("%v: %v, want error mentioning %q", tc.req, r, tc.want)
		}
	}
	if st := srv.Stats(); st.Calls != 0 {
		t.Fatalf("calls left after errors: %+v", st)
	}
}

func TestServerRunsOutOfPorts(t *testing.T) {
	srv, _, c := newTestServer(t, 2) // one stream
	if r := ng(t, c, map[string]any{"command": "offer", "call-id": "1", "from-tag": "a", "sdp": phoneSDP(4000)}); r.Str("result") != "ok" {
		t.Fatal(r)
	}
	r := ng(t, c, map[string]any{"command": "offer", "call-id": "2", "from-tag": "a", "sdp": phoneSDP(4002)})
	if r.Str("error-reason") != "Ran out of ports" {
		t.Fatal(r)
	}
	if st := srv.Stats(); st.Calls != 1 || st.Failures != 1 {
		t.Fatalf("%+v", st)
	}
}

func TestServerAnswersRetransmissionFromCache(t *testing.T) {
	srv, _, _ := newTestServer(t, 4)
	req, _ := Append([]byte("dup1 "), map[string]any{"command": "offer", "call-id": "1", "from-tag": "a", "sdp": phoneSDP(4000)})
	r1 := srv.Handle(req)
	r2 := srv.Handle(req)
	if !bytes.Equal(r1, r2) || srv.Stats().Requests != 2 {
		t.Fatalf("retransmission answered differently:\n%s\n%s", r1, r2)
	}
	if srv.Handle([]byte("nocookie")) != nil {
		t.Fatal("answered a message without a cookie")
	}
}
