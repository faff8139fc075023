package transport

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/sip"
)

// FuzzTCPFraming writes fuzzer-chosen bytes, cut at fuzzer-chosen points,
// into a real TCP connection to a listening layer: the layer must neither
// panic nor hang, and every message it hands up must be one the Framer
// finds in the same bytes delivered whole.
func FuzzTCPFraming(f *testing.F) {
	m1 := request("OPTIONS", "SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKf1")
	m2 := request("OPTIONS", "SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKf2")
	f.Add([]byte(m1+m2), uint16(7), uint16(300))
	f.Add([]byte("\r\n\r\n"+m1+"\r\n"+m2), uint16(1), uint16(2))
	f.Add([]byte(m1[:40]), uint16(3), uint16(9))
	f.Add([]byte("OPTIONS sip:a SIP/2.0\r\nContent-Length: 99999999\r\n\r\n"), uint16(5), uint16(5))

	l := New(Config{IdleTimeout: 2 * time.Second})
	var mu sync.Mutex
	var got []string
	l.SetHandler(HandlerFunc(func(m sip.Message) {
		mu.Lock()
		got = append(got, m.Hdr().CallID()+"|"+branchOf(m))
		mu.Unlock()
	}))
	if err := l.Listen(ListenSpec{Transport: TCP, Addr: "127.0.0.1:0"}); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { l.Shutdown(context.Background()) })
	a, _ := l.LocalAddr(TCP)

	f.Fuzz(func(t *testing.T, data []byte, cut1, cut2 uint16) {
		if len(data) > 8192 {
			return
		}
		// What the Framer finds in the whole stream is the most the
		// layer may deliver.
		var fr sip.Framer
		fr.Write(data)
		want := map[string]int{}
		for {
			kind, frame, err := fr.Next()
			if err != nil || kind == sip.FrameNone {
				break
			}
			if kind == sip.FrameMessage {
				if m, err := sip.Parse(frame); err == nil {
					want[m.Hdr().CallID()+"|"+branchOf(m)]++
				}
			}
		}
		mu.Lock()
		got = got[:0]
		mu.Unlock()
		c, err := net.Dial("tcp", a.AddrPort.String())
		if err != nil {
			t.Skip("dial:", err) // connection limits under heavy fuzzing
		}
		defer c.Close()
		c1, c2 := int(cut1)%(len(data)+1), int(cut2)%(len(data)+1)
		if c1 > c2 {
			c1, c2 = c2, c1
		}
		for _, part := range [][]byte{data[:c1], data[c1:c2], data[c2:]} {
			if len(part) > 0 {
				c.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := c.Write(part); err != nil {
					return // the layer closed a broken stream
				}
			}
		}
		// Bounded wait for what can arrive.
		total := 0
		for _, n := range want {
			total += n
		}
		deadline := time.Now().Add(500 * time.Millisecond)
		for time.Now().Before(deadline) {
			mu.Lock()
			n := len(got)
			mu.Unlock()
			if n >= total {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, k := range got {
			if want[k] == 0 {
				t.Fatalf("layer delivered %q, which the Framer does not find in the stream", k)
			}
			want[k]--
		}
	})
}

func branchOf(m sip.Message) string {
	v, err := m.Hdr().TopVia()
	if err != nil {
		return ""
	}
	return v.Branch()
}

func TestIPv6Listener(t *testing.T) {
	pc, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback here:", err)
	}
	pc.Close()
	l, _ := echoLayer(t, Config{}, "udp:[::1]:0", "udp:127.0.0.1:0")
	for _, network := range []string{"udp6", "udp4"} {
		var target string
		for _, la := range l.LocalAddrs() {
			if la.AddrPort.Addr().Is6() == (network == "udp6") {
				target = la.AddrPort.String()
			}
		}
		c, err := net.Dial(network, target)
		if err != nil {
			t.Fatal(err)
		}
		host := "127.0.0.1"
		if network == "udp6" {
			host = "[::1]"
		}
		c.Write([]byte(request("OPTIONS", "SIP/2.0/UDP "+host+":9;branch=z9hG4bK6"+network+";rport")))
		if r := readResponse(t, c); r.StatusCode != 200 {
			t.Fatalf("%s: status %d", network, r.StatusCode)
		}
		c.Close()
	}
}
