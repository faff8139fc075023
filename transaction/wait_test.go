package transaction

import (
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

type countWaiter struct{ fired atomic.Int32 }

func (w *countWaiter) fireWait() { w.fired.Add(1) }

// TestWaitQueues: entries fire in their lane's order, no earlier than their
// length and at most 1/256 of it late; a cancelled entry does not fire and
// its lane lets go of it at once.
func TestWaitQueues(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		wq := newWaitQueues(32*time.Second, 32*time.Second, 5*time.Second)
		quit := make(chan struct{})
		go wq.run(quit)
		defer close(quit)
		long, short, cancelled, other := &countWaiter{}, &countWaiter{}, &countWaiter{}, &countWaiter{}
		wq.add(32*time.Second, long)
		ticket := wq.add(32*time.Second, cancelled)
		wq.add(5*time.Second, short)
		wq.add(7*time.Second, other) // no lane: a timer of its own
		ticket.cancel()
		ln := wq.lane(32 * time.Second)
		ln.mu.Lock()
		if ln.q[1].w != nil {
			t.Error("cancelled entry still referenced")
		}
		ln.mu.Unlock()

		time.Sleep(5*time.Second - time.Millisecond)
		synctest.Wait()
		if short.fired.Load() != 0 {
			t.Fatal("fired early")
		}
		time.Sleep(time.Millisecond + 5*time.Second/256)
		synctest.Wait()
		if short.fired.Load() != 1 {
			t.Fatal("5 s entry did not fire")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if other.fired.Load() != 1 {
			t.Fatal("entry of no lane did not fire")
		}
		time.Sleep(25*time.Second + 32*time.Second/256)
		synctest.Wait()
		if long.fired.Load() != 1 || cancelled.fired.Load() != 0 {
			t.Fatalf("32 s entries: fired %d and (cancelled) %d", long.fired.Load(), cancelled.fired.Load())
		}
	})
}
