package server

import (
	"encoding/binary"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/internal/peertest"
	"github.com/parley-sip/parley/pbx/cdr"
	"github.com/parley-sip/parley/transport"
)

// sippDigestDevice registers bob (digest) from a free port with SIPp, then
// starts the callee scenario on that port.
func sippDigestDevice(t *testing.T, sipp, target, scenario string, calls int, extra ...string) *sippDevice {
	t.Helper()
	port := peertest.FreePort(t)
	reg := peertest.SIPp{
		Scenario: "register_digest_uac", Transport: "u1", Target: target,
		LocalPort: port, Calls: 1, Rate: 10, Timeout: 30 * time.Second,
		Extra: []string{"-s", "bob", "-au", "bob", "-ap", "builder", "-auth_uri", "example.test", "-key", "domain", "example.test",
			"-key", "expires", "600"},
	}
	if res := reg.Run(t, sipp); res.ExitCode != 0 || res.Successful != 1 {
		failSIPp(t, "bob's REGISTER", res)
	}
	run := peertest.SIPp{Scenario: scenario, Transport: "u1", LocalPort: port, Calls: calls, Timeout: 60 * time.Second,
		Extra: append([]string{"-trace_msg", "-message_file", "messages.log"}, extra...)}
	proc, dir := run.Start(t, sipp)
	return &sippDevice{name: scenario + ":" + strconv.Itoa(port), port: port, proc: proc, dir: dir}
}

// TestSIPpCallsThroughPBX: SIPp as alice (digest: 407, then credentials)
// calls bob, a SIPp callee registered with digest, 50 times, up to 10 at
// once, through the B2BUA with media anchored: every call completes, every
// call has a record (answered, anchored, ended by the caller), and the
// relay's ports and the PBX's calls are back to none afterwards.
func TestSIPpCallsThroughPBX(t *testing.T) {
	sipp := peertest.Need(t, "sipp", "sip-tester")
	const calls = 50
	port := peertest.FreePort(t)
	s := startPBXServer(t, port, nil)
	target := addr(t, s, transport.UDP)
	callee := sippDigestDevice(t, sipp, target, "uas_answer", calls)
	time.Sleep(300 * time.Millisecond) // let the callee bind
	uac := peertest.SIPp{
		Scenario: "uac_call_digest", Transport: "u1", Target: target,
		LocalPort: peertest.FreePort(t), Calls: calls, Rate: 20, Timeout: 60 * time.Second,
		Extra: []string{"-s", "bob", "-au", "alice", "-ap", "wonderland", "-auth_uri", "bob@example.test",
			"-key", "domain", "example.test", "-key", "user", "alice", "-d", "500", "-l", "10",
			"-trace_msg", "-message_file", "messages.log"},
	}
	res := uac.Run(t, sipp)
	if res.ExitCode != 0 || res.Successful != calls || res.Failed != 0 {
		failSIPp(t, "caller", res)
	}
	callee.wait(t)
	rs := lastCDR(t, s, calls)
	for _, r := range rs {
		if r.Caller != "alice" || r.Callee != "bob" || r.Disposition != cdr.Answered || !r.Anchored || r.Cause.Side != cdr.SideCaller {
			t.Fatalf("record %+v, want alice → bob answered, anchored, ended by the caller", r)
		}
	}
	if !peertest.WaitFor(3*time.Second, func() bool { return s.relay.Stats().Streams == 0 && s.bridge.Stats().Active == 0 }) {
		t.Errorf("after the calls: relay %+v, PBX %+v", s.relay.Stats(), s.bridge.Stats())
	}
	t.Logf("caller: %s; PBX %+v; relay %+v", res, s.bridge.Stats(), s.relay.Stats())
}

// pcapPackets counts the packets of a pcap file (classic format).
func pcapPackets(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("no %s: %v", path, err)
	}
	n := 0
	for off := 24; off+16 <= len(b); n++ {
		off += 16 + int(binary.LittleEndian.Uint32(b[off+8:]))
	}
	return n
}

// TestSIPpConcurrentCallsWithRTP: 100 calls at once through the B2BUA,
// each playing SIPp's G.711 A-law pcap (236 packets in 7 s) to a SIPp
// callee that echoes it (-rtp_echo), which answered PCMU: the relay
// transcodes both ways. Every call completes and the relay forwards every
// packet both ways: none lost.
func TestSIPpConcurrentCallsWithRTP(t *testing.T) {
	sipp := peertest.Need(t, "sipp", "sip-tester")
	const pcap = "/usr/share/sip-tester/g711a.pcap"
	perCall := pcapPackets(t, pcap)
	const calls = 100
	port := peertest.FreePort(t)
	s := startPBXServer(t, port, func(c *config.Config) {
		// 100 relayed calls need 400 ports; pairs in use elsewhere are
		// skipped by the allocator.
		c.Media.RTPPorts = config.PortRange{Lo: 42000, Hi: 43999}
	})
	target := addr(t, s, transport.UDP)
	callee := sippDigestDevice(t, sipp, target, "uas_answer", calls, "-rtp_echo", "-mp", strconv.Itoa(peertest.FreePort(t)))
	time.Sleep(300 * time.Millisecond)
	uac := peertest.SIPp{
		Scenario: "uac_call_digest_rtp", Transport: "u1", Target: target,
		LocalPort: peertest.FreePort(t), Calls: calls, Rate: 50, Timeout: 90 * time.Second,
		Files: map[string]string{"g711a.pcap": pcap},
		Extra: []string{"-s", "bob", "-au", "alice", "-ap", "wonderland", "-auth_uri", "bob@example.test",
			"-key", "domain", "example.test", "-key", "user", "alice", "-d", "8000", "-l", strconv.Itoa(calls),
			"-mp", strconv.Itoa(peertest.FreePort(t))},
	}
	res := uac.Run(t, sipp)
	if res.ExitCode != 0 || res.Successful != calls || res.Failed != 0 {
		failSIPp(t, "caller", res)
	}
	callee.wait(t)
	st := s.relay.Stats()
	want := uint64(2 * perCall * calls)
	t.Logf("caller: %s; relay %+v; want %d packets forwarded", res, st, want)
	if st.Packets < want || st.Opened != calls {
		t.Errorf("relay forwarded %d packets over %d streams, want %d over %d (none lost)", st.Packets, st.Opened, want, calls)
	}
	if !peertest.WaitFor(3*time.Second, func() bool { return s.relay.Stats().Streams == 0 && s.bridge.Stats().Active == 0 }) {
		t.Errorf("after the calls: relay %+v, PBX %+v", s.relay.Stats(), s.bridge.Stats())
	}
}
