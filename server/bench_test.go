package server

import (
	"net"
	"strconv"
	"testing"

	"github.com/parley-sip/parley/transport"
)

// BenchmarkUDPOptions measures the whole server path for one OPTIONS
// transaction over loopback UDP: socket read, parse, transaction match and
// creation, handler, response build, marshal and socket write, plus the
// client's own send and receive.
func BenchmarkUDPOptions(b *testing.B) {
	s := startServerB(b)
	c, err := net.Dial("udp", addrB(b, s))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().String()
	head := "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP " + local + ";branch=z9hG4bKbench"
	tail := ";rport\r\nMax-Forwards: 70\r\nTo: <sip:parley@127.0.0.1>\r\nFrom: <sip:bench@127.0.0.1>;tag=b1\r\n" +
		"Call-ID: bench@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContact: <sip:bench@" + local + ">\r\nAccept: application/sdp\r\nContent-Length: 0\r\n\r\n"
	buf := make([]byte, 4096)
	req := make([]byte, 0, 1024)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		req = append(strconv.AppendInt(append(req[:0], head...), int64(i), 10), tail...)
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func startServerB(b *testing.B) *Server {
	cfg := defaultTestConfig(b, "udp:127.0.0.1:0")
	s, err := New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Shutdown(shutdownCtx()) })
	return s
}

func addrB(b *testing.B, s *Server) string {
	for _, a := range s.Addrs() {
		if a.Transport == transport.UDP {
			return a.AddrPort.String()
		}
	}
	b.Fatal("no UDP listener")
	return ""
}
