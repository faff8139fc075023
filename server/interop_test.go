package server

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/parley-sip/parley/internal/peertest"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
	"github.com/parley-sip/parley/transport"
)

// TestSIPpOptions runs SIPp as a UAC against the server: OPTIONS over UDP
// and TCP, and over UDP with SIPp losing 10% of its packets, where only
// retransmissions can complete every transaction.
func TestSIPpOptions(t *testing.T) {
	sipp := peertest.Need(t, "sipp", "sip-tester")
	s := startServer(t, "udp:127.0.0.1:0", "tcp:127.0.0.1:0")
	for _, tc := range []struct {
		name      string
		transport string
		target    string
		lost      int
	}{
		{"udp", "u1", addr(t, s, transport.UDP), 0},
		{"tcp", "t1", addr(t, s, transport.TCP), 0},
		{"udp-lost-10pct", "u1", addr(t, s, transport.UDP), 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := peertest.SIPp{
				Scenario: "options_uac", Transport: tc.transport, Target: tc.target,
				LocalPort: peertest.FreePort(t), Calls: 200, Rate: 200, Lost: tc.lost,
				Timeout: 60 * time.Second,
			}
			res := run.Run(t, sipp)
			if res.ExitCode != 0 || res.Successful != 200 || res.Failed != 0 {
				t.Fatalf("SIPp: %s\nerrors:\n%s\noutput:\n%s", res, res.Errors(), peertest.Tail(res.Output, 30))
			}
			if tc.lost > 0 && res.Retransmitted == 0 {
				t.Errorf("SIPp lost packets but retransmitted nothing: %s", res)
			}
			t.Logf("SIPp %s: %s", tc.name, res)
		})
	}
}

// TestSIPpThroughLossyRelay puts our own lossy UDP relay between SIPp and
// the server (the kernel here has no netem): every 5th packet in each
// direction is dropped, and every transaction must still complete.
func TestSIPpThroughLossyRelay(t *testing.T) {
	sipp := peertest.Need(t, "sipp", "sip-tester")
	s := startServer(t, "udp:127.0.0.1:0")
	target := netip.MustParseAddrPort(addr(t, s, transport.UDP))
	relay := peertest.StartLossyRelay(t, target, 5)
	run := peertest.SIPp{
		Scenario: "options_uac", Transport: "u1", Target: relay.Addr().String(),
		LocalPort: peertest.FreePort(t), Calls: 100, Rate: 50, Timeout: 90 * time.Second,
	}
	res := run.Run(t, sipp)
	if res.ExitCode != 0 || res.Successful != 100 || res.Failed != 0 {
		t.Fatalf("SIPp through relay: %s (relay dropped %d)\nerrors:\n%s", res, relay.Dropped(), res.Errors())
	}
	if relay.Dropped() == 0 || res.Retransmitted == 0 {
		t.Fatalf("relay dropped %d, SIPp retransmitted %d: loss was not exercised", relay.Dropped(), res.Retransmitted)
	}
	t.Logf("through relay: %s, relay dropped %d", res, relay.Dropped())
}

// TestClientTransactionsAgainstSIPpUAS drives SIPp as a UAS with Parley's
// client transactions: INVITE/ACK/BYE over UDP, over UDP through our lossy
// relay (so timers A and E and the 2xx/ACK retransmissions matter) and
// over TCP. (SIPp's own -lost cannot be used on the UAS side: when it
// "loses" the first INVITE of a call it marks the call dead and ignores
// every retransmission.)
func TestClientTransactionsAgainstSIPpUAS(t *testing.T) {
	sipp := peertest.Need(t, "sipp", "sip-tester")
	for _, tc := range []struct {
		name, sippTransport, transport string
		dropEvery                      int
	}{
		{"udp", "u1", transport.UDP, 0},
		{"udp-lossy-relay", "u1", transport.UDP, 5},
		{"tcp", "t1", transport.TCP, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const calls = 20
			tp := transport.New(transport.Config{})
			spec := transport.ListenSpec{Transport: tc.transport, Addr: "127.0.0.1:0"}
			if err := tp.Listen(spec); err != nil {
				t.Fatal(err)
			}
			txl := transaction.New(transaction.Config{T1: 100 * time.Millisecond}, tp, transaction.HandlerFunc(func(tx *transaction.ServerTx) {}))
			tp.SetHandler(txl)
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				txl.Shutdown(ctx)
				tp.Shutdown(context.Background())
			})
			port := peertest.FreePort(t)
			uas := peertest.SIPp{Scenario: "invite_uas", Transport: tc.sippTransport, LocalPort: port, Calls: calls, Timeout: 90 * time.Second}
			uas.Extra = []string{"-trace_msg", "-message_file", "messages.log"}
			proc, dir := uas.Start(t, sipp)
			t.Cleanup(func() {
				if t.Failed() {
					b, _ := os.ReadFile(filepath.Join(dir, "messages.log"))
					t.Logf("SIPp messages:\n%s", peertest.Tail(string(b), 80))
					e, _ := os.ReadFile(filepath.Join(dir, "errors.log"))
					t.Logf("SIPp errors:\n%s", peertest.Tail(string(e), 60))
				}
			})
			dst := transport.Addr{Transport: tc.transport, AddrPort: netip.MustParseAddrPort("127.0.0.1:" + strconv.Itoa(port))}
			// Wait until SIPp listens (TCP: connectable; UDP: give it a moment).
			peertest.WaitFor(5*time.Second, func() bool { return tc.transport != transport.TCP || dial(dst) })
			time.Sleep(200 * time.Millisecond)
			var relay *peertest.LossyRelay
			if tc.dropEvery > 0 {
				relay = peertest.StartLossyRelay(t, dst.AddrPort, tc.dropEvery)
				dst.AddrPort = relay.Addr()
			}
			host, lport, _ := tp.ViaHost(tc.transport)
			for i := range calls {
				if err := inviteCall(t, txl, tp, dst, host, lport, i); err != nil {
					t.Fatalf("call %d: %v\nSIPp output:\n%s", i, err, peertest.Tail(proc.Output(), 20))
				}
			}
			if err := proc.Wait(60 * time.Second); err != nil {
				t.Fatalf("SIPp UAS: %v\n%s", err, peertest.Tail(proc.Output(), 30))
			}
			if relay != nil {
				if relay.Dropped() == 0 {
					t.Fatal("the relay dropped nothing: loss was not exercised")
				}
				t.Logf("%d calls completed through the relay; it dropped %d packets", calls, relay.Dropped())
			}
		})
	}
}

func dial(a transport.Addr) bool {
	c, err := netDial("tcp", a.AddrPort.String())
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// inviteCall runs INVITE → 180 → 200 → ACK → BYE → 200 against SIPp.
func inviteCall(t *testing.T, txl *transaction.Layer, tp *transport.Layer, dst transport.Addr, host string, port, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	callID := fmt.Sprintf("call-%d-%s@parley.test", n, transaction.NewTag())
	fromTag := transaction.NewTag()
	target, _ := sip.ParseURI("sip:service@" + dst.AddrPort.String())
	mk := func(method string, cseq int, toTag string) *sip.Request {
		req := sip.NewRequest(method, target)
		req.Add("Via", fmt.Sprintf("SIP/2.0/%s %s:%d;branch=%s;rport", dst.Transport, host, port, transaction.NewBranch()))
		req.Add("Max-Forwards", "70")
		to := "<sip:service@" + dst.AddrPort.String() + ">"
		if toTag != "" {
			to += ";tag=" + toTag
		}
		req.Add("To", to)
		req.Add("From", "<sip:parley@"+host+">;tag="+fromTag)
		req.Add("Call-ID", callID)
		req.Add("CSeq", strconv.Itoa(cseq)+" "+method)
		req.Add("Contact", fmt.Sprintf("<sip:parley@%s:%d>", host, port))
		return req
	}
	invite := mk(sip.INVITE, 1, "")
	invite.Add("Content-Type", "application/sdp")
	invite.Body = []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n")
	tx, err := txl.Request(ctx, invite, dst)
	if err != nil {
		return err
	}
	var final *sip.Response
	for resp := range tx.Responses() {
		if resp.StatusCode >= 200 {
			final = resp
			break
		}
	}
	if final == nil {
		return fmt.Errorf("INVITE: no final response: %v", tx.Err())
	}
	if final.StatusCode != 200 {
		return fmt.Errorf("INVITE: %d %s", final.StatusCode, final.Reason)
	}
	toTag := final.ToTag()
	// The ACK for a 2xx is its own transaction-less request (§13.2.2.4).
	ack := mk(sip.ACK, 1, toTag)
	if err := tp.SendRequest(ack, dst); err != nil {
		return fmt.Errorf("ACK: %w", err)
	}
	// A retransmitted 2xx means the ACK was lost: send it again
	// (§13.2.2.4), for as long as the transaction passes them up.
	go func() {
		for resp := range tx.Responses() {
			if resp.StatusCode >= 200 && resp.StatusCode < 300 {
				tp.SendRequest(ack, dst)
			}
		}
	}()
	bye := mk(sip.BYE, 2, toTag)
	btx, err := txl.Request(ctx, bye, dst)
	if err != nil {
		return err
	}
	for resp := range btx.Responses() {
		if resp.StatusCode >= 200 {
			if resp.StatusCode != 200 {
				return fmt.Errorf("BYE: %d", resp.StatusCode)
			}
			return nil
		}
	}
	return fmt.Errorf("BYE: no final response: %v", btx.Err())
}
