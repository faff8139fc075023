package proxy

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"
)

// BenchmarkForwardInvite measures one INVITE through the proxy on loopback
// UDP: caller → proxy (100 Trying, location lookup, forward) → callee,
// 200 OK back through the proxy to the caller. The callee is the scripted
// test UAS, so allocations include its parsing and answering, and the
// caller's writes; the proxy's own share is most of the rest.
func BenchmarkForwardInvite(b *testing.B) {
	callee := newUAS(b, nil, 200, 0)
	s := newStack(b, locatorFor(b, map[string][]Target{"bob@example.test": {target(b, callee.uri("bob"), 1000)}}), withT1(100*time.Millisecond))
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	me := conn.LocalAddr().String()
	dst := net.UDPAddrFromAddrPort(s.addr)
	head := "INVITE sip:bob@example.test SIP/2.0\r\nVia: SIP/2.0/UDP " + me + ";rport;branch=z9hG4bKbench"
	tail := "\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.test>\r\nFrom: <sip:alice@example.test>;tag=42\r\n" +
		"CSeq: 1 INVITE\r\nContact: <sip:alice@" + me + ">\r\nContent-Type: application/sdp\r\n"
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
	msg := make([]byte, 0, 1024)
	buf := make([]byte, 4096)
	ok := []byte("SIP/2.0 200")
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		msg = append(msg[:0], head...)
		msg = strconv.AppendInt(msg, int64(i), 10)
		msg = append(msg, tail...)
		msg = append(msg, "Call-ID: bench-"...)
		msg = strconv.AppendInt(msg, int64(i), 10)
		msg = append(msg, "\r\nContent-Length: "...)
		msg = strconv.AppendInt(msg, int64(len(sdp)), 10)
		msg = append(msg, "\r\n\r\n"...)
		msg = append(msg, sdp...)
		if _, err := conn.WriteToUDP(msg, dst); err != nil {
			b.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				b.Fatal(fmt.Errorf("call %d: %w", i, err))
			}
			if bytes.HasPrefix(buf[:n], ok) {
				break
			}
		}
	}
	b.StopTimer()
}
