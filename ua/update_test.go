package ua

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-sip/parley/sip"
)

// TestUpdateHoldResume: hold and resume by UPDATE change the media
// direction as the re-INVITE ones do, with no re-INVITE sent.
func TestUpdateHoldResume(t *testing.T) {
	a, b := newUA(t, "alice", nil), newUA(t, "bob", nil)
	aw := tap(a, nil)
	p := call(t, a, b)
	defer p.ac.Hangup(ctxT(t, 5*time.Second))
	time.Sleep(300 * time.Millisecond)
	if err := p.ac.HoldByUpdate(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("hold: %v", err)
	}
	checkHeld(t, p)
	if !p.bEv.has(EventRemoteHold) || !p.aEv.has(EventHold) {
		t.Error("no hold events")
	}
	if err := p.ac.ResumeByUpdate(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("resume: %v", err)
	}
	checkResumed(t, p)
	if _, n := aw.requests(sip.UPDATE); n != 2 {
		t.Errorf("%d UPDATE transactions, want 2", n)
	}
	if _, n := aw.requests(sip.INVITE); n != 1 {
		t.Errorf("%d INVITE transactions, want only the initial one", n)
	}
	// A plain session refresh by UPDATE keeps the media as it is.
	if err := p.bc.Update(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("callee update: %v", err)
	}
	if p.ac.RemoteHold() || p.bc.RemoteHold() {
		t.Error("refresh put someone on hold")
	}
}

// crossing returns a hook that holds the first two requests it sees until
// both have arrived, so that the two sides' requests cross.
func crossing() (func(*Call), *atomic.Int32) {
	var barrier sync.WaitGroup
	barrier.Add(2)
	var seen atomic.Int32
	return func(*Call) {
		if seen.Add(1) <= 2 {
			barrier.Done()
			ch := make(chan struct{})
			go func() { barrier.Wait(); close(ch) }()
			select {
			case <-ch:
			case <-time.After(2 * time.Second):
			}
		}
	}, &seen
}

// TestUpdateGlare491: two UPDATE offers cross; each side answers the
// other's 491 (RFC 3311 §5.2), both retry after the §14.1 delay and end
// up holding.
func TestUpdateGlare491(t *testing.T) {
	a, b := newUA(t, "alice", nil), newUA(t, "bob", nil)
	aw, bw := tap(a, nil), tap(b, nil)
	p := call(t, a, b)
	defer p.ac.Hangup(ctxT(t, 5*time.Second))
	hook, seen := crossing()
	a.SetBeforeUpdate(hook)
	b.SetBeforeUpdate(hook)
	errs := make(chan error, 2)
	go func() { errs <- p.ac.HoldByUpdate(ctxT(t, 15*time.Second)) }()
	go func() { errs <- p.bc.HoldByUpdate(ctxT(t, 15*time.Second)) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("hold: %v", err)
		}
	}
	if n := seen.Load(); n < 3 {
		t.Errorf("%d UPDATEs received: want the 2 that crossed and a retry", n)
	}
	if aw.count(491, sip.UPDATE) < 1 || bw.count(491, sip.UPDATE) < 1 {
		t.Errorf("491 to UPDATE: a sent %d, b sent %d", aw.count(491, sip.UPDATE), bw.count(491, sip.UPDATE))
	}
	if !p.ac.OnHold() || !p.bc.OnHold() {
		t.Errorf("hold state a %v b %v", p.ac.OnHold(), p.bc.OnHold())
	}
}

// TestUpdateCrossesReinvite: an UPDATE offer that reaches a UA whose own
// re-INVITE is in progress gets 491; both offers eventually succeed.
func TestUpdateCrossesReinvite(t *testing.T) {
	a, b := newUA(t, "alice", nil), newUA(t, "bob", nil)
	aw := tap(a, nil)
	p := call(t, a, b)
	defer p.ac.Hangup(ctxT(t, 5*time.Second))
	hook, _ := crossing()
	a.SetBeforeUpdate(hook)
	b.SetBeforeReinvite(hook)
	errs := make(chan error, 2)
	go func() { errs <- p.ac.Hold(ctxT(t, 15*time.Second)) }()
	go func() { errs <- p.bc.HoldByUpdate(ctxT(t, 15*time.Second)) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("hold: %v", err)
		}
	}
	if aw.count(491, sip.UPDATE) < 1 {
		t.Error("the UPDATE crossing our re-INVITE was not answered 491")
	}
	if !p.ac.OnHold() || !p.bc.OnHold() {
		t.Errorf("hold state a %v b %v", p.ac.OnHold(), p.bc.OnHold())
	}
}

// TestUpdateDuringRemoteReinvite: an UPDATE offer that reaches a UA still
// waiting for the ACK of the far end's re-INVITE gets 500 with
// Retry-After (RFC 3311 §5.2).
func TestUpdateDuringRemoteReinvite(t *testing.T) {
	a, b := newUA(t, "alice", nil), newUA(t, "bob", nil)
	p := call(t, a, b)
	defer p.ac.Hangup(ctxT(t, 5*time.Second))
	idle := func() bool { return p.bc.tokOwner.Load() == ownerNone }
	if !waitFor(2*time.Second, idle) { // the ACK of the initial 200
		t.Fatal("callee still waiting for the first ACK")
	}
	var acks atomic.Int32
	tap(a, func(m sip.Message) bool {
		r, ok := m.(*sip.Request)
		return ok && r.Method == sip.ACK && acks.Add(1) <= 2 // b waits ~3*T1 for it
	})
	if err := p.ac.Hold(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("hold: %v", err)
	}
	err := p.ac.Update(ctxT(t, 5*time.Second))
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 500 || se.Response == nil || !se.Response.Has("Retry-After") {
		t.Fatalf("update: %v, want 500 with Retry-After", err)
	}
	if p.ac.State() != StateActive {
		t.Fatal("call ended")
	}
	// Once the ACK got through, UPDATE works again.
	if !waitFor(2*time.Second, idle) {
		t.Fatal("callee still waiting for the ACK")
	}
	if err := p.ac.Update(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("update after the ACK: %v", err)
	}
}
