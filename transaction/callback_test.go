package transaction

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/parley-sip/parley/sip"
)

// funcRecorder collects what RequestFunc hands over: status codes, 0 for
// the end.
type funcRecorder struct {
	mu    sync.Mutex
	codes []int
}

func (r *funcRecorder) f(resp *sip.Response) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if resp == nil {
		r.codes = append(r.codes, 0)
		return
	}
	r.codes = append(r.codes, resp.StatusCode)
}

func (r *funcRecorder) got() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.codes...)
}

func wantCodes(t *testing.T, got []int, want ...int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("handed over %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("handed over %v, want %v", got, want)
		}
	}
}

func TestRequestFuncInvite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, _ := newTestLayer(t, Config{}, nil)
		var r funcRecorder
		req := msg{method: sip.INVITE, branch: b1}.build(sip.Origin{})
		tx, err := l.RequestFunc(context.Background(), req, udpDst, r.f)
		if err != nil {
			t.Fatal(err)
		}
		if tx.Responses() != nil {
			t.Fatal("RequestFunc made a channel")
		}
		l.HandleMessage(reply(tx.Request(), 100, ""))
		l.HandleMessage(reply(tx.Request(), 180, "uas1"))
		l.HandleMessage(reply(tx.Request(), 200, "uas1"))
		l.HandleMessage(reply(tx.Request(), 200, "uas2")) // a second fork's 2xx (RFC 6026)
		wantCodes(t, r.got(), 100, 180, 200, 200)
		sleep(64*DefaultT1 + waitLate(64*DefaultT1)) // timer M
		wantCodes(t, r.got(), 100, 180, 200, 200, 0)
		if tx.Err() != nil || l.Stats().Live != 0 {
			t.Fatalf("err %v, stats %+v", tx.Err(), l.Stats())
		}
	})
}

func TestRequestFuncNonInviteAndTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, _ := newTestLayer(t, Config{}, nil)
		var r funcRecorder
		tx, err := l.RequestFunc(context.Background(), msg{method: sip.BYE, branch: b1}.build(sip.Origin{}), udpDst, r.f)
		if err != nil {
			t.Fatal(err)
		}
		l.HandleMessage(reply(tx.Request(), 200, "uas"))
		// The end comes with the final response; timer K only absorbs.
		wantCodes(t, r.got(), 200, 0)
		l.HandleMessage(reply(tx.Request(), 200, "uas"))
		wantCodes(t, r.got(), 200, 0)

		var r2 funcRecorder
		tx, err = l.RequestFunc(context.Background(), msg{method: sip.OPTIONS, branch: b1 + "x"}.build(sip.Origin{}), udpDst, r2.f)
		if err != nil {
			t.Fatal(err)
		}
		sleep(64*DefaultT1 + time.Millisecond) // timer F
		wantCodes(t, r2.got(), 0)
		if !errors.Is(tx.Err(), ErrTimeout) {
			t.Fatal(tx.Err())
		}
		if _, err := l.RequestFunc(context.Background(), msg{method: sip.BYE, branch: b1 + "y"}.build(sip.Origin{}), udpDst, nil); !errors.Is(err, ErrBadRequest) {
			t.Fatal("nil f accepted:", err)
		}
	})
}

// TestRequestFuncCallsBack checks that f may call into the layer: it
// cancels the INVITE from inside the callback for its 180.
func TestRequestFuncCallsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, s := newTestLayer(t, Config{}, nil)
		var (
			r  funcRecorder
			tx *ClientTx
		)
		ready := make(chan struct{})
		f := func(resp *sip.Response) {
			r.f(resp)
			if resp != nil && resp.StatusCode == 180 {
				<-ready
				_ = tx.Cancel()
			}
		}
		var err error
		tx, err = l.RequestFunc(context.Background(), msg{method: sip.INVITE, branch: b1}.build(sip.Origin{}), udpDst, f)
		if err != nil {
			t.Fatal(err)
		}
		close(ready)
		l.HandleMessage(reply(tx.Request(), 180, "uas"))
		if len(s.requests(sip.CANCEL)) != 1 {
			t.Fatal("no CANCEL from the callback")
		}
		l.HandleMessage(reply(tx.Request(), 487, "uas"))
		wantCodes(t, r.got(), 180, 487, 0)
		sleep(DefaultTimerD)
	})
}

func TestServerOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &serverRecorder{}
		l, _ := newTestLayer(t, Config{}, h)
		inv := serve(t, l, h, msg{branch: sb}.build(udpOrigin))
		calls := 0
		inv.OnCancel(func() { calls++ })
		l.HandleMessage(msg{method: sip.CANCEL, branch: sb}.build(udpOrigin))
		if calls != 1 || !isClosed(inv.Cancelled()) {
			t.Fatalf("OnCancel ran %d times", calls)
		}
		// Already cancelled: f runs at once.
		inv.OnCancel(func() { calls++ })
		if calls != 2 {
			t.Fatal("late OnCancel not run")
		}
		l.HandleMessage(msg{method: sip.CANCEL, branch: sb}.build(udpOrigin)) // retransmission
		if calls != 2 {
			t.Fatal("OnCancel ran again")
		}
		_ = inv.RespondRequestTerminated()
		l.HandleMessage(msg{method: sip.ACK, branch: sb, toTag: "uas"}.build(udpOrigin))
		sleep(64 * DefaultT1)
	})
}

func TestServerRelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &serverRecorder{}
		l, s := newTestLayer(t, Config{TryingDelay: -1}, h)
		tx := serve(t, l, h, msg{branch: sb}.build(udpOrigin))
		tx.Release() // not yet answered: nothing happens
		wantState(t, tx.currentState(), stProceeding)
		respond(t, tx, 200)
		wantState(t, tx.currentState(), stAccepted)
		tx.Release()
		wantState(t, tx.currentState(), stTerminated)
		if st := l.Stats(); st.Live != 0 || st.Lingering != 1 {
			t.Fatalf("%+v", st)
		}
		// A retransmitted INVITE is absorbed: no new transaction, no
		// answer (the TU retransmits its 2xx, RFC 6026 §7.1).
		l.HandleMessage(msg{branch: sb}.build(udpOrigin))
		if len(h.got()) != 1 || s.count() != 1 || l.Stats().Retransmissions != 1 {
			t.Fatalf("retransmitted INVITE: %d handled, %d sent, %+v", len(h.got()), s.count(), l.Stats())
		}
		sleep(64*DefaultT1 + waitLate(64*DefaultT1)) // timer L
		serve(t, l, h, msg{branch: sb}.build(udpOrigin))
		if len(h.got()) != 2 {
			t.Fatal("INVITE after timer L not served as new")
		}
	})
}

func TestClientRelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var strays []*sip.Response
		l, _ := newTestLayer(t, Config{OnStrayResponse: func(r *sip.Response) { strays = append(strays, r) }}, nil)
		var r funcRecorder
		tx, err := l.RequestFunc(context.Background(), msg{method: sip.INVITE, branch: b1}.build(sip.Origin{}), udpDst, r.f)
		if err != nil {
			t.Fatal(err)
		}
		tx.Release() // Calling: nothing happens
		l.HandleMessage(reply(tx.Request(), 200, "uas1"))
		wantCodes(t, r.got(), 200)
		tx.Release()
		wantCodes(t, r.got(), 200, 0)
		l.HandleMessage(reply(tx.Request(), 200, "uas1"))
		if len(strays) != 1 || l.Stats().Live != 0 {
			t.Fatalf("%d strays, %+v", len(strays), l.Stats())
		}
	})
}
