package transaction

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/parley-sip/parley/sip"
)

const b1 = sip.MagicCookie + "client1"

// startInvite starts an INVITE client transaction and returns it with the
// request as the layer sent it.
func startInvite(t *testing.T, l *Layer, dst any) *ClientTx {
	t.Helper()
	d := udpDst
	if dst != nil {
		d = tcpDst
	}
	tx, err := l.Request(context.Background(), msg{method: sip.INVITE, branch: b1, extra: "Route: <sip:p1.example.com;lr>\r\nRoute: <sip:p2.example.com;lr>\r\n"}.build(sip.Origin{}), d)
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

func TestInviteClientTimerAB(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, s := newTestLayer(t, Config{}, nil)
		tx := startInvite(t, l, nil)
		sleep(64*DefaultT1 - time.Millisecond)
		wantState(t, tx.currentState(), stCalling)
		// Timer A: T1, 2T1, 4T1, ... after the previous send.
		sameTimes(t, "INVITE", times(s.requests(sip.INVITE)), ms(0, 500, 1500, 3500, 7500, 15500, 31500))
		sleep(time.Millisecond) // timer B
		<-tx.Done()
		if !errors.Is(tx.Err(), ErrTimeout) {
			t.Fatalf("err %v", tx.Err())
		}
		if _, closed := drain(tx.Responses()); !closed {
			t.Fatal("responses not closed")
		}
		if st := l.Stats(); st.Timeouts != 1 || st.Live != 0 || st.ClientTransactions != 1 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestInviteClientProvisionalAndNon2xx(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, s := newTestLayer(t, Config{}, nil)
		tx := startInvite(t, l, nil)
		sleep(600 * time.Millisecond)
		l.HandleMessage(reply(tx.Request(), 180, "uas1"))
		wantState(t, tx.currentState(), stProceeding)
		sleep(100 * time.Second) // no A, no B in Proceeding
		sameTimes(t, "INVITE", times(s.requests(sip.INVITE)), ms(0, 500))
		wantState(t, tx.currentState(), stProceeding)

		final := reply(tx.Request(), 486, "uas1")
		l.HandleMessage(final)
		wantState(t, tx.currentState(), stCompleted)
		got, closed := drain(tx.Responses())
		if len(got) != 2 || got[0].StatusCode != 180 || got[1].StatusCode != 486 || !closed {
			t.Fatalf("responses %v closed=%v", got, closed)
		}
		acks := s.requests(sip.ACK)
		if len(acks) != 1 {
			t.Fatalf("%d ACKs", len(acks))
		}
		ack := acks[0].req
		checkAckOrCancel(t, ack, tx.Request(), sip.ACK, "uas1")
		if acks[0].dst != udpDst {
			t.Fatalf("ACK to %v", acks[0].dst)
		}

		// A retransmitted final response is ACKed again, not passed up.
		sleep(time.Second)
		l.HandleMessage(reply(tx.Request(), 486, "uas1"))
		if n := len(s.requests(sip.ACK)); n != 2 {
			t.Fatalf("%d ACKs after retransmission", n)
		}
		// Timer D: 32 s after the final response.
		sleep(DefaultTimerD - time.Second - time.Millisecond)
		if isClosed(tx.Done()) {
			t.Fatal("terminated before timer D")
		}
		sleep(time.Millisecond)
		<-tx.Done()
		if tx.Err() != nil {
			t.Fatal(tx.Err())
		}
		if l.Stats().Retransmissions != 1 {
			t.Fatalf("stats %+v", l.Stats())
		}
		// Now unknown: a stray.
		l.HandleMessage(reply(tx.Request(), 486, "uas1"))
		if l.Stats().StrayResponses != 1 {
			t.Fatal("not stray")
		}
	})
}

func checkAckOrCancel(t *testing.T, r, inv *sip.Request, method, toTag string) {
	t.Helper()
	if r.Method != method || !r.URI.Equal(&inv.URI) {
		t.Fatalf("request line %s %s", r.Method, r.URI.String())
	}
	via, _ := r.TopVia()
	ivia, _ := inv.TopVia()
	if via.Branch() != ivia.Branch() || r.ViaCount() != 1 {
		t.Fatalf("via %v", r.String())
	}
	cs, _ := r.CSeq()
	ics, _ := inv.CSeq()
	if cs.Seq != ics.Seq || cs.Method != method {
		t.Fatalf("cseq %v", cs)
	}
	if r.CallID() != inv.CallID() || r.FromTag() != inv.FromTag() || r.ToTag() != toTag {
		t.Fatalf("dialog ids: %s", r.String())
	}
	var routes []string
	for v := range r.Values("Route") {
		routes = append(routes, v)
	}
	if strings.Join(routes, ",") != "<sip:p1.example.com;lr>,<sip:p2.example.com;lr>" {
		t.Fatalf("routes %v", routes)
	}
}

func TestInviteClient2xxAccepted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, s := newTestLayer(t, Config{}, nil)
		tx := startInvite(t, l, nil)
		l.HandleMessage(reply(tx.Request(), 200, "uas1"))
		wantState(t, tx.currentState(), stAccepted)
		sleep(10 * time.Second)
		l.HandleMessage(reply(tx.Request(), 200, "uas1")) // retransmission
		l.HandleMessage(reply(tx.Request(), 200, "uas2")) // another fork
		l.HandleMessage(reply(tx.Request(), 180, "uas3")) // ignored in Accepted
		got, closed := drain(tx.Responses())
		if len(got) != 3 || closed || got[2].ToTag() != "uas2" {
			t.Fatalf("responses %d closed=%v", len(got), closed)
		}
		if n := len(s.requests(sip.ACK)); n != 0 {
			t.Fatal("the layer must not ACK a 2xx")
		}
		sameTimes(t, "INVITE", times(s.requests(sip.INVITE)), ms(0))
		// Timer M: 64*T1 after the first 2xx.
		sleep(64*DefaultT1 - 10*time.Second - time.Millisecond)
		if isClosed(tx.Done()) {
			t.Fatal("terminated before timer M")
		}
		sleep(time.Millisecond)
		<-tx.Done()
		if _, closed := drain(tx.Responses()); !closed || tx.Err() != nil {
			t.Fatal("not closed after M", tx.Err())
		}
	})
}

func TestInviteClientReliable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, s := newTestLayer(t, Config{}, nil)
		tx := startInvite(t, l, tcpDst)
		sleep(64 * DefaultT1)
		sameTimes(t, "INVITE", times(s.requests(sip.INVITE)), ms(0))
		<-tx.Done()
		if !errors.Is(tx.Err(), ErrTimeout) {
			t.Fatal(tx.Err())
		}

		tx = startInvite(t, l, tcpDst)
		l.HandleMessage(reply(tx.Request(), 404, "x"))
		// Timer D is zero: terminated at once, after the ACK.
		<-tx.Done()
		if n := len(s.requests(sip.ACK)); n != 1 || tx.Err() != nil {
			t.Fatalf("%d ACKs, err %v", n, tx.Err())
		}
	})
}

func TestNonInviteClientTimerEF(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, s := newTestLayer(t, Config{}, nil)
		tx, err := l.Request(context.Background(), msg{method: sip.OPTIONS, branch: b1}.build(sip.Origin{}), udpDst)
		if err != nil {
			t.Fatal(err)
		}
		wantState(t, tx.currentState(), stTrying)
		sleep(64 * DefaultT1)
		<-tx.Done()
		// Timer E doubles up to T2 (4 s), timer F at 32 s.
		sameTimes(t, "OPTIONS", times(s.requests(sip.OPTIONS)),
			ms(0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500))
		if !errors.Is(tx.Err(), ErrTimeout) {
			t.Fatal(tx.Err())
		}
	})
}

func TestNonInviteClientProceedingAndK(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, s := newTestLayer(t, Config{}, nil)
		tx, err := l.Request(context.Background(), msg{method: sip.REGISTER, branch: b1}.build(sip.Origin{}), udpDst)
		if err != nil {
			t.Fatal(err)
		}
		sleep(700 * time.Millisecond)
		l.HandleMessage(reply(tx.Request(), 100, ""))
		wantState(t, tx.currentState(), stProceeding)
		sleep(9 * time.Second) // to 9.7 s
		// E keeps its schedule (next at 1.5 s), then runs at T2.
		sameTimes(t, "REGISTER", times(s.requests(sip.REGISTER)), ms(0, 500, 1500, 5500, 9500))
		l.HandleMessage(reply(tx.Request(), 200, "r"))
		wantState(t, tx.currentState(), stCompleted)
		got, closed := drain(tx.Responses())
		if len(got) != 2 || got[1].StatusCode != 200 || !closed {
			t.Fatalf("responses %d closed=%v", len(got), closed)
		}
		l.HandleMessage(reply(tx.Request(), 200, "r")) // absorbed
		sleep(DefaultT4 - time.Millisecond)
		if isClosed(tx.Done()) {
			t.Fatal("terminated before timer K")
		}
		sleep(time.Millisecond)
		<-tx.Done()
		if n := len(s.requests(sip.REGISTER)); n != 5 || tx.Err() != nil || l.Stats().Retransmissions != 1 {
			t.Fatalf("%d sent, err %v, stats %+v", n, tx.Err(), l.Stats())
		}
	})
}

func TestNonInviteClientReliable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, s := newTestLayer(t, Config{}, nil)
		tx, err := l.Request(context.Background(), msg{method: sip.OPTIONS, branch: b1}.build(sip.Origin{}), tcpDst)
		if err != nil {
			t.Fatal(err)
		}
		sleep(10 * time.Second)
		l.HandleMessage(reply(tx.Request(), 200, "r"))
		<-tx.Done() // K is zero
		if n := len(s.requests(sip.OPTIONS)); n != 1 || tx.Err() != nil {
			t.Fatalf("%d sent, err %v", n, tx.Err())
		}
		tx, _ = l.Request(context.Background(), msg{method: sip.OPTIONS, branch: b1 + "x"}.build(sip.Origin{}), tcpDst)
		sleep(64 * DefaultT1)
		<-tx.Done()
		if !errors.Is(tx.Err(), ErrTimeout) || len(s.requests(sip.OPTIONS)) != 2 {
			t.Fatal(tx.Err())
		}
	})
}

func TestClientCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, s := newTestLayer(t, Config{}, nil)
		tx := startInvite(t, l, nil)
		// Before a provisional response, the CANCEL waits (§9.1).
		if err := tx.Cancel(); err != nil {
			t.Fatal(err)
		}
		if len(s.requests(sip.CANCEL)) != 0 {
			t.Fatal("CANCEL sent before a provisional response")
		}
		sleep(time.Second)
		l.HandleMessage(reply(tx.Request(), 180, "uas1"))
		cancels := s.requests(sip.CANCEL)
		if len(cancels) != 1 {
			t.Fatalf("%d CANCELs", len(cancels))
		}
		checkAckOrCancel(t, cancels[0].req, tx.Request(), sip.CANCEL, "")
		if cancels[0].dst != udpDst {
			t.Fatal("CANCEL destination")
		}
		// The CANCEL is a non-INVITE transaction of its own: retransmitted
		// by timer E until its 200.
		sleep(600 * time.Millisecond)
		if n := len(s.requests(sip.CANCEL)); n != 2 {
			t.Fatalf("%d CANCELs after 600 ms", n)
		}
		l.HandleMessage(reply(cancels[0].req, 200, "uas1"))
		l.HandleMessage(reply(tx.Request(), 487, "uas1"))
		got, _ := drain(tx.Responses())
		if len(got) != 2 || got[1].StatusCode != 487 {
			t.Fatalf("responses %v", got)
		}
		if len(s.requests(sip.ACK)) != 1 {
			t.Fatal("487 not ACKed")
		}
		if err := tx.Cancel(); err != nil || len(s.requests(sip.CANCEL)) != 2 {
			t.Fatal("second Cancel did something")
		}
		sleep(time.Minute)
		if l.Stats().Live != 0 {
			t.Fatalf("live %d", l.Stats().Live)
		}
		if err := (&ClientTx{}).Cancel(); !errors.Is(err, ErrNotInvite) {
			t.Fatal(err)
		}
	})
}

func TestClientCancelNoFinal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, s := newTestLayer(t, Config{}, nil)
		ctx, cancel := context.WithCancel(context.Background())
		tx, err := l.Request(ctx, msg{method: sip.INVITE, branch: b1}.build(sip.Origin{}), udpDst)
		if err != nil {
			t.Fatal(err)
		}
		l.HandleMessage(reply(tx.Request(), 183, "uas1"))
		sleep(5 * time.Second)
		cancel() // ctx ending cancels the INVITE
		synctest.Wait()
		if len(s.requests(sip.CANCEL)) != 1 {
			t.Fatal("ctx did not send CANCEL")
		}
		// §9.1: no final response 64*T1 after the CANCEL ends it.
		sleep(64*DefaultT1 - time.Millisecond)
		if isClosed(tx.Done()) {
			t.Fatal("ended early")
		}
		sleep(time.Millisecond)
		<-tx.Done()
		if !errors.Is(tx.Err(), ErrTimeout) {
			t.Fatal(tx.Err())
		}
	})
}

func TestClientTimerC(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		timerC := 3*time.Minute + time.Second
		l, s := newTestLayer(t, Config{TimerC: timerC}, nil)
		tx := startInvite(t, l, tcpDst)
		sleep(10 * time.Second)
		l.HandleMessage(reply(tx.Request(), 180, "uas1")) // re-arms C
		sleep(timerC - time.Millisecond)
		if len(s.requests(sip.CANCEL)) != 0 {
			t.Fatal("Timer C early")
		}
		sleep(time.Millisecond)
		if len(s.requests(sip.CANCEL)) != 1 {
			t.Fatal("Timer C did not cancel")
		}
		l.HandleMessage(reply(tx.Request(), 487, "uas1"))
		<-tx.Done()

		// Without a provisional response: as if 408 arrived. Over TCP
		// there is no timer B before C... use a long T1 to keep B away.
		l2, _ := newTestLayer(t, Config{TimerC: timerC, T1: 4 * time.Second, T2: 8 * time.Second}, nil)
		tx = startInvite(t, l2, tcpDst)
		sleep(timerC)
		<-tx.Done()
		got, closed := drain(tx.Responses())
		if len(got) != 1 || got[0].StatusCode != 408 || !closed || tx.Err() != nil {
			t.Fatalf("got %v err %v", got, tx.Err())
		}
	})
}

func TestClientErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, s := newTestLayer(t, Config{}, nil)
		s.setFail(errBoom)
		_, err := l.Request(context.Background(), msg{method: sip.INVITE, branch: b1}.build(sip.Origin{}), udpDst)
		if !errors.Is(err, ErrTransport) || !errors.Is(err, errBoom) {
			t.Fatal(err)
		}
		s.setFail(nil)
		// A retransmission failing ends the transaction.
		tx := startInvite(t, l, nil)
		s.setFail(errBoom)
		sleep(DefaultT1)
		<-tx.Done()
		if !errors.Is(tx.Err(), ErrTransport) {
			t.Fatal(tx.Err())
		}
		s.setFail(nil)

		if _, err := l.Request(context.Background(), msg{method: sip.ACK, branch: b1}.build(sip.Origin{}), udpDst); !errors.Is(err, ErrBadRequest) {
			t.Fatal(err)
		}
		bad := msg{method: sip.INVITE, branch: b1}.build(sip.Origin{})
		bad.Set("CSeq", "1 BYE")
		if _, err := l.Request(context.Background(), bad, udpDst); !errors.Is(err, ErrBadRequest) {
			t.Fatal(err)
		}
		startInvite(t, l, nil)
		if _, err := l.Request(context.Background(), msg{method: sip.INVITE, branch: b1}.build(sip.Origin{}), udpDst); !errors.Is(err, ErrDuplicate) {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := l.Request(ctx, msg{method: sip.OPTIONS}.build(sip.Origin{}), udpDst); !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
	})
}

func TestClientBranchGenerated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, s := newTestLayer(t, Config{}, nil)
		req := msg{method: sip.OPTIONS}.build(sip.Origin{})
		req.Add("Via", "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKsecond")
		tx, err := l.Request(context.Background(), req, udpDst)
		if err != nil {
			t.Fatal(err)
		}
		via, _ := tx.Request().TopVia()
		if !strings.HasPrefix(via.Branch(), sip.MagicCookie) || len(via.Branch()) != len(sip.MagicCookie)+24 || via.Host != "192.0.2.1" {
			t.Fatalf("via %+v", via)
		}
		if tx.Request().ViaCount() != 2 {
			t.Fatal(tx.Request().String())
		}
		l.HandleMessage(reply(s.requests(sip.OPTIONS)[0].req, 200, "x"))
		if got, _ := drain(tx.Responses()); len(got) != 1 {
			t.Fatal("response not matched by the generated branch")
		}
		if b1, b2 := NewBranch(), NewBranch(); b1 == b2 {
			t.Fatal("not random")
		}
		if t1, t2 := NewTag(), NewTag(); t1 == t2 || len(t1) != 16 {
			t.Fatal("not random")
		}
	})
}

func TestClientResponseBuffer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, _ := newTestLayer(t, Config{ResponseBuffer: 3}, nil)
		tx := startInvite(t, l, nil)
		for range 5 {
			l.HandleMessage(reply(tx.Request(), 180, "a"))
		}
		l.HandleMessage(reply(tx.Request(), 486, "a"))
		got, closed := drain(tx.Responses())
		if len(got) != 3 || got[2].StatusCode != 486 || !closed {
			t.Fatalf("got %d closed %v", len(got), closed)
		}
		if l.Stats().DroppedResponses != 3 {
			t.Fatalf("%+v", l.Stats())
		}
	})
}
