package server

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/config"
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

// TestPBXOutboundRouteNotForStrangers: a dial-plan route that leaves the
// domain (proxy to a gateway) is our users' only: a stranger dialling it
// gets 403 and the gateway hears nothing (toll fraud).
func TestPBXOutboundRouteNotForStrangers(t *testing.T) {
	gw := listenVictim(t)
	plan, err := config.Decode(strings.NewReader("users:\n  - name: alice\n    password: wonderland\n  - name: bob\n    password: builder\n" +
		"dialplan:\n  routes:\n    - match: \"_9.\"\n      proxy: \"sip:" + gw.LocalAddr().String() + "\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	port := peertest.FreePort(t)
	startPBXServer(t, port, func(cfg *config.Config) { cfg.Dialplan = plan.Dialplan })
	c, err := net.Dial("udp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := fromHeader(msg("INVITE", "sip:900155501@example.test"), "From: <sip:mallory@evil.example>;tag=m9")
	if resp := exchange(t, c, req); resp.StatusCode != 403 || !strings.Contains(resp.Reason, "Not relaying") {
		t.Fatalf("a stranger dialling out: %d %q, want 403 Not relaying", resp.StatusCode, resp.Reason)
	}
	// Our user must authenticate for it (and then may).
	req = fromHeader(msg("INVITE", "sip:900155501@example.test"), "From: <sip:alice@example.test>;tag=a9")
	if resp := exchange(t, c, req); resp.StatusCode != 407 {
		t.Fatalf("alice dialling out without credentials: %d, want 407", resp.StatusCode)
	}
	expectNothing(t, gw, 300*time.Millisecond)
}
