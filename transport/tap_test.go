package transport

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

type tapRecord struct {
	dir           Direction
	transport     string
	local, remote netip.AddrPort
	first         string
}

type tapRecorder struct {
	mu  sync.Mutex
	got []tapRecord
}

func (r *tapRecorder) Tap(dir Direction, tp string, local, remote netip.AddrPort, raw []byte) {
	first, _, _ := strings.Cut(string(raw), "\r\n")
	r.mu.Lock()
	r.got = append(r.got, tapRecord{dir, tp, local, remote, first})
	r.mu.Unlock()
}

func (r *tapRecorder) records() []tapRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]tapRecord(nil), r.got...)
}

// TestTap: the Tap sees a request as received and its answer as sent, over
// UDP and TCP, with both addresses; a malformed request and its stateless
// answer too.
func TestTap(t *testing.T) {
	rec := &tapRecorder{}
	l, _ := echoLayer(t, Config{Tap: rec}, "udp:127.0.0.1:0", "tcp:127.0.0.1:0")
	for _, proto := range []string{"udp", "tcp"} {
		la, _ := l.LocalAddr(strings.ToUpper(proto))
		c, err := net.Dial(proto, la.AddrPort.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		via := "SIP/2.0/" + strings.ToUpper(proto) + " " + c.LocalAddr().String() + ";branch=z9hG4bK-" + proto
		for _, msg := range []string{request("OPTIONS", via), strings.Replace(request("OPTIONS", via), "CSeq: 1 OPTIONS", "CSeq: 1 INVITE", 1)} {
			if _, err := c.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 4096)
			if _, err := c.Read(buf); err != nil {
				t.Fatalf("%s: no answer: %v", proto, err)
			}
		}
		peer := netip.MustParseAddrPort(c.LocalAddr().String())
		var want []string
		for _, r := range rec.records() {
			if r.remote == peer {
				if r.local != la.AddrPort || r.transport != strings.ToUpper(proto) {
					t.Errorf("%s: record %+v, want local %s", proto, r, la.AddrPort)
				}
				want = append(want, r.dir.String()+" "+r.first)
			}
		}
		exp := []string{"received OPTIONS sip:bob@example.test SIP/2.0", "sent SIP/2.0 200 OK", "received OPTIONS sip:bob@example.test SIP/2.0", "sent SIP/2.0 400 Bad CSeq: method INVITE does not match OPTIONS"}
		if strings.Join(want, "|") != strings.Join(exp, "|") {
			t.Errorf("%s: tapped\n%q\nwant\n%q", proto, want, exp)
		}
	}
	l.SetTap(nil)
	if n := len(rec.records()); n != 8 {
		t.Errorf("%d records, want 8", n)
	}
}
