package admin

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/transport"
)

func TestCallID(t *testing.T) {
	for _, tc := range []struct{ msg, want string }{
		{"INVITE sip:a SIP/2.0\r\nVia: x\r\nCall-ID: abc@h\r\n\r\n", "abc@h"},
		{"INVITE sip:a SIP/2.0\r\ncall-id :  abc \r\n\r\n", "abc"},
		{"SIP/2.0 200 OK\r\ni: compact\r\n\r\n", "compact"},
		{"SIP/2.0 200 OK\r\nCall-Info: <x>\r\nIn-Reply-To: y\r\nCALL-ID:z\r\n\r\n", "z"},
		{"INVITE sip:a SIP/2.0\r\nVia: x\r\n\r\nCall-ID: in-body\r\n", ""},
		{"INVITE sip:a SIP/2.0\nCall-ID: lf-only\n\n", "lf-only"},
		{"INVITE sip:a SIP/2.0\r\nCall-ID:\r\n\r\n", ""},
		{"garbage", ""},
		{"", ""},
	} {
		if got := string(CallID([]byte(tc.msg))); got != tc.want {
			t.Errorf("CallID(%q) = %q, want %q", tc.msg, got, tc.want)
		}
	}
	golden, err := os.ReadFile("testdata/invite.sip")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(CallID(golden)); got != "golden-call-1@127.0.0.1" {
		t.Errorf("golden: %q", got)
	}
}

func FuzzCallID(f *testing.F) {
	golden, _ := os.ReadFile("testdata/invite.sip")
	f.Add(golden)
	f.Add([]byte("SIP/2.0 200 OK\r\ni: x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		id := CallID(b)
		if id != nil && !bytes.Contains(b, id) {
			t.Fatalf("Call-ID %q not in the message", id)
		}
		_ = RedactCredentials(b)
	})
}

var (
	alice  = netip.MustParseAddrPort("127.0.0.1:5070")
	parley = netip.MustParseAddrPort("127.0.0.1:5060")
)

func msgWithID(id string, pad int) []byte {
	return []byte("OPTIONS sip:x SIP/2.0\r\nCall-ID: " + id + "\r\nX: " + strings.Repeat("p", pad) + "\r\n\r\n")
}

// TestCaptureBounds: the ring never holds more calls or bytes than it was
// given; the oldest calls go first and the rest stay whole.
func TestCaptureBounds(t *testing.T) {
	c := NewCapture(3, 4096)
	for i := range 5 {
		c.Tap(transport.Received, "UDP", parley, alice, msgWithID(fmt.Sprint("call-", i), 10))
	}
	st := c.Stats()
	if st.Calls != 3 || st.CallsDropped != 2 {
		t.Fatalf("stats %+v, want 3 calls, 2 dropped", st)
	}
	if _, ok := c.Messages("call-0"); ok {
		t.Error("the oldest call is still held")
	}
	list := c.Calls(0)
	if len(list) != 3 || list[0].CallID != "call-4" || list[2].CallID != "call-2" {
		t.Errorf("calls newest first: %v", list)
	}
	// Byte bound: 1000-byte messages into 4096 bytes.
	c = NewCapture(100, 4096)
	for i := range 50 {
		c.Tap(transport.Sent, "UDP", parley, alice, msgWithID(fmt.Sprint("big-", i), 950))
		c.Tap(transport.Received, "UDP", parley, alice, msgWithID(fmt.Sprint("big-", i), 950))
		if st := c.Stats(); st.Bytes > st.Capacity {
			t.Fatalf("after %d: %d bytes held in a ring of %d", i, st.Bytes, st.Capacity)
		}
	}
	for _, s := range c.Calls(0) {
		msgs, ok := c.Messages(s.CallID)
		if !ok || len(msgs) != 2 {
			t.Fatalf("call %s: %d messages, want both", s.CallID, len(msgs))
		}
		for _, m := range msgs {
			if string(CallID(m.Raw)) != s.CallID {
				t.Fatalf("call %s holds a message of %q: the ring overwrote live bytes", s.CallID, CallID(m.Raw))
			}
		}
	}
	if st := c.Stats(); st.Calls == 0 || st.Calls > 2 {
		t.Errorf("stats %+v: want 1-2 calls of 2 KB in 4 KB", st)
	}
	// A message over a quarter of the ring is not kept.
	c.Tap(transport.Sent, "UDP", parley, alice, msgWithID("huge", 2000))
	if st := c.Stats(); st.TooLarge != 1 {
		t.Errorf("too large: %+v", st)
	}
}

func BenchmarkCaptureTap(b *testing.B) {
	golden, err := os.ReadFile("testdata/invite.sip")
	if err != nil {
		b.Fatal(err)
	}
	c := NewCapture(1000, 16<<20)
	// 1000 distinct calls cycling: the realistic case of calls coming and
	// going, each message a new copy into the ring.
	msgs := make([][]byte, 1000)
	for i := range msgs {
		msgs[i] = bytes.Replace(golden, []byte("golden-call-1"), fmt.Appendf(nil, "bench-call-%06d", i), 1)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(golden)))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		c.Tap(transport.Received, "UDP", parley, alice, msgs[i%len(msgs)])
	}
}

func BenchmarkCaptureTapNewCalls(b *testing.B) {
	golden, _ := os.ReadFile("testdata/invite.sip")
	c := NewCapture(1000, 16<<20)
	msgs := make([][]byte, 100000)
	for i := range msgs {
		msgs[i] = bytes.Replace(golden, []byte("golden-call-1"), fmt.Appendf(nil, "bench-call-%06d", i), 1)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		c.Tap(transport.Received, "UDP", parley, alice, msgs[i%len(msgs)])
	}
}

func BenchmarkCallID(b *testing.B) {
	golden, _ := os.ReadFile("testdata/invite.sip")
	b.ReportAllocs()
	for b.Loop() {
		if CallID(golden) == nil {
			b.Fatal("no Call-ID")
		}
	}
}

func TestRedactCredentials(t *testing.T) {
	golden, err := os.ReadFile("testdata/invite.sip")
	if err != nil {
		t.Fatal(err)
	}
	got := RedactCredentials(golden)
	if bytes.Contains(got, []byte("0123456789abcdef0123456789abcdef")) || !bytes.Contains(got, []byte(`response="redacted"`)) {
		t.Errorf("not redacted:\n%s", got)
	}
	if !bytes.HasSuffix(got, []byte("o=- 1 1 IN IP4 127.0.0.1\r\n")) || !bytes.Contains(got, []byte(`nonce="abc"`)) {
		t.Errorf("more than the response changed:\n%s", got)
	}
	if !bytes.Contains(golden, []byte("0123456789abcdef0123456789abcdef")) {
		t.Error("the input was modified")
	}
}

// TestPcapOpensInTshark: a call written as pcap is read back by tshark
// as SIP over UDP, message by message.
func TestPcapOpensInTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("PARLEY_REQUIRE_PEERS") == "1" {
			t.Fatal("tshark not installed (Debian package tshark)")
		}
		t.Skip("tshark not installed (Debian package tshark)")
	}
	golden, _ := os.ReadFile("testdata/invite.sip")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	v6 := netip.MustParseAddrPort("[::1]:5060")
	msgs := []Message{
		{Dir: transport.Received, Transport: "UDP", At: t0, Local: parley, Remote: alice, Raw: golden},
		{Dir: transport.Sent, Transport: "UDP", At: t0.Add(time.Millisecond), Local: parley, Remote: alice,
			Raw: []byte("SIP/2.0 100 Trying\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\nCall-ID: golden-call-1@127.0.0.1\r\nCSeq: 1 INVITE\r\nFrom: <sip:alice@example.test>;tag=a1\r\nTo: <sip:bob@example.test>\r\nContent-Length: 0\r\n\r\n")},
		{Dir: transport.Sent, Transport: "TCP", At: t0.Add(2 * time.Millisecond), Local: v6, Remote: netip.MustParseAddrPort("[::1]:5080"), Raw: golden},
	}
	path := filepath.Join(t.TempDir(), "call.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := WritePcap(f, msgs); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out, err := exec.Command(tshark, "-r", path, "-o", "udp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE", "-T", "fields",
		"-e", "ip.src", "-e", "ipv6.dst", "-e", "udp.dstport", "-e", "sip.Method", "-e", "sip.Status-Code", "-e", "sip.Call-ID",
		"-e", "udp.checksum.status", "-e", "_ws.expert.message").Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 3 {
		t.Fatalf("tshark read %d packets, want 3:\n%s", len(lines), out)
	}
	// The last field but one is udp.checksum.status: 1 is "Good".
	want := []string{"127.0.0.1\t\t5060\tINVITE\t\tgolden-call-1@127.0.0.1\t1", "127.0.0.1\t\t5070\t\t100\tgolden-call-1@127.0.0.1\t1", "\t::1\t5080\tINVITE\t\tgolden-call-1@127.0.0.1\t1"}
	for i, l := range lines {
		if !strings.HasPrefix(l, want[i]) {
			t.Errorf("packet %d: %q, want prefix %q", i+1, l, want[i])
		}
		if strings.Contains(l, "Bad") || strings.Contains(strings.ToLower(l), "malformed") {
			t.Errorf("packet %d has a bad checksum or is malformed: %q", i+1, l)
		}
	}
}

// TestHEPExport: every tapped message reaches a UDP socket as HEP v3 with
// the addresses, ports, time, ids and payload in their chunks.
func TestHEPExport(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	h, err := NewHEPExporter(pc.LocalAddr().String(), 77, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 6, 7, 8, 9, 123456000, time.UTC)
	h.now = func() time.Time { return at }
	golden, _ := os.ReadFile("testdata/invite.sip")
	h.Tap(transport.Received, "UDP", parley, alice, golden)
	h.Tap(transport.Sent, "TCP", parley, alice, golden)
	for i, want := range []struct {
		proto    byte
		src, dst netip.AddrPort
	}{{17, alice, parley}, {6, parley, alice}} {
		pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 65536)
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		chunks, err := decodeHEP(buf[:n])
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		src4, dst4 := want.src.Addr().As4(), want.dst.Addr().As4()
		check := map[uint16][]byte{
			hepFamily: {2}, hepProto: {want.proto}, hepSrcIP4: src4[:], hepDstIP4: dst4[:],
			hepSrcPort: binary.BigEndian.AppendUint16(nil, want.src.Port()), hepDstPort: binary.BigEndian.AppendUint16(nil, want.dst.Port()),
			hepTimeSec: binary.BigEndian.AppendUint32(nil, uint32(at.Unix())), hepTimeUsec: binary.BigEndian.AppendUint32(nil, 123456),
			hepProtoType: {1}, hepAgentID: binary.BigEndian.AppendUint32(nil, 77), hepPayload: golden, hepCorrID: []byte("golden-call-1@127.0.0.1"),
		}
		for typ, v := range check {
			if !bytes.Equal(chunks[typ], v) {
				t.Errorf("packet %d chunk %#x = %q, want %q", i, typ, chunks[typ], v)
			}
		}
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if st := h.Stats(); st.Sent != 2 || st.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
}

// decodeHEP is the test's own HEP v3 reader, written from the format, not
// from AppendHEP.
func decodeHEP(b []byte) (map[uint16][]byte, error) {
	if len(b) < 6 || string(b[:4]) != "HEP3" {
		return nil, fmt.Errorf("no HEP3 header: %q", b[:min(6, len(b))])
	}
	if total := int(binary.BigEndian.Uint16(b[4:])); total != len(b) {
		return nil, fmt.Errorf("total length %d, datagram %d", total, len(b))
	}
	out := map[uint16][]byte{}
	for p := 6; p < len(b); {
		if p+6 > len(b) {
			return nil, fmt.Errorf("truncated chunk at %d", p)
		}
		vendor, typ, l := binary.BigEndian.Uint16(b[p:]), binary.BigEndian.Uint16(b[p+2:]), int(binary.BigEndian.Uint16(b[p+4:]))
		if vendor != 0 || l < 6 || p+l > len(b) {
			return nil, fmt.Errorf("bad chunk at %d: vendor %d length %d", p, vendor, l)
		}
		out[typ] = b[p+6 : p+l]
		p += l
	}
	return out, nil
}

// BenchmarkAdminTaps is what the admin server adds per SIP message: the
// message counter and the capture, as installed by New.
func BenchmarkAdminTaps(b *testing.B) {
	golden, _ := os.ReadFile("testdata/invite.sip")
	msgs := make([][]byte, 1000)
	for i := range msgs {
		msgs[i] = bytes.Replace(golden, []byte("golden-call-1"), fmt.Appendf(nil, "bench-call-%06d", i), 1)
	}
	taps := tee{&messageCounter{}, NewCapture(1000, 16<<20)}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		taps.Tap(transport.Received, "UDP", parley, alice, msgs[i%len(msgs)])
	}
}

// TestServerExportsHEP: with capture.hep the running server sends each
// message it receives and sends to the collector.
func TestServerExportsHEP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	cfg := testConfig(t)
	cfg.Capture.HEP = pc.LocalAddr().String()
	e := startEnv(t, cfg)
	e.sendSIP(options("hep-1"))
	var got []string
	for range 2 {
		pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 65536)
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("HEP packet %d: %v", len(got)+1, err)
		}
		ch, err := decodeHEP(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		if string(ch[hepCorrID]) != "hep-1" {
			t.Errorf("correlation id %q", ch[hepCorrID])
		}
		first, _, _ := bytes.Cut(ch[hepPayload], []byte("\r\n"))
		got = append(got, string(first))
	}
	if got[0] != "OPTIONS sip:example.test SIP/2.0" || got[1] != "SIP/2.0 200 OK" {
		t.Errorf("HEP payloads %q", got)
	}
}
