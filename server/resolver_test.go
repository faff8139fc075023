package server

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
	"github.com/parley-sip/parley/transport/locate/locatetest"
)

// TestDNSFailover: with dns.servers set, a request relayed to a domain is
// resolved by SRV on those servers (RFC 3263), and when the first target
// never answers, the next one gets it (§4.3).
func TestDNSFailover(t *testing.T) {
	dead := mustAddrPort(t, locatetest.Silent(t))
	peer := listenVictim(t) // 127.0.0.2
	pa := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	z := locatetest.NewServer(t,
		fmt.Sprintf("_sip._udp.peer.test. 60 IN SRV 10 0 %d dead.peer.test.", dead.Port()),
		fmt.Sprintf("_sip._udp.peer.test. 60 IN SRV 20 0 %d live.peer.test.", pa.Port()),
		"dead.peer.test. 60 IN A 127.0.0.1",
		"live.peer.test. 60 IN A 127.0.0.2",
	)
	cfg := digestConfig(t, t.TempDir(), "udp:127.0.0.1:0")
	cfg.Relay.Trusted = []string{"127.0.0.7"}
	cfg.DNS.Servers = []string{z.Addr}
	cfg.DNS.Timeout = config.Duration(2 * time.Second)
	cfg.Timers.T1 = config.Duration(20 * time.Millisecond) // timer F: 1.28 s
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(shutdownCtx())
	server := mustAddrPort(t, addr(t, s, transport.UDP))
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.7")}, net.UDPAddrFromAddrPort(server))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(fromHeader(msg("OPTIONS", "sip:someone@peer.test"), "From: <sip:carrier@trunk.example>;tag=c1"))); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	peer.SetReadDeadline(time.Now().Add(8 * time.Second))
	n, _, err := peer.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("the second SRV target got nothing: %v", err)
	}
	m, err := sip.Parse(buf[:n])
	if req, ok := m.(*sip.Request); err != nil || !ok || req.Method != sip.OPTIONS {
		t.Fatalf("second SRV target got %q", buf[:n])
	}
}

func TestDNSConfigRejected(t *testing.T) {
	cfg := digestConfig(t, t.TempDir(), "udp:127.0.0.1:0")
	cfg.DNS.Servers = []string{"ns.example"}
	if _, err := New(cfg, nil); err == nil {
		t.Fatal("a nameserver given by name was accepted")
	}
}
