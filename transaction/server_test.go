package transaction

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/parley-sip/parley/sip"
)

const sb = sip.MagicCookie + "server1"

// serve delivers req and returns the server transaction the handler got.
func serve(t *testing.T, l *Layer, h *serverRecorder, req *sip.Request) *ServerTx {
	t.Helper()
	n := len(h.got())
	l.HandleMessage(req)
	synctest.Wait()
	got := h.got()
	if len(got) != n+1 {
		t.Fatalf("handler got %d transactions, want %d", len(got), n+1)
	}
	return got[n]
}

func respond(t *testing.T, tx *ServerTx, code int) {
	t.Helper()
	resp := sip.NewResponse(tx.Request(), code, "")
	if code > 100 {
		resp.SetToTag("uas")
	}
	if err := tx.Respond(resp); err != nil {
		t.Fatal(err)
	}
}

func codes(ss []sent) []int {
	out := make([]int, len(ss))
	for i, s := range ss {
		out[i] = s.resp.StatusCode
	}
	return out
}

func TestInviteServerTryingAndRetransmissions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &serverRecorder{}
		l, s := newTestLayer(t, Config{}, h)
		inv := msg{branch: sb}.build(udpOrigin)
		tx := serve(t, l, h, inv)
		wantState(t, tx.currentState(), stProceeding)
		sleep(199 * time.Millisecond)
		if s.count() != 0 {
			t.Fatal("100 before 200 ms")
		}
		sleep(time.Millisecond)
		trying := s.responses(100)
		if len(trying) != 1 || trying[0].resp.Origin != udpOrigin {
			t.Fatalf("100 Trying: %v", trying)
		}
		// A retransmission gets the last response and not the handler.
		l.HandleMessage(msg{branch: sb}.build(udpOrigin))
		synctest.Wait()
		if len(h.got()) != 1 || len(s.responses(100)) != 2 {
			t.Fatal("retransmission mishandled")
		}
		respond(t, tx, 180)
		l.HandleMessage(msg{branch: sb}.build(udpOrigin))
		if got := codes(s.responses(0)); len(got) != 4 || got[3] != 180 {
			t.Fatalf("sent %v", got)
		}
		if l.Stats().Retransmissions != 2 {
			t.Fatalf("%+v", l.Stats())
		}
	})
}

func TestInviteServerTryingWhenRetransmittedEarly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &serverRecorder{}
		l, s := newTestLayer(t, Config{}, h)
		serve(t, l, h, msg{branch: sb}.build(udpOrigin))
		sleep(100 * time.Millisecond)
		l.HandleMessage(msg{branch: sb}.build(udpOrigin))
		sameTimes(t, "100", times(s.responses(100)), ms(100))
		sleep(time.Second)
		sameTimes(t, "100", times(s.responses(100)), ms(100))
	})
}

func TestInviteServerTUAnswersFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &serverRecorder{fn: func(tx *ServerTx) { respond(t, tx, 180) }}
		l, s := newTestLayer(t, Config{}, h)
		serve(t, l, h, msg{branch: sb}.build(udpOrigin))
		sleep(time.Second)
		if got := codes(s.responses(0)); len(got) != 1 || got[0] != 180 {
			t.Fatalf("sent %v", got)
		}
		l2, s2 := newTestLayer(t, Config{TryingDelay: -1}, h)
		h.fn = nil
		serve(t, l2, h, msg{branch: sb}.build(udpOrigin))
		sleep(time.Second)
		if s2.count() != 0 {
			t.Fatal("100 sent with TryingDelay < 0")
		}
	})
}

func TestInviteServerNon2xxGHIUDP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &serverRecorder{}
		l, s := newTestLayer(t, Config{TryingDelay: -1}, h)
		tx := serve(t, l, h, msg{branch: sb}.build(udpOrigin))
		respond(t, tx, 486)
		wantState(t, tx.currentState(), stCompleted)
		if err := tx.Respond(sip.NewResponse(tx.Request(), 500, "")); !errors.Is(err, ErrFinalSent) {
			t.Fatal(err)
		}
		sleep(12 * time.Second)
		// Timer G: T1, 2T1, 4T1, capped at T2.
		sameTimes(t, "486", times(s.responses(486)), ms(0, 500, 1500, 3500, 7500, 11500))
		// A retransmitted INVITE gets the final response too.
		l.HandleMessage(msg{branch: sb}.build(udpOrigin))
		if n := len(s.responses(486)); n != 7 {
			t.Fatalf("%d", n)
		}
		ack := msg{method: sip.ACK, branch: sb, toTag: "uas"}.build(udpOrigin)
		l.HandleMessage(ack)
		wantState(t, tx.currentState(), stConfirmed)
		sleep(time.Minute / 2)
		if n := len(s.responses(486)); n != 7 {
			t.Fatal("G still running in Confirmed")
		}
		wantState(t, tx.currentState(), stTerminated) // I = T4 = 5 s
		if tx.Err() != nil || len(h.got()) != 1 || l.Stats().StrayAcks != 0 {
			t.Fatal(tx.Err(), l.Stats())
		}
	})
}

func TestInviteServerTimerI(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &serverRecorder{}
		acks := 0
		l, _ := newTestLayer(t, Config{TryingDelay: -1, OnAck: func(*sip.Request) { acks++ }}, h)
		tx := serve(t, l, h, msg{branch: sb}.build(udpOrigin))
		respond(t, tx, 603)
		l.HandleMessage(msg{method: sip.ACK, branch: sb, toTag: "uas"}.build(udpOrigin))
		sleep(DefaultT4 - time.Millisecond)
		wantState(t, tx.currentState(), stConfirmed)
		l.HandleMessage(msg{method: sip.ACK, branch: sb, toTag: "uas"}.build(udpOrigin)) // absorbed
		sleep(time.Millisecond + waitLate(DefaultT4))
		wantState(t, tx.currentState(), stTerminated)
		if acks != 0 || l.Stats().Retransmissions != 1 {
			t.Fatal(acks, l.Stats())
		}
	})
}

func TestInviteServerTimerH(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &serverRecorder{}
		l, s := newTestLayer(t, Config{TryingDelay: -1}, h)
		tx := serve(t, l, h, msg{branch: sb}.build(udpOrigin))
		respond(t, tx, 404)
		done := tx.Done()
		sleep(64*DefaultT1 - time.Millisecond)
		if isClosed(done) {
			t.Fatal("early")
		}
		sleep(time.Millisecond)
		if !isClosed(done) || !errors.Is(tx.Err(), ErrTimeout) {
			t.Fatal(tx.Err())
		}
		// G every T2 after reaching it; none after H.
		sameTimes(t, "404", times(s.responses(404)), ms(0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500))
		if l.Stats().Timeouts != 1 {
			t.Fatal(l.Stats())
		}
		if err := tx.Respond(sip.NewResponse(tx.Request(), 404, "")); !errors.Is(err, ErrTimeout) {
			t.Fatal(err)
		}
	})
}

func TestInviteServer2xxAcceptedL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &serverRecorder{}
		var acks []*sip.Request
		l, s := newTestLayer(t, Config{OnAck: func(r *sip.Request) { acks = append(acks, r) }}, h)
		tx := serve(t, l, h, msg{branch: sb}.build(udpOrigin))
		respond(t, tx, 200)
		wantState(t, tx.currentState(), stAccepted)
		sleep(10 * time.Second)
		// Retransmitted INVITE: absorbed; the 2xx is the TU's to repeat.
		l.HandleMessage(msg{branch: sb}.build(udpOrigin))
		respond(t, tx, 200)
		if n := len(s.responses(200)); n != 2 {
			t.Fatalf("%d 200s", n)
		}
		if err := tx.Respond(sip.NewResponse(tx.Request(), 486, "")); !errors.Is(err, ErrFinalSent) {
			t.Fatal(err)
		}
		// The ACK for a 2xx has a branch of its own: it goes to OnAck.
		l.HandleMessage(msg{method: sip.ACK, branch: sb + "ack", toTag: "uas"}.build(udpOrigin))
		if len(acks) != 1 {
			t.Fatal("ACK for 2xx not passed on")
		}
		sleep(64*DefaultT1 - 10*time.Second - time.Millisecond)
		wantState(t, tx.currentState(), stAccepted)
		sleep(time.Millisecond + waitLate(64*DefaultT1))
		wantState(t, tx.currentState(), stTerminated)
		if tx.Err() != nil {
			t.Fatal(tx.Err())
		}
	})
}

func TestNonInviteServerJ(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &serverRecorder{}
		l, s := newTestLayer(t, Config{}, h)
		req := msg{method: sip.OPTIONS, branch: sb}.build(udpOrigin)
		tx := serve(t, l, h, req)
		wantState(t, tx.currentState(), stTrying)
		sleep(time.Second)
		if s.count() != 0 {
			t.Fatal("100 for a non-INVITE")
		}
		l.HandleMessage(msg{method: sip.OPTIONS, branch: sb}.build(udpOrigin)) // nothing to resend
		respond(t, tx, 100)
		wantState(t, tx.currentState(), stProceeding)
		l.HandleMessage(msg{method: sip.OPTIONS, branch: sb}.build(udpOrigin))
		respond(t, tx, 200)
		// Completed lasts timer J, but as a record of the 200 kept by
		// the layer: the transaction has ended for the TU.
		wantState(t, tx.currentState(), stTerminated)
		if st := l.Stats(); st.Live != 0 || st.Lingering != 1 {
			t.Fatalf("%+v", st)
		}
		l.HandleMessage(msg{method: sip.OPTIONS, branch: sb}.build(udpOrigin))
		if got := codes(s.responses(0)); len(got) != 4 || got[1] != 100 || got[3] != 200 {
			t.Fatalf("sent %v", got)
		}
		if r := s.responses(200); r[1].resp.Origin != udpOrigin || r[1].resp.ToTag() != r[0].resp.ToTag() {
			t.Fatalf("resent 200 differs: %+v", r[1])
		}
		if err := tx.Respond(sip.NewResponse(req, 500, "")); !errors.Is(err, ErrTerminated) {
			t.Fatal(err)
		}
		sleep(64*DefaultT1 - time.Millisecond)
		l.HandleMessage(msg{method: sip.OPTIONS, branch: sb}.build(udpOrigin))
		if got := codes(s.responses(0)); len(got) != 5 || got[4] != 200 {
			t.Fatalf("sent %v", got)
		}
		sleep(time.Millisecond + waitLate(64*DefaultT1))
		if st := l.Stats(); st.Lingering != 0 {
			t.Fatalf("%+v", st)
		}
		// Gone: the same request now starts a new transaction.
		serve(t, l, h, msg{method: sip.OPTIONS, branch: sb}.build(udpOrigin))
		if st := l.Stats(); st.ServerTransactions != 2 || st.Retransmissions != 4 {
			t.Fatalf("%+v", st)
		}
	})
}

func TestServerReliable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &serverRecorder{}
		l, s := newTestLayer(t, Config{}, h)
		// INVITE over TCP: 100 still sent; no timer G; I is zero.
		tx := serve(t, l, h, msg{branch: sb, via: "TCP"}.build(tcpOrigin))
		sleep(time.Second)
		respond(t, tx, 480)
		sleep(20 * time.Second)
		if got := codes(s.responses(0)); len(got) != 2 || got[0] != 100 || got[1] != 480 {
			t.Fatalf("sent %v", got)
		}
		if s.responses(480)[0].resp.Origin != tcpOrigin {
			t.Fatal("origin not copied")
		}
		l.HandleMessage(msg{method: sip.ACK, branch: sb, via: "TCP", toTag: "uas"}.build(tcpOrigin))
		wantState(t, tx.currentState(), stTerminated)

		// H still applies over TCP.
		tx = serve(t, l, h, msg{branch: sb + "2", via: "TCP"}.build(tcpOrigin))
		respond(t, tx, 480)
		sleep(64 * DefaultT1)
		if !errors.Is(tx.Err(), ErrTimeout) {
			t.Fatal(tx.Err())
		}

		// Non-INVITE: J is zero.
		tx = serve(t, l, h, msg{method: sip.BYE, branch: sb, via: "TCP"}.build(tcpOrigin))
		respond(t, tx, 200)
		wantState(t, tx.currentState(), stTerminated)
		if l.Stats().Live != 0 {
			t.Fatal(l.Stats())
		}
	})
}

func TestServerCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &serverRecorder{}
		l, s := newTestLayer(t, Config{}, h)
		inv := serve(t, l, h, msg{branch: sb}.build(udpOrigin))
		respond(t, inv, 180)
		cancelled := inv.Cancelled()
		if isClosed(cancelled) {
			t.Fatal("cancelled early")
		}
		l.HandleMessage(msg{method: sip.CANCEL, branch: sb}.build(udpOrigin))
		synctest.Wait()
		if !isClosed(cancelled) || !isClosed(inv.Cancelled()) {
			t.Fatal("not cancelled")
		}
		ok := s.responses(200)
		if len(ok) != 1 || ok[0].resp.ToTag() != "uas" {
			t.Fatalf("200 for CANCEL: %v", ok)
		}
		if cs, _ := ok[0].resp.CSeq(); cs.Method != sip.CANCEL {
			t.Fatal(cs)
		}
		if len(h.got()) != 1 {
			t.Fatal("matched CANCEL reached the handler")
		}
		if err := inv.RespondRequestTerminated(); err != nil {
			t.Fatal(err)
		}
		if err := inv.RespondRequestTerminated(); err != nil {
			t.Fatal("second 487:", err)
		}
		r487 := s.responses(487)
		if len(r487) != 1 || r487[0].resp.ToTag() != "uas" {
			t.Fatalf("487: %v", r487)
		}
		// A retransmitted CANCEL gets its 200 again.
		l.HandleMessage(msg{method: sip.CANCEL, branch: sb}.build(udpOrigin))
		if len(s.responses(200)) != 2 {
			t.Fatal("CANCEL retransmission")
		}
		// A CANCEL that matches nothing goes to the handler (481 or
		// stateless forwarding is the TU's call).
		c := serve(t, l, h, msg{method: sip.CANCEL, branch: sb + "other"}.build(udpOrigin))
		if c.Request().Method != sip.CANCEL {
			t.Fatal(c.Request().Method)
		}
		// Non-INVITE transactions are never cancelled.
		bye := serve(t, l, h, msg{method: sip.BYE, branch: sb + "bye"}.build(udpOrigin))
		l.HandleMessage(msg{method: sip.CANCEL, branch: sb + "bye"}.build(udpOrigin))
		if isClosed(bye.Cancelled()) {
			t.Fatal("BYE cancelled")
		}
	})
}

func TestServerCancelBeforeAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &serverRecorder{}
		l, s := newTestLayer(t, Config{TryingDelay: -1}, h)
		inv := serve(t, l, h, msg{branch: sb}.build(udpOrigin))
		l.HandleMessage(msg{method: sip.CANCEL, branch: sb}.build(udpOrigin))
		<-inv.Cancelled()
		if err := inv.RespondRequestTerminated(); err != nil {
			t.Fatal(err)
		}
		ok, r487 := s.responses(200), s.responses(487)
		if len(ok) != 1 || len(r487) != 1 || ok[0].resp.ToTag() == "" || r487[0].resp.ToTag() == "" {
			t.Fatalf("%v %v", ok, r487)
		}
		l.HandleMessage(msg{method: sip.ACK, branch: sb, toTag: r487[0].resp.ToTag()}.build(udpOrigin))
		wantState(t, inv.currentState(), stConfirmed)
	})
}

func TestServerLegacyMatching(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &serverRecorder{}
		l, s := newTestLayer(t, Config{TryingDelay: -1}, h)
		for _, branch := range []string{"", "1234abc"} { // RFC 2543: no cookie
			inv := serve(t, l, h, msg{branch: branch}.build(udpOrigin))
			if inv.key.legacy == "" {
				t.Fatal("not a legacy key")
			}
			respond(t, inv, 486)
			// Retransmission: same everything.
			l.HandleMessage(msg{branch: branch}.build(udpOrigin))
			if n := len(s.responses(486)); n != 2 {
				t.Fatalf("branch %q: %d", branch, n)
			}
			// ACK with the To tag of the response: matched.
			l.HandleMessage(msg{method: sip.ACK, branch: branch, toTag: "uas"}.build(udpOrigin))
			wantState(t, inv.currentState(), stConfirmed)
			// ACK with another To tag: not this transaction's.
			l.HandleMessage(msg{method: sip.ACK, branch: branch, toTag: "other"}.build(udpOrigin))
			if l.Stats().StrayAcks == 0 {
				t.Fatal("wrong To tag matched")
			}
			// Different From tag, CSeq, Request-URI: new transactions.
			serve(t, l, h, msg{branch: branch, fromTag: "f2"}.build(udpOrigin))
			serve(t, l, h, msg{branch: branch, cseq: 2}.build(udpOrigin))
			serve(t, l, h, msg{branch: branch, uri: "sip:carol@example.com"}.build(udpOrigin))
			serve(t, l, h, msg{branch: branch, via: "TCP"}.build(udpOrigin))
			sleep(time.Minute)
			s.mu.Lock()
			s.msgs = nil
			s.mu.Unlock()
		}
		// CANCEL matched the RFC 2543 way.
		inv := serve(t, l, h, msg{branch: "", callID: "legacy-cancel"}.build(udpOrigin))
		l.HandleMessage(msg{method: sip.CANCEL, branch: "", callID: "legacy-cancel"}.build(udpOrigin))
		synctest.Wait()
		if !isClosed(inv.Cancelled()) {
			t.Fatal("legacy CANCEL not matched")
		}
	})
}

func TestServerTransportError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &serverRecorder{}
		l, s := newTestLayer(t, Config{TryingDelay: -1}, h)
		tx := serve(t, l, h, msg{branch: sb}.build(udpOrigin))
		respond(t, tx, 486)
		s.setFail(errBoom)
		sleep(DefaultT1) // timer G fails
		if !errors.Is(tx.Err(), ErrTransport) || !isClosed(tx.Done()) {
			t.Fatal(tx.Err())
		}
		tx = serve(t, l, h, msg{method: sip.OPTIONS, branch: sb}.build(udpOrigin))
		err := tx.Respond(sip.NewResponse(tx.Request(), 200, ""))
		if !errors.Is(err, ErrTransport) || !errors.Is(err, errBoom) || !errors.Is(tx.Err(), ErrTransport) {
			t.Fatal(err)
		}
		if err := tx.Respond(&sip.Response{StatusCode: 99}); !errors.Is(err, ErrBadResponse) {
			t.Fatal(err)
		}
		if l.Stats().TransportErrors != 2 {
			t.Fatal(l.Stats())
		}
	})
}

func TestServerFullQueue503(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		h := &serverRecorder{fn: func(*ServerTx) { <-release }}
		l, s := newTestLayer(t, Config{Workers: 1, QueueSize: 1, RetryAfter: 7}, h)
		l.HandleMessage(msg{method: sip.OPTIONS, branch: sb + "1"}.build(udpOrigin))
		synctest.Wait()                                                              // the worker is busy with it
		l.HandleMessage(msg{method: sip.OPTIONS, branch: sb + "2"}.build(udpOrigin)) // queued
		l.HandleMessage(msg{method: sip.OPTIONS, branch: sb + "3"}.build(udpOrigin)) // 503
		busy := s.responses(503)
		if len(busy) != 1 {
			t.Fatalf("%d 503s", len(busy))
		}
		if ra, ok := busy[0].resp.RetryAfter(); !ok || ra != 7 || busy[0].resp.ToTag() == "" {
			t.Fatal(busy[0].resp.String())
		}
		// Its retransmission gets the 503 again, statefully.
		l.HandleMessage(msg{method: sip.OPTIONS, branch: sb + "3"}.build(udpOrigin))
		if len(s.responses(503)) != 2 {
			t.Fatal("503 not retransmitted")
		}
		close(release)
		synctest.Wait()
		if n := len(h.got()); n != 2 {
			t.Fatalf("handler got %d", n)
		}
		if st := l.Stats(); st.Rejected != 1 {
			t.Fatalf("%+v", st)
		}
	})
}

func TestHandlerPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &serverRecorder{fn: func(*ServerTx) { panic("handler bug") }}
		l, s := newTestLayer(t, Config{Logger: slog.New(slog.DiscardHandler)}, h)
		serve(t, l, h, msg{method: sip.MESSAGE, branch: sb}.build(udpOrigin))
		if len(s.responses(500)) != 1 || l.Stats().HandlerPanics != 1 {
			t.Fatal("no 500 after panic")
		}
	})
}

func TestStrayAndMalformed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var stray []*sip.Response
		var acks []*sip.Request
		l, _ := newTestLayer(t, Config{
			OnStrayResponse: func(r *sip.Response) { stray = append(stray, r) },
			OnAck:           func(r *sip.Request) { acks = append(acks, r) },
		}, nil)
		req := msg{method: sip.INVITE, branch: sb}.build(udpOrigin)
		l.HandleMessage(reply(req, 200, "x"))
		l.HandleMessage(msg{method: sip.ACK, branch: sb + "ack"}.build(udpOrigin))
		noVia := msg{method: sip.OPTIONS, branch: sb}.build(udpOrigin)
		noVia.Del("Via")
		l.HandleMessage(noVia)
		if len(stray) != 1 || len(acks) != 1 || l.Stats().Malformed != 1 {
			t.Fatal(len(stray), len(acks), l.Stats())
		}
	})
}

func TestShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &serverRecorder{}
		l, s := newTestLayer(t, Config{}, h)
		tx := serve(t, l, h, msg{method: sip.OPTIONS, branch: sb}.build(udpOrigin))
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		result := make(chan error, 1)
		go func() { result <- l.Shutdown(ctx) }()
		synctest.Wait()
		// New requests: 503, statelessly; Request refused.
		l.HandleMessage(msg{method: sip.OPTIONS, branch: sb + "new"}.build(udpOrigin))
		if len(s.responses(503)) != 1 || len(h.got()) != 1 {
			t.Fatal("new request during shutdown")
		}
		if _, err := l.Request(context.Background(), msg{method: sip.OPTIONS, branch: b1}.build(sip.Origin{}), udpDst); !errors.Is(err, ErrShutdown) {
			t.Fatal(err)
		}
		// Existing ones go on until they settle: a 200 settles the
		// non-INVITE transaction, and Shutdown returns without waiting
		// for timer J, which only absorbs retransmissions.
		synctest.Wait()
		select {
		case err := <-result:
			t.Fatal("returned while a transaction was unanswered:", err)
		default:
		}
		respond(t, tx, 200)
		synctest.Wait()
		select {
		case err := <-result:
			if err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatal("Shutdown did not return after the last transaction settled")
		}
		if tx.Err() != nil || l.Stats().Lingering != 0 {
			t.Fatalf("completed transaction: %v; %+v", tx.Err(), l.Stats())
		}
	})
}

func TestShutdownDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &serverRecorder{}
		l, _ := newTestLayer(t, Config{}, h)
		stx := serve(t, l, h, msg{branch: sb}.build(udpOrigin))
		ctx, err := l.Request(context.Background(), msg{method: sip.OPTIONS, branch: b1}.build(sip.Origin{}), udpDst)
		if err != nil {
			t.Fatal(err)
		}
		dl, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		if err := l.Shutdown(dl); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
		if time.Since(start) != 10*time.Second {
			t.Fatal("did not wait for the deadline", time.Since(start))
		}
		if !errors.Is(stx.Err(), ErrShutdown) || !errors.Is(ctx.Err(), ErrShutdown) {
			t.Fatal(stx.Err(), ctx.Err())
		}
		if err := stx.Respond(sip.NewResponse(stx.Request(), 200, "")); !errors.Is(err, ErrShutdown) {
			t.Fatal(err)
		}
		if st := l.Stats(); st.Live != 0 {
			t.Fatalf("%+v", st)
		}
		if l.servers.len() != 0 || l.clients.len() != 0 {
			t.Fatal("table not empty")
		}
	})
}

func TestRespondStateless(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &serverRecorder{}
		l, s := newTestLayer(t, Config{}, h)
		tx := serve(t, l, h, msg{method: sip.REGISTER, branch: sb}.build(udpOrigin))
		if err := tx.RespondStateless(sip.NewResponse(tx.Request(), 401, "")); err != nil {
			t.Fatal(err)
		}
		if len(s.responses(401)) != 1 {
			t.Fatal("401 not sent")
		}
		if st := l.Stats(); st.Live != 0 {
			t.Fatalf("transaction kept: %+v", st)
		}
		// A retransmission is a new request: it reaches the handler.
		l.HandleMessage(msg{method: sip.REGISTER, branch: sb}.build(udpOrigin))
		synctest.Wait()
		if len(h.got()) != 2 {
			t.Fatalf("retransmission after a stateless answer: %d requests served", len(h.got()))
		}
	})
}
