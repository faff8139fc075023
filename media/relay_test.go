package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/sdp"
	"github.com/parley-sip/parley/sip"
)

var loopback4 = netip.MustParseAddr("127.0.0.1")

// testPorts picks a free-looking range for one test; the allocator skips
// pairs another process holds.
func testPorts(t testing.TB, pairs int) *PortAllocator {
	t.Helper()
	// Probe a random base in 40000-59999 (apart from the default range
	// and from rtpengine's 20000-29999 in the benchmarks).
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := c.LocalAddr().(*net.UDPAddr).Port
	c.Close()
	lo := 40000 + (p*14)%(20000-2*pairs-2)
	a, err := NewPortAllocator(lo, lo+2*pairs-1)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func newTestRelay(t testing.TB, pairs int, cfg RelayConfig) *Relay {
	t.Helper()
	cfg.LocalAddr = loopback4
	if cfg.Ports == nil {
		cfg.Ports = testPorts(t, pairs)
	}
	r, err := NewRelay(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// phone is a test endpoint: one UDP socket sending and receiving RTP.
type phone struct {
	t *testing.T
	c *net.UDPConn
}

func newPhone(t *testing.T) *phone {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &phone{t: t, c: c}
}

func (p *phone) addr() netip.AddrPort { return p.c.LocalAddr().(*net.UDPAddr).AddrPort() }

func rtpPacket(pt uint8, seq uint16, ssrc uint32, payload []byte) []byte {
	b := make([]byte, 12, 12+len(payload))
	b[0] = 0x80
	b[1] = pt
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], uint32(seq)*160)
	binary.BigEndian.PutUint32(b[8:], ssrc)
	return append(b, payload...)
}

func (p *phone) send(to netip.AddrPort, pkt []byte) {
	if _, err := p.c.WriteToUDPAddrPort(pkt, to); err != nil {
		p.t.Fatal(err)
	}
}

// recv waits (bounded) for one datagram.
func (p *phone) recv() ([]byte, netip.AddrPort) {
	p.t.Helper()
	p.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 2048)
	n, from, err := p.c.ReadFromUDPAddrPort(buf)
	if err != nil {
		p.t.Fatalf("phone %v: nothing relayed to it: %v", p.addr(), err)
	}
	return buf[:n], from
}

// expectNothing checks that no datagram arrives within a short wait.
func (p *phone) expectNothing() {
	p.t.Helper()
	p.c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	buf := make([]byte, 2048)
	if n, from, err := p.c.ReadFromUDPAddrPort(buf); err == nil {
		p.t.Fatalf("phone %v: unexpected %d bytes from %v", p.addr(), n, from)
	}
}

func TestRelayForwardsAndLatches(t *testing.T) {
	r := newTestRelay(t, 4, RelayConfig{})
	st, err := r.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, b := newPhone(t), newPhone(t)
	aRTP, aRTCP := st.LocalAddr(SideA)
	bRTP, bRTCP := st.LocalAddr(SideB)
	if aRTP.Port()%2 != 0 || aRTCP.Port() != aRTP.Port()+1 || bRTCP.Port() != bRTP.Port()+1 {
		t.Fatalf("ports %v %v %v %v", aRTP, aRTCP, bRTP, bRTCP)
	}
	// B's SDP says where B is; A's says nothing useful (behind NAT): A is
	// learned from its first packet.
	st.SetRemote(SideB, b.addr(), netip.AddrPort{})

	pkt := rtpPacket(0, 1, 0xaaaa, bytes.Repeat([]byte{0xff}, 160))
	a.send(aRTP, pkt)
	got, from := b.recv()
	if !bytes.Equal(got, pkt) || from != bRTP {
		t.Fatalf("B got %d bytes from %v, want the packet unchanged from %v", len(got), from, bRTP)
	}
	// B answers; it reaches A at the address A sent from (latched), from
	// the relay's A-facing port.
	back := rtpPacket(0, 7, 0xbbbb, bytes.Repeat([]byte{0x7f}, 160))
	b.send(bRTP, back)
	got, from = a.recv()
	if !bytes.Equal(got, back) || from != aRTP {
		t.Fatalf("A got %d bytes from %v", len(got), from)
	}
	// RTCP goes the same way on the odd ports.
	ac, bc := newPhone(t), newPhone(t)
	st.SetRemote(SideB, b.addr(), bc.addr())
	rr := []byte{0x80, 201, 0, 1, 0, 0, 0xaa, 0xaa}
	ac.send(aRTCP, rr)
	if got, from := bc.recv(); !bytes.Equal(got, rr) || from != bRTCP {
		t.Fatalf("RTCP: %x from %v", got, from)
	}
	s := st.Stats(SideA)
	if s.Packets != 2 || s.Latched != a.addr() {
		t.Fatalf("stats A %+v", s)
	}
	if rs := r.Stats(); rs.Packets != 3 || rs.Streams != 1 {
		t.Fatalf("relay stats %+v", rs)
	}
}

func TestRelayRejectsHijack(t *testing.T) {
	r := newTestRelay(t, 4, RelayConfig{RelatchAfter: time.Hour})
	st, err := r.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	a, b, evil := newPhone(t), newPhone(t), newPhone(t)
	aRTP, _ := st.LocalAddr(SideA)
	st.SetRemote(SideB, b.addr(), netip.AddrPort{})
	a.send(aRTP, rtpPacket(0, 1, 1, make([]byte, 160)))
	b.recv()
	// Another source, new SSRC, while A is not silent: dropped.
	evil.send(aRTP, rtpPacket(0, 1, 666, make([]byte, 160)))
	b.expectNothing()
	if s := st.Stats(SideA); s.Rejected != 1 || s.Latched != a.addr() {
		t.Fatalf("stats %+v", s)
	}
	// Garbage (not RTP version 2) is dropped too.
	a.send(aRTP, []byte("hello, this is not RTP"))
	b.expectNothing()
}

func TestRelayRelatchesNewStreamAfterSilence(t *testing.T) {
	r := newTestRelay(t, 4, RelayConfig{RelatchAfter: time.Millisecond})
	st, err := r.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	a, a2, b := newPhone(t), newPhone(t), newPhone(t)
	aRTP, _ := st.LocalAddr(SideA)
	bRTP, _ := st.LocalAddr(SideB)
	st.SetRemote(SideB, b.addr(), netip.AddrPort{})
	a.send(aRTP, rtpPacket(0, 1, 1, make([]byte, 160)))
	b.recv()
	time.Sleep(20 * time.Millisecond) // A falls silent for longer than RelatchAfter
	// Same SSRC from elsewhere: not a new stream, rejected.
	a2.send(aRTP, rtpPacket(0, 2, 1, make([]byte, 160)))
	b.expectNothing()
	// A new SSRC: the phone moved; latch to it.
	a2.send(aRTP, rtpPacket(0, 1, 2, make([]byte, 160)))
	b.recv()
	b.send(bRTP, rtpPacket(0, 1, 9, make([]byte, 160)))
	if _, from := a2.recv(); from != aRTP {
		t.Fatalf("from %v", from)
	}
	if s := st.Stats(SideA); s.Relatched != 1 || s.Latched != a2.addr() {
		t.Fatalf("stats %+v", s)
	}
}

func TestRelayTranscodesAndMapsPayloadTypes(t *testing.T) {
	r := newTestRelay(t, 4, RelayConfig{})
	st, err := r.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	a, b := newPhone(t), newPhone(t)
	aRTP, _ := st.LocalAddr(SideA)
	st.SetRemote(SideB, b.addr(), netip.AddrPort{})
	if err := st.SetTranscode(SideA, 0, 8); err != nil {
		t.Fatal(err)
	}
	if err := st.SetTranscode(SideA, 0, 9); !errors.Is(err, ErrNotG711) {
		t.Fatalf("G.722: %v", err)
	}
	st.MapPayloadType(SideA, 101, 96)
	pcm := make([]int16, 160)
	for i := range pcm {
		pcm[i] = int16((i*937)%20000 - 10000)
	}
	ulaw := make([]byte, 160)
	EncodeUlaw(ulaw, pcm)
	a.send(aRTP, rtpPacket(0x80, 1, 1, ulaw)) // PCMU with the marker set: kept
	got, _ := b.recv()
	if got[1] != 0x80|8 {
		t.Fatalf("payload type byte %#x, want marker + 8", got[1])
	}
	want := make([]byte, 160)
	dec := make([]int16, 160)
	DecodeUlaw(dec, ulaw)
	EncodeAlaw(want, dec)
	if !bytes.Equal(got[12:], want) {
		t.Fatal("A-law payload differs from decode µ-law + encode A-law")
	}
	ev := []byte{5, 0x80, 0, 160}
	a.send(aRTP, rtpPacket(101, 2, 1, ev))
	if got, _ := b.recv(); got[1] != 96 || !bytes.Equal(got[12:], ev) {
		t.Fatalf("telephone-event: pt %d payload %x", got[1], got[12:])
	}
	// The hook sees events (the SIP INFO seam) and may keep them from B.
	var seen []byte
	st.SetEventHook(SideA, 101, true, func(from Side, pkt []byte) { seen = append(seen, pkt[12]) })
	a.send(aRTP, rtpPacket(101, 3, 1, ev))
	b.expectNothing()
	st.Stats(SideA) // synchronises with the worker
	if len(seen) != 1 || seen[0] != 5 {
		t.Fatalf("hook saw %v", seen)
	}
	for i := range 256 { // the tables invert each other on the values A-law can hold
		u := alawToUlawTable[ulawToAlawTable[i]]
		if d := int(ulawDecTable[u]) - int(ulawDecTable[i]); d > 1<<10 || d < -(1<<10) {
			t.Fatalf("µ-law %#x → A-law → µ-law %#x: %d off", i, u, d)
		}
	}
}

func TestPortAllocatorExhaustion(t *testing.T) {
	r := newTestRelay(t, 2, RelayConfig{}) // two pairs: one stream
	st, err := r.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.NewStream()
	var se *sip.StatusError
	if !errors.Is(err, ErrNoPorts) || !errors.As(err, &se) || se.Code != 503 {
		t.Fatalf("second stream: %v, want a 503 StatusError wrapping ErrNoPorts", err)
	}
	if ps := r.cfg.Ports.Stats(); ps.InUse != 2 || ps.Exhausted != 1 {
		t.Fatalf("port stats %+v", ps)
	}
	// A Session shares the allocator and sees the same exhaustion.
	if _, err := NewSession(Config{LocalAddr: loopback4, Ports: r.cfg.Ports}); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("session: %v", err)
	}
	st.Close()
	s, err := NewSession(Config{LocalAddr: loopback4, Ports: r.cfg.Ports})
	if err != nil {
		t.Fatal(err)
	}
	if p := int(s.LocalAddr().Port()); p%2 != 0 || r.cfg.Ports.Stats().InUse != 1 {
		t.Fatalf("session port %d, stats %+v", p, r.cfg.Ports.Stats())
	}
	s.Close()
	if ps := r.cfg.Ports.Stats(); ps.InUse != 0 {
		t.Fatalf("after close %+v", ps)
	}
}

func TestPortAllocatorRange(t *testing.T) {
	for _, bad := range [][2]int{{100, 200}, {30000, 30000}, {30001, 30001}, {60000, 70000}} {
		if _, err := NewPortAllocator(bad[0], bad[1]); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// TestRelayReleasesEverything opens and closes 1,000 calls (two streams
// each: audio and video) and checks that ports, sockets and goroutines are
// back at their baseline.
func TestRelayReleasesEverything(t *testing.T) {
	r := newTestRelay(t, 16, RelayConfig{})
	ports := r.cfg.Ports
	offer, err := sdp.Parse([]byte(strings.ReplaceAll(relayOfferSDP, "\n", "\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	g0, fd0 := runtime.NumGoroutine(), openFDs(t)
	for i := range 1000 {
		c := r.NewCall()
		if _, err := c.Rewrite(SideA, offer); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		c.Close()
	}
	// Goroutines end asynchronously on the portable path; wait, bounded.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > g0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g, fd := runtime.NumGoroutine(), openFDs(t); g > g0 || fd > fd0 {
		t.Fatalf("after 1000 calls: goroutines %d (baseline %d), open fds %d (baseline %d)", g, g0, fd, fd0)
	}
	if ps := ports.Stats(); ps.InUse != 0 {
		t.Fatalf("ports in use %d", ps.InUse)
	}
	if rs := r.Stats(); rs.Streams != 0 || rs.Opened != 2000 {
		t.Fatalf("relay stats %+v", rs)
	}
}

const relayOfferSDP = `v=0
o=alice 2890844526 2890844526 IN IP4 192.0.2.10
s=-
c=IN IP4 192.0.2.10
t=0 0
m=audio 49170 RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=rtcp:49171
a=sendrecv
m=video 51372 RTP/AVP 96
c=IN IP4 192.0.2.11
a=rtpmap:96 H264/90000
a=fmtp:96 profile-level-id=42e01f
a=candidate:1 1 UDP 2130706431 192.0.2.11 51372 typ host
m=image 0 udptl t38
`

func TestRelayCallRewrite(t *testing.T) {
	r := newTestRelay(t, 8, RelayConfig{})
	offer, err := sdp.Parse([]byte(strings.ReplaceAll(relayOfferSDP, "\n", "\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	c := r.NewCall()
	defer c.Close()
	out, err := c.Rewrite(SideA, offer)
	if err != nil {
		t.Fatal(err)
	}
	sts := c.Streams()
	if len(sts) != 3 || sts[0] == nil || sts[1] == nil || sts[2] != nil {
		t.Fatalf("streams %v", sts)
	}
	aRTP, aRTCP := sts[0].LocalAddr(SideB)
	vRTP, _ := sts[1].LocalAddr(SideB)
	got := string(out.Marshal())
	want := strings.NewReplacer("49170", itoa(aRTP.Port()), "49171", itoa(aRTCP.Port()), "51372 RTP", itoa(vRTP.Port())+" RTP",
		"c=IN IP4 192.0.2.10", "c=IN IP4 127.0.0.1", "c=IN IP4 192.0.2.11", "c=IN IP4 127.0.0.1",
		"a=candidate:1 1 UDP 2130706431 192.0.2.11 51372 typ host\n", "").Replace(relayOfferSDP)
	want = strings.ReplaceAll(want, "\n", "\r\n")
	if got != want {
		t.Fatalf("rewritten offer:\n%s\nwant:\n%s", got, want)
	}
	// Side A's SDP addresses are where side A's media goes for now.
	sk := sts[0].socks[SideA]
	if sk[0].peer.addrPort() != netip.MustParseAddrPort("192.0.2.10:49170") || sk[1].peer.addrPort() != netip.MustParseAddrPort("192.0.2.10:49171") {
		t.Fatalf("A's remote %v %v", sk[0].peer.addrPort(), sk[1].peer.addrPort())
	}
	if sts[1].socks[SideA][0].peer.addrPort() != netip.MustParseAddrPort("192.0.2.11:51372") {
		t.Fatal("video remote")
	}
	if len(offer.Media[1].Attributes) != 3 || offer.Media[0].Port != 49170 {
		t.Fatal("the input was modified")
	}
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }

func TestNewRelayChecksConfig(t *testing.T) {
	ports := testPorts(t, 2)
	for _, cfg := range []RelayConfig{
		{Ports: ports},
		{LocalAddr: loopback4},
		{LocalAddr: netip.IPv4Unspecified(), Ports: ports},
	} {
		if r, err := NewRelay(cfg); err == nil {
			r.Close()
			t.Errorf("%+v accepted", cfg)
		}
	}
	r, err := NewRelay(RelayConfig{LocalAddr: netip.IPv4Unspecified(), AdvertiseAddr: loopback4, Ports: ports})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Addr() != loopback4 {
		t.Fatal(r.Addr())
	}
}
