package proxy

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-sip/parley/internal/peertest"
)

// sippUAS starts a SIPp callee with a scenario and returns its contact URI
// for user bob.
func sippUAS(t *testing.T, sipp, scenario string, calls int) (*peertest.Process, string, string) {
	t.Helper()
	port := peertest.FreePort(t)
	run := peertest.SIPp{Scenario: scenario, Transport: "u1", LocalPort: port, Calls: calls, Timeout: 60 * time.Second}
	run.Extra = []string{"-trace_msg", "-message_file", "messages.log"}
	proc, dir := run.Start(t, sipp)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "messages.log"))
			t.Logf("SIPp %s (port %d) messages:\n%s", scenario, port, peertest.Tail(string(b), 60))
		}
	})
	return proc, fmt.Sprintf("sip:bob@127.0.0.1:%d", port), dir
}

// runCaller runs the SIPp caller through the proxy and checks every call
// completed (INVITE, 180, 200, ACK, BYE through the route set).
func runCaller(t *testing.T, sipp string, s *stack, calls int) {
	t.Helper()
	time.Sleep(300 * time.Millisecond) // let the callees bind
	uac := peertest.SIPp{
		Scenario: "uac_call_via_proxy", Transport: "u1", Target: s.addr.String(),
		LocalPort: peertest.FreePort(t), Calls: calls, Rate: 10, Timeout: 60 * time.Second,
		Extra: []string{"-s", "bob", "-trace_msg", "-message_file", "messages.log"},
	}
	res := uac.Run(t, sipp)
	if res.ExitCode != 0 || res.Successful != calls || res.Failed != 0 {
		b, _ := os.ReadFile(filepath.Join(res.Dir, "messages.log"))
		t.Fatalf("SIPp caller: %s\nerrors:\n%s\nmessages:\n%s", res, res.Errors(), peertest.Tail(string(b), 80))
	}
	t.Logf("SIPp caller: %s", res)
}

// TestSIPpCallThroughProxy: SIPp calls SIPp through the proxy, 20 calls,
// with the route set honoured by both.
func TestSIPpCallThroughProxy(t *testing.T) {
	sipp := peertest.Need(t, "sipp", "sip-tester")
	const calls = 20
	callee, contact, _ := sippUAS(t, sipp, "uas_answer", calls)
	s := newStack(t, locatorFor(t, map[string][]Target{"bob@example.test": {target(t, contact, 1000)}}), withT1(500*time.Millisecond))
	runCaller(t, sipp, s, calls)
	if err := callee.Wait(30 * time.Second); err != nil {
		t.Fatalf("SIPp callee: %v\n%s", err, peertest.Tail(callee.Output(), 20))
	}
}

// TestSIPpForkToThreeDevices: bob has three devices, each a SIPp callee.
// One answers after ringing; the proxy cancels the two others, which
// answer the CANCEL and 487; the caller completes the call.
func TestSIPpForkToThreeDevices(t *testing.T) {
	sipp := peertest.Need(t, "sipp", "sip-tester")
	const calls = 5
	answer, c1, _ := sippUAS(t, sipp, "uas_answer", calls)
	ring1, c2, _ := sippUAS(t, sipp, "uas_ring", calls)
	ring2, c3, _ := sippUAS(t, sipp, "uas_ring", calls)
	loc := locatorFor(t, map[string][]Target{"bob@example.test": {
		target(t, c2, 1000), target(t, c1, 1000), target(t, c3, 1000),
	}})
	s := newStack(t, loc, withT1(500*time.Millisecond))
	runCaller(t, sipp, s, calls)
	for name, p := range map[string]*peertest.Process{"answering": answer, "ringing 1": ring1, "ringing 2": ring2} {
		if err := p.Wait(30 * time.Second); err != nil {
			t.Errorf("SIPp %s device: %v\n%s", name, err, peertest.Tail(p.Output(), 20))
		}
	}
}
