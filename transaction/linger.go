package transaction

import (
	"sync"
	"time"

	"github.com/parley-sip/parley/sip"
)

// A non-INVITE server transaction over an unreliable transport spends
// timer J (64*T1, 32 s) in Completed after its final response, only to
// answer retransmissions of the request with that response (§17.2.2). On a
// registrar that is nearly every transaction, and holding each one whole —
// the request and its buffer, the response, a runtime timer — cost about
// 3.7 KB per REGISTER for 32 s (a burst of 100,000 registrations kept
// 370 MiB live) and a timer set, fired on a goroutine of its own, and
// stopped per request.
//
// So at its final response such a transaction hands its place in the table
// to a lingerer: a small ServerTx that holds only what Completed needs —
// its key (with strings of its own, not pointing into the request's
// buffer), the response as wire bytes and the request's Origin — and sits in
// the layer's lingerQueue. Every lingerer waits the same 64*T1, so the
// queue expires in arrival order and one timer serves all of them. The
// original ServerTx stays in Completed for the TU that still holds it and
// becomes garbage when the TU lets go.

// lingerData is what a lingerer keeps of its transaction.
type lingerData struct {
	wire     []byte     // the final response as sent
	origin   sip.Origin // where the request came from, to route the resend
	deadline time.Time  // timer J
}

// lingerLocked replaces tx in the table by a lingerer and queues it for
// timer J. It reports false when tx was no longer in the table (then the
// caller terminates it as usual). The caller holds tx.mu.
func (tx *ServerTx) lingerLocked(resp *sip.Response) bool {
	l := tx.l
	g := &ServerTx{
		l:       l,
		key:     tx.key.owned(),
		state:   stCompleted,
		settled: true,
		linger: &lingerData{
			wire:     resp.AppendTo(make([]byte, 0, resp.MarshalSize())),
			origin:   resp.Origin,
			deadline: time.Now().Add(64 * l.cfg.T1),
		},
	}
	if !l.servers.replace(tx.key, tx, g.key, g) {
		return false
	}
	tx.ghost = g
	l.lingering.push(g)
	return true
}

// resendLocked sends the last response again, rebuilding it from its wire
// bytes in a lingerer. The caller holds tx.mu.
func (tx *ServerTx) resendLocked() {
	resp := tx.last
	if resp == nil && tx.linger != nil {
		m, err := sip.Parse(tx.linger.wire)
		r, ok := m.(*sip.Response)
		if err != nil || !ok {
			return // cannot happen: the layer wrote these bytes
		}
		r.Origin = tx.linger.origin
		resp = r
	}
	if resp != nil {
		_ = tx.sendLocked(resp)
	}
}

// lingerQueue holds the lingerers in order of their deadline, which is
// their order of arrival, and ends each one at its deadline.
type lingerQueue struct {
	mu   sync.Mutex
	q    []*ServerTx
	head int           // q[head:] are waiting
	wake chan struct{} // cap 1: the queue was empty and is not
}

func newLingerQueue() *lingerQueue {
	return &lingerQueue{wake: make(chan struct{}, 1)}
}

func (lq *lingerQueue) push(tx *ServerTx) {
	lq.mu.Lock()
	empty := lq.head == len(lq.q)
	lq.q = append(lq.q, tx)
	lq.mu.Unlock()
	if empty {
		select {
		case lq.wake <- struct{}{}:
		default:
		}
	}
}

// expired pops the lingerers whose deadline is not after now into out and
// returns the deadline of the next one (zero when none waits).
func (lq *lingerQueue) expired(now time.Time, out []*ServerTx) ([]*ServerTx, time.Time) {
	lq.mu.Lock()
	defer lq.mu.Unlock()
	for lq.head < len(lq.q) {
		tx := lq.q[lq.head]
		if tx.linger.deadline.After(now) {
			break
		}
		out = append(out, tx)
		lq.q[lq.head] = nil
		lq.head++
	}
	var next time.Time
	if lq.head < len(lq.q) {
		next = lq.q[lq.head].linger.deadline
	}
	// Reuse the slice's front once most of it has been consumed.
	if lq.head > 1024 && lq.head > len(lq.q)/2 {
		n := copy(lq.q, lq.q[lq.head:])
		clear(lq.q[n:])
		lq.q, lq.head = lq.q[:n], 0
	}
	return out, next
}

// run ends lingerers at their deadline until quit is closed. It sleeps
// until the next deadline plus slack, so that one wake-up ends every
// lingerer due within slack of it: timer J is the least time to absorb
// retransmissions, and a little more does no harm.
func (lq *lingerQueue) run(quit <-chan struct{}, slack time.Duration) {
	t := time.NewTimer(time.Hour)
	t.Stop()
	var due []*ServerTx
	for {
		var next time.Time
		due, next = lq.expired(time.Now(), due[:0])
		for i, tx := range due {
			tx.fireWait()
			due[i] = nil
		}
		var tc <-chan time.Time
		if !next.IsZero() {
			t.Reset(time.Until(next) + slack)
			tc = t.C
		}
		select {
		case <-tc:
		case <-lq.wake:
			t.Stop()
		case <-quit:
			t.Stop()
			return
		}
	}
}
