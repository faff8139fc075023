package server

import (
	"net"
	"strconv"
	"testing"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// BenchmarkUDPOptions measures the whole server path for one OPTIONS
// transaction over loopback UDP: socket read, parse, transaction match and
// creation, handler, response build, marshal and socket write, plus the
// client's own send and receive.
func BenchmarkUDPOptions(b *testing.B) {
	s := startServerB(b, nil)
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

// BenchmarkUDPRegisterDigest is what SIPp's register-digest scenario does
// to the server (bench/sipp): REGISTER, 401, REGISTER with MD5
// credentials, 200 — the registrar's binding refresh, its journal write and
// the digest check (nonce, nonce count) included, over loopback UDP. The
// allocations counted include the client's: parsing the two responses and
// computing its digest answer.
func BenchmarkUDPRegisterDigest(b *testing.B) {
	cfg := digestConfig(b, b.TempDir(), "udp:127.0.0.1:0")
	cfg.DigestAlgorithms = []string{"MD5"}
	s := startServerB(b, cfg)
	c, err := net.Dial("udp", addrB(b, s))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().String()
	buf := make([]byte, 4096)
	req := make([]byte, 0, 1024)
	build := func(i, cseq int, authz string) []byte {
		n := strconv.Itoa(i)
		req = append(req[:0], "REGISTER sip:example.test SIP/2.0\r\nVia: SIP/2.0/UDP "...)
		req = append(req, local+";branch=z9hG4bKrb"+n+"-"+strconv.Itoa(cseq)+";rport\r\n"...)
		req = append(req, "Max-Forwards: 70\r\nTo: <sip:alice@example.test>\r\nFrom: <sip:alice@example.test>;tag=rb"+n+"\r\n"...)
		req = append(req, "Call-ID: rb"+n+"@bench\r\nCSeq: "+strconv.Itoa(cseq)+" REGISTER\r\n"...)
		req = append(req, "Contact: <sip:alice@"+local+">;expires=3600\r\n"...)
		if authz != "" {
			req = append(req, "Authorization: "+authz+"\r\n"...)
		}
		return append(req, "Content-Length: 0\r\n\r\n"...)
	}
	roundTrip := func(msg []byte) *sip.Response {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		n, err := c.Read(buf)
		if err != nil {
			b.Fatal(err)
		}
		m, err := sip.Parse(buf[:n])
		if err != nil {
			b.Fatal(err)
		}
		return m.(*sip.Response)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		resp := roundTrip(build(i, 1, ""))
		ch, ok := resp.WWWAuthenticate()
		if resp.StatusCode != 401 || !ok {
			b.Fatalf("got %d, want 401 with a challenge", resp.StatusCode)
		}
		authz, err := auth.Answer(ch, "REGISTER", "sip:example.test", "alice", "wonderland", 1)
		if err != nil {
			b.Fatal(err)
		}
		if resp = roundTrip(build(i, 2, authz)); resp.StatusCode != 200 {
			b.Fatalf("got %d, want 200", resp.StatusCode)
		}
	}
}

func startServerB(b *testing.B, cfg *config.Config) *Server {
	if cfg == nil {
		cfg = defaultTestConfig(b, "udp:127.0.0.1:0")
	}
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
