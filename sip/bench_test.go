package sip_test

// Hot-path benchmarks for the message core: parse, parse plus the header
// accesses a proxy makes, write, and stream framing. Run with
//
//	go test -run '^$' -bench . -benchmem ./sip
//
// The three messages below are the same bytes as bench/testdata/*.sip, which
// the side-by-side comparison in the bench module uses (that module cannot
// import test files, so the fixtures exist once per module). If you change
// one copy, change the other; TestBenchMessages checks this copy.

import (
	"testing"

	"github.com/parley-sip/parley/sip"
)

// benchInvite is an initial INVITE as a softphone sends it through its
// outbound proxy: 16 headers and an SDP offer.
const benchInvite = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 192.0.2.4:5060;rport;branch=z9hG4bKPj3c1d7e0a9b2f4c8e\r\n" +
	"Max-Forwards: 70\r\n" +
	"Route: <sip:proxy.atlanta.example.com;lr>\r\n" +
	"From: \"Alice Liddell\" <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n" +
	"To: <sip:bob@biloxi.example.com>\r\n" +
	"Contact: \"Alice Liddell\" <sip:alice@192.0.2.4:5060;ob>\r\n" +
	"Call-ID: 3848276298220188511@atlanta.example.com\r\n" +
	"CSeq: 2 INVITE\r\n" +
	"Allow: PRACK, INVITE, ACK, BYE, CANCEL, UPDATE, INFO, SUBSCRIBE, NOTIFY, REFER, MESSAGE, OPTIONS\r\n" +
	"Supported: replaces, 100rel, timer, norefersub\r\n" +
	"Session-Expires: 1800\r\n" +
	"Min-SE: 90\r\n" +
	"User-Agent: Parley/0.1 (softphone)\r\n" +
	"Content-Type: application/sdp\r\n" +
	"Content-Length: 260\r\n" +
	"\r\n" +
	"v=0\r\n" +
	"o=alice 2890844526 2890844526 IN IP4 192.0.2.4\r\n" +
	"s=-\r\n" +
	"c=IN IP4 192.0.2.4\r\n" +
	"t=0 0\r\n" +
	"m=audio 49170 RTP/AVP 0 8 9 101\r\n" +
	"a=rtpmap:0 PCMU/8000\r\n" +
	"a=rtpmap:8 PCMA/8000\r\n" +
	"a=rtpmap:9 G722/8000\r\n" +
	"a=rtpmap:101 telephone-event/8000\r\n" +
	"a=fmtp:101 0-16\r\n" +
	"a=ptime:20\r\n" +
	"a=sendrecv\r\n"

// benchRegister is a REGISTER answering a digest challenge.
const benchRegister = "REGISTER sip:atlanta.example.com SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 192.0.2.4:5060;rport;branch=z9hG4bKPjb8c1f0e2d3a44e7f\r\n" +
	"Max-Forwards: 70\r\n" +
	"From: \"Alice Liddell\" <sip:alice@atlanta.example.com>;tag=4f2a1b9c7d\r\n" +
	"To: \"Alice Liddell\" <sip:alice@atlanta.example.com>\r\n" +
	"Call-ID: 7c1e4b3a9f0d2e8c5b6a@192.0.2.4\r\n" +
	"CSeq: 2 REGISTER\r\n" +
	"User-Agent: Parley/0.1 (softphone)\r\n" +
	"Contact: \"Alice Liddell\" <sip:alice@192.0.2.4:5060;ob>;reg-id=1;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-00a0c91e6bf6>\"\r\n" +
	"Expires: 3600\r\n" +
	"Allow: PRACK, INVITE, ACK, BYE, CANCEL, UPDATE, INFO, SUBSCRIBE, NOTIFY, REFER, MESSAGE, OPTIONS\r\n" +
	"Authorization: Digest username=\"alice\", realm=\"atlanta.example.com\", nonce=\"ea9c8e88df84f1cec4341ae6cbe5a359\", uri=\"sip:atlanta.example.com\", response=\"dfe56131d1958046689d83306477ecc\", algorithm=MD5, cnonce=\"0a4f113b\", qop=auth, nc=00000001\r\n" +
	"Content-Length: 0\r\n" +
	"\r\n"

// benchOK is the 200 OK to benchInvite as it reaches the UAC's proxy: two
// Vias, three Record-Routes, a Contact and an SDP answer.
const benchOK = "SIP/2.0 200 OK\r\n" +
	"Via: SIP/2.0/UDP proxy.atlanta.example.com:5060;branch=z9hG4bK2d4790.1;received=198.51.100.10\r\n" +
	"Via: SIP/2.0/UDP 192.0.2.4:5060;rport=5060;received=192.0.2.4;branch=z9hG4bKPj3c1d7e0a9b2f4c8e\r\n" +
	"Record-Route: <sip:proxy2.biloxi.example.com;lr>\r\n" +
	"Record-Route: <sip:proxy1.biloxi.example.com;lr>\r\n" +
	"Record-Route: <sip:proxy.atlanta.example.com;lr>\r\n" +
	"From: \"Alice Liddell\" <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n" +
	"To: <sip:bob@biloxi.example.com>;tag=8321234356\r\n" +
	"Call-ID: 3848276298220188511@atlanta.example.com\r\n" +
	"CSeq: 2 INVITE\r\n" +
	"Contact: <sip:bob@192.0.2.100:5060;transport=udp>\r\n" +
	"Allow: PRACK, INVITE, ACK, BYE, CANCEL, UPDATE, INFO, SUBSCRIBE, NOTIFY, REFER, MESSAGE, OPTIONS\r\n" +
	"Supported: replaces, timer\r\n" +
	"Session-Expires: 1800;refresher=uac\r\n" +
	"Server: Parley/0.1\r\n" +
	"Content-Type: application/sdp\r\n" +
	"Content-Length: 213\r\n" +
	"\r\n" +
	"v=0\r\n" +
	"o=bob 2808844564 2808844564 IN IP4 192.0.2.100\r\n" +
	"s=-\r\n" +
	"c=IN IP4 192.0.2.100\r\n" +
	"t=0 0\r\n" +
	"m=audio 3456 RTP/AVP 0 101\r\n" +
	"a=rtpmap:0 PCMU/8000\r\n" +
	"a=rtpmap:101 telephone-event/8000\r\n" +
	"a=fmtp:101 0-16\r\n" +
	"a=ptime:20\r\n" +
	"a=sendrecv\r\n"

var benchMessages = []struct {
	name string
	data string
}{
	{"invite", benchInvite},
	{"register", benchRegister},
	{"ok", benchOK},
}

// proxyView is what a proxy reads from every message it handles.
type proxyView struct {
	viaHost     string
	viaPort     int
	branch      string
	fromTag     string
	toTag       string
	callID      string
	cseq        uint32
	method      string
	maxForwards int
	routes      int    // Route values of a request, Record-Route values of a response
	routeHost   string // host of the first of them
	contacts    int
	contactHost string
}

// access makes the header accesses of a stateful proxy: the top Via and its
// branch (transaction key), the tags, Call-ID and CSeq (dialog and
// transaction matching), Max-Forwards, the route set and the Contacts.
func access(m sip.Message, v *proxyView) error {
	h := m.Hdr()
	via, err := h.TopVia()
	if err != nil {
		return err
	}
	v.viaHost, v.viaPort, v.branch = via.Host, via.Port, via.Branch()
	v.fromTag = h.FromTag()
	v.toTag = h.ToTag()
	v.callID = h.CallID()
	cseq, err := h.CSeq()
	if err != nil {
		return err
	}
	v.cseq, v.method = cseq.Seq, cseq.Method
	v.maxForwards, _ = h.MaxForwards()
	// Range over the iterators directly: through a func variable the loop
	// body would escape to the heap.
	v.routes, v.routeHost = 0, ""
	if _, ok := m.(*sip.Response); ok {
		for a, err := range h.RecordRoutes() {
			if err != nil {
				return err
			}
			if v.routes == 0 {
				v.routeHost = a.URI.Host
			}
			v.routes++
		}
	} else {
		for a, err := range h.Routes() {
			if err != nil {
				return err
			}
			if v.routes == 0 {
				v.routeHost = a.URI.Host
			}
			v.routes++
		}
	}
	v.contacts, v.contactHost = 0, ""
	for a, err := range h.Contacts() {
		if err != nil {
			return err
		}
		if v.contacts == 0 {
			v.contactHost = a.URI.Host
		}
		v.contacts++
	}
	return nil
}

// TestBenchMessages checks that the benchmark messages parse, that the
// accesses find what they should (so the benchmarks never time an error
// path) and that they round-trip byte for byte.
func TestBenchMessages(t *testing.T) {
	want := map[string]proxyView{
		"invite": {
			viaHost: "192.0.2.4", viaPort: 5060, branch: "z9hG4bKPj3c1d7e0a9b2f4c8e",
			fromTag: "9fxced76sl", callID: "3848276298220188511@atlanta.example.com",
			cseq: 2, method: "INVITE", maxForwards: 70,
			routes: 1, routeHost: "proxy.atlanta.example.com",
			contacts: 1, contactHost: "192.0.2.4",
		},
		"register": {
			viaHost: "192.0.2.4", viaPort: 5060, branch: "z9hG4bKPjb8c1f0e2d3a44e7f",
			fromTag: "4f2a1b9c7d", callID: "7c1e4b3a9f0d2e8c5b6a@192.0.2.4",
			cseq: 2, method: "REGISTER", maxForwards: 70,
			contacts: 1, contactHost: "192.0.2.4",
		},
		"ok": {
			viaHost: "proxy.atlanta.example.com", viaPort: 5060, branch: "z9hG4bK2d4790.1",
			fromTag: "9fxced76sl", toTag: "8321234356", callID: "3848276298220188511@atlanta.example.com",
			cseq: 2, method: "INVITE",
			routes: 3, routeHost: "proxy2.biloxi.example.com",
			contacts: 1, contactHost: "192.0.2.100",
		},
	}
	for _, bm := range benchMessages {
		t.Run(bm.name, func(t *testing.T) {
			m, err := sip.Parse([]byte(bm.data))
			if err != nil {
				t.Fatal(err)
			}
			var v proxyView
			if err := access(m, &v); err != nil {
				t.Fatal(err)
			}
			if v != want[bm.name] {
				t.Errorf("accesses:\n got %+v\nwant %+v", v, want[bm.name])
			}
			if cl, _ := m.Hdr().ContentLength(); cl != len(m.MessageBody()) {
				t.Errorf("Content-Length %d, body %d bytes", cl, len(m.MessageBody()))
			}
			if out := string(m.AppendTo(nil)); out != bm.data {
				t.Errorf("round trip:\n%q\n%q", out, bm.data)
			}
			if c, ok := m.Hdr().Authorization(); bm.name == "register" && (!ok || c.Scheme != "Digest") {
				t.Errorf("Authorization: %+v %v", c, ok)
			}
		})
	}
}

// BenchmarkParse times Parse alone: framing the header section, splitting
// the lines, the header ids, and the validation Parse does on every message.
func BenchmarkParse(b *testing.B) {
	for _, bm := range benchMessages {
		b.Run(bm.name, func(b *testing.B) {
			data := []byte(bm.data)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := sip.Parse(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseAccess times Parse plus the accesses a proxy makes on every
// message (see access).
func BenchmarkParseAccess(b *testing.B) {
	for _, bm := range benchMessages {
		b.Run(bm.name, func(b *testing.B) {
			data := []byte(bm.data)
			var v proxyView
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				m, err := sip.Parse(data)
				if err != nil {
					b.Fatal(err)
				}
				if err := access(m, &v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppendTo times writing a parsed message into a reused buffer, as
// the transport does with its pooled buffers.
func BenchmarkAppendTo(b *testing.B) {
	for _, bm := range benchMessages {
		b.Run(bm.name, func(b *testing.B) {
			m, err := sip.Parse([]byte(bm.data))
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 0, 2048)
			b.SetBytes(int64(len(bm.data)))
			b.ReportAllocs()
			for b.Loop() {
				buf = m.AppendTo(buf[:0])
			}
			if len(buf) != len(bm.data) {
				b.Fatalf("wrote %d bytes, want %d", len(buf), len(bm.data))
			}
		})
	}
}

// BenchmarkMarshalSizeAppendTo times the writer as a caller without a
// pooled buffer of known size uses it: MarshalSize, then AppendTo into a
// buffer grown to fit (reused, so steady state does not allocate).
func BenchmarkMarshalSizeAppendTo(b *testing.B) {
	for _, bm := range benchMessages {
		b.Run(bm.name, func(b *testing.B) {
			m, err := sip.Parse([]byte(bm.data))
			if err != nil {
				b.Fatal(err)
			}
			var buf []byte
			b.SetBytes(int64(len(bm.data)))
			b.ReportAllocs()
			for b.Loop() {
				if n := m.MarshalSize(); cap(buf) < n {
					buf = make([]byte, 0, n)
				}
				buf = m.AppendTo(buf[:0])
			}
		})
	}
}

// BenchmarkFramer times stream framing (TCP/TLS) of the INVITE: delivered
// whole in one read, split across three reads (inside the header section,
// and inside the body), and four messages coalesced in one read. An op is
// one round of reads; ns/msg divides by the messages framed.
func BenchmarkFramer(b *testing.B) {
	msg := []byte(benchInvite)
	third := len(msg) / 3
	coalesced := make([]byte, 0, 4*len(msg))
	for range 4 {
		coalesced = append(coalesced, msg...)
	}
	cases := []struct {
		name  string
		reads [][]byte
		msgs  int
	}{
		{"whole", [][]byte{msg}, 1},
		{"split3", [][]byte{msg[:third], msg[third : 2*third], msg[2*third:]}, 1},
		{"coalesced4", [][]byte{coalesced}, 4},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var f sip.Framer
			b.SetBytes(int64(c.msgs * len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				got := 0
				for _, r := range c.reads {
					f.Write(r)
					for {
						kind, frame, err := f.Next()
						if err != nil {
							b.Fatal(err)
						}
						if kind == sip.FrameNone {
							break
						}
						if kind != sip.FrameMessage || len(frame) != len(msg) {
							b.Fatalf("frame kind %d, %d bytes", kind, len(frame))
						}
						got++
					}
				}
				if got != c.msgs {
					b.Fatalf("framed %d messages, want %d", got, c.msgs)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*c.msgs), "ns/msg")
		})
	}
}

// BenchmarkFramerParse times what a stream reader does per read: frame,
// then parse each frame (Parse copies it, so the framer's buffer is free
// for the next read).
func BenchmarkFramerParse(b *testing.B) {
	msg := []byte(benchInvite)
	coalesced := make([]byte, 0, 4*len(msg))
	for range 4 {
		coalesced = append(coalesced, msg...)
	}
	var f sip.Framer
	b.SetBytes(int64(len(coalesced)))
	b.ReportAllocs()
	for b.Loop() {
		f.Write(coalesced)
		for {
			kind, frame, err := f.Next()
			if err != nil {
				b.Fatal(err)
			}
			if kind == sip.FrameNone {
				break
			}
			if _, err := sip.Parse(frame); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*4), "ns/msg")
}

// BenchmarkAccess times only the accesses a proxy makes, on a parsed message.
func BenchmarkAccess(b *testing.B) {
	for _, bm := range benchMessages {
		b.Run(bm.name, func(b *testing.B) {
			m, err := sip.Parse([]byte(bm.data))
			if err != nil {
				b.Fatal(err)
			}
			var v proxyView
			b.ReportAllocs()
			for b.Loop() {
				if err := access(m, &v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
