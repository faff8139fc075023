package transaction

import (
	"sync"
	"time"
)

// waiter is a transaction waiting out a wait timer (D, I, J, K, L, M):
// fireWait ends it if it is still in the state the wait was for, so an
// entry that outlives its transaction's need is harmless.
type waiter interface{ fireWait() }

// waitQueues end transactions after their wait timers. The wait timers
// have fixed lengths per layer — 64*T1 (L, M; J for RFC 2543 peers, whose
// transactions cannot become records, see linger.go), T4 (I, K) and
// Timer D —
// so each length gets a FIFO lane whose entries expire in the order they
// were added, and one goroutine sleeps until the earliest head of any lane.
// That replaces a runtime timer per transaction, armed and fired on a
// goroutine of its own: on a busy proxy almost every transaction ends by a
// wait timer. Each lane's deadlines are served in batches up to 1/256 of
// its length late (125 ms of 32 s): the wait timers are least times, and a
// little more does no harm.
type waitQueues struct {
	lanes   []*waitLane
	lingers *lingerStore  // timer J's records, expired by the same goroutine
	wake    chan struct{} // cap 1: a lane or lingers went from empty to not
}

type waitLane struct {
	d     time.Duration
	slack time.Duration

	mu   sync.Mutex
	q    []waitEntry
	head int    // q[head:] are waiting
	base uint64 // the ticket of q[0]
}

// waitTicket names an entry, so that a transaction that ends early can
// drop the lane's reference to it (and everything it holds) at once
// rather than at its deadline.
type waitTicket struct {
	lane *waitLane
	n    uint64
}

// cancel drops the entry's reference to its waiter; the entry stays, empty.
func (t waitTicket) cancel() {
	ln := t.lane
	if ln == nil {
		return
	}
	ln.mu.Lock()
	if t.n >= ln.base {
		if i := t.n - ln.base; i < uint64(len(ln.q)) && i >= uint64(ln.head) {
			ln.q[i].w = nil
		}
	}
	ln.mu.Unlock()
}

type waitEntry struct {
	at time.Time
	w  waiter
}

func newWaitQueues(j time.Duration, lengths ...time.Duration) *waitQueues {
	wq := &waitQueues{wake: make(chan struct{}, 1)}
	wq.lingers = newLingerStore(j, wq.kick)
	for _, d := range lengths {
		if d > 0 && wq.lane(d) == nil {
			wq.lanes = append(wq.lanes, &waitLane{d: d, slack: d / 256})
		}
	}
	return wq
}

func (wq *waitQueues) lane(d time.Duration) *waitLane {
	for _, ln := range wq.lanes {
		if ln.d == d {
			return ln
		}
	}
	return nil
}

// add has w.fireWait called d from now, unless the returned ticket is
// cancelled first. d must be one of the lengths the queues were made with;
// any other gets a timer of its own (and a ticket that cancels nothing).
func (wq *waitQueues) add(d time.Duration, w waiter) waitTicket {
	ln := wq.lane(d)
	if ln == nil {
		time.AfterFunc(d, w.fireWait)
		return waitTicket{}
	}
	ln.mu.Lock()
	empty := ln.head == len(ln.q)
	n := ln.base + uint64(len(ln.q))
	ln.q = append(ln.q, waitEntry{at: time.Now().Add(d), w: w})
	ln.mu.Unlock()
	if empty {
		wq.kick()
	}
	return waitTicket{ln, n}
}

// kick wakes the goroutine: something waits where nothing did.
func (wq *waitQueues) kick() {
	select {
	case wq.wake <- struct{}{}:
	default:
	}
}

// expired moves the entries due by now into out and returns when the
// lane next needs service (zero when it is empty).
func (ln *waitLane) expired(now time.Time, out []waiter) ([]waiter, time.Time) {
	ln.mu.Lock()
	defer ln.mu.Unlock()
	for ln.head < len(ln.q) && !ln.q[ln.head].at.After(now) {
		if w := ln.q[ln.head].w; w != nil {
			out = append(out, w)
		}
		ln.q[ln.head] = waitEntry{}
		ln.head++
	}
	var next time.Time
	if ln.head < len(ln.q) {
		next = ln.q[ln.head].at.Add(ln.slack)
	}
	// Reuse the slice's front once most of it has been consumed.
	if ln.head > 1024 && ln.head > len(ln.q)/2 {
		n := copy(ln.q, ln.q[ln.head:])
		clear(ln.q[n:])
		ln.base += uint64(ln.head)
		ln.q, ln.head = ln.q[:n], 0
	}
	return out, next
}

// run ends waiting transactions at their deadlines until quit is closed.
func (wq *waitQueues) run(quit <-chan struct{}) {
	t := time.NewTimer(time.Hour)
	t.Stop()
	var due []waiter
	for {
		var next time.Time
		now := time.Now()
		for _, ln := range wq.lanes {
			var n time.Time
			due, n = ln.expired(now, due)
			if !n.IsZero() && (next.IsZero() || n.Before(next)) {
				next = n
			}
		}
		if n := wq.lingers.expire(now); !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
		for i, w := range due {
			w.fireWait()
			due[i] = nil
		}
		due = due[:0]
		var tc <-chan time.Time
		if !next.IsZero() {
			t.Reset(time.Until(next))
			tc = t.C
		}
		select {
		case <-tc:
		case <-wq.wake:
			t.Stop()
		case <-quit:
			t.Stop()
			return
		}
	}
}
