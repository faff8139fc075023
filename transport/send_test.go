package transport

import (
	"bufio"
	"net"
	"strconv"
	"testing"
)

// TestUDPRequestViaReliableAnsweredOverUDP: a request that came over UDP
// but whose Via claims TCP or TLS is answered the way it came, to its
// source over UDP, when no connection to the Via's sent-by exists (§18.2.2
// would dial one; nothing listens there). The answer is compared byte for
// byte.
func TestUDPRequestViaReliableAnsweredOverUDP(t *testing.T) {
	l, got := echoLayer(t, Config{}, "udp:127.0.0.1:0", "tcp:127.0.0.1:0")
	a, _ := l.LocalAddr(UDP)
	for _, tr := range []string{"TCP", "TLS", "SCTP"} {
		t.Run(tr, func(t *testing.T) {
			c, err := net.Dial("udp", a.AddrPort.String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// 127.0.0.1:9 (discard) has no listener: a dial would fail.
			c.Write([]byte(request("OPTIONS", "SIP/2.0/"+tr+" 127.0.0.1:9;branch=z9hG4bKv"+tr)))
			out := readDatagram(t, c)
			<-got
			want := "SIP/2.0 200 OK\r\n" +
				"Via: SIP/2.0/" + tr + " 127.0.0.1:9;branch=z9hG4bKv" + tr + "\r\n" +
				"To: <sip:bob@example.test>\r\n" +
				"From: <sip:alice@example.test>;tag=a1\r\n" +
				"Call-ID: c1@test\r\n" +
				"CSeq: 1 OPTIONS\r\n" +
				"Content-Length: 0\r\n\r\n"
			if string(out) != want {
				t.Errorf("answer:\n%s\nwant:\n%s", out, want)
			}
		})
	}
}

// TestUDPRequestViaTCPUsesOpenConnection: when a TCP connection to the
// Via's sent-by is open, the answer to a UDP request whose Via says TCP
// goes over it (§18.2.2).
func TestUDPRequestViaTCPUsesOpenConnection(t *testing.T) {
	l, got := echoLayer(t, Config{}, "udp:127.0.0.1:0", "tcp:127.0.0.1:0")
	ua, _ := l.LocalAddr(UDP)
	ta, _ := l.LocalAddr(TCP)
	tc, err := net.Dial("tcp", ta.AddrPort.String())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	br := bufio.NewReader(tc)
	read := readStreamMessage(br)
	tcpPort := strconv.Itoa(tc.LocalAddr().(*net.TCPAddr).Port)
	// A first request over TCP makes sure the layer holds the connection.
	tc.Write([]byte(request("OPTIONS", "SIP/2.0/TCP 127.0.0.1:"+tcpPort+";branch=z9hG4bKfirst")))
	if resp := parseResponse(t, read(t, tc)); resp.StatusCode != 200 {
		t.Fatalf("first answer %d", resp.StatusCode)
	}
	<-got
	uc, err := net.Dial("udp", ua.AddrPort.String())
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	uc.Write([]byte(request("OPTIONS", "SIP/2.0/TCP 127.0.0.1:"+tcpPort+";branch=z9hG4bKsecond")))
	resp := parseResponse(t, read(t, tc))
	<-got
	if v, _ := resp.TopVia(); resp.StatusCode != 200 || v.Branch() != "z9hG4bKsecond" {
		t.Fatalf("answer over TCP: %d branch %q", resp.StatusCode, v.Branch())
	}
}
