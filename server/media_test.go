package server

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/internal/peertest"
)

// TestNGControl: with media.ng_listen, parley serve answers rtpengine's ng
// protocol: ping, and an offer whose SDP comes back pointing at the relay.
func TestNGControl(t *testing.T) {
	cfg := defaultTestConfig(t, "udp:127.0.0.1:0")
	lo, hi := peertest.FreePortRange(t, 20)
	cfg.Media.RTPPorts = config.PortRange{Lo: lo, Hi: hi}
	port := peertest.FreePort(t)
	for port >= lo && port <= hi {
		port = peertest.FreePort(t)
	}
	cfg.Media.NGListen = "127.0.0.1:" + strconv.Itoa(port)
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(shutdownCtx())
	c, err := net.Dial("udp", cfg.Media.NGListen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ask := func(cookie, dict string) string {
		t.Helper()
		if _, err := c.Write([]byte(cookie + " " + dict)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 65536)
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("no ng reply: %v", err)
		}
		reply, ok := strings.CutPrefix(string(buf[:n]), cookie+" ")
		if !ok {
			t.Fatalf("reply %q lacks the cookie", buf[:n])
		}
		return reply
	}
	if r := ask("c1", "d7:command4:pinge"); r != "d6:result4:ponge" {
		t.Fatalf("ping: %q", r)
	}
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	offer := "d7:command5:offer7:call-id2:c18:from-tag2:ft3:sdp" + strconv.Itoa(len(sdp)) + ":" + sdp + "e"
	r := ask("c2", offer)
	if !strings.Contains(r, "6:result2:ok") || !strings.Contains(r, "c=IN IP4 127.0.0.1") || strings.Contains(r, "m=audio 40000") {
		t.Fatalf("offer: the SDP does not point at the relay on 127.0.0.1:\n%q", r)
	}
}
