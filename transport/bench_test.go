package transport

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/parley-sip/parley/sip"
)

// BenchmarkDeliver times what a UDP reader does with one datagram after the
// socket read: parse, stamp the Via (§18.2.1, RFC 3581) and hand it up, or
// answer it statelessly when it is malformed. The good path is the one every
// request takes; the malformed ones show what a broken request costs.
func BenchmarkDeliver(b *testing.B) {
	good := request("OPTIONS", "SIP/2.0/UDP 192.0.2.1:5999;branch=z9hG4bK1;rport")
	cases := []struct{ name, data string }{
		{"good", good},
		{"bad-cseq", strings.Replace(good, "CSeq: 1 OPTIONS", "CSeq: 1 INVITE", 1)},
		{"bad-via", strings.Replace(good, "SIP/2.0/UDP 192.0.2.1:5999", "SIP/2.0/UDP 192.0.2.1:x", 1)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			l := New(Config{})
			l.SetHandler(HandlerFunc(func(sip.Message) {}))
			origin := sip.Origin{
				Source:    netip.MustParseAddrPort("127.0.0.1:40000"),
				Local:     netip.MustParseAddrPort("127.0.0.1:5060"),
				Transport: UDP,
			}
			reply := func([]byte) error { return nil }
			data := []byte(c.data)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				l.deliver(data, origin, reply)
			}
		})
	}
}
