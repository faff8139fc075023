package server

import (
	"net"
	"strconv"
	"testing"

	"github.com/parley-sip/parley/internal/peertest"
	"github.com/parley-sip/parley/sip"
)

// TestPBXStaleDialog: with the PBX on, an in-dialog request addressed to
// the PBX's Contact for a dialog it does not have (a call that ended) gets
// 481 (§12.2.2), not the proxy.
func TestPBXStaleDialog(t *testing.T) {
	port := peertest.FreePort(t)
	s := startPBXServer(t, port, nil)
	c, err := net.Dial("udp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().String()
	bye := "BYE sip:127.0.0.1:" + strconv.Itoa(port) + ";transport=udp SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bKstale1;rport\r\nMax-Forwards: 70\r\n" +
		"From: <sip:alice@example.test>;tag=gone1\r\nTo: <sip:bob@example.test>;tag=gone2\r\n" +
		"Call-ID: stale-dialog-1\r\nCSeq: 5 BYE\r\nContent-Length: 0\r\n\r\n"
	if resp := exchange(t, c, bye); resp.StatusCode != sip.StatusCallTransactionDoesNotExist {
		t.Errorf("BYE for a dialog the PBX does not have: %d %s, want 481", resp.StatusCode, resp.Reason)
	}
	if st := s.PBX().Stats(); st.Calls != 0 {
		t.Errorf("PBX stats %+v, want no call", st)
	}
}
