package transaction

import (
	"fmt"
	"sync"
	"time"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// ServerTx is a server transaction (§17.2): the INVITE machine of §17.2.1
// with the Accepted state of RFC 6026, or the non-INVITE machine of §17.2.2.
// Its methods are safe for concurrent use.
type ServerTx struct {
	l        *Layer
	key      serverKey
	req      *sip.Request
	invite   bool
	reliable bool

	mu       sync.Mutex
	state    state
	settled  bool          // final response sent, or terminated
	last     *sip.Response // the most recent response sent, for retransmissions
	interval time.Duration // current timer G interval
	timerG   *time.Timer   // retransmit the final response (INVITE, unreliable)
	timerH   *time.Timer   // give up waiting for the ACK
	timer100 *time.Timer   // the automatic 100 Trying
	wait     waitTicket    // timer I, L (or J for RFC 2543 peers), see wait.go
	// cancelled records a matched CANCEL; cancelCh and doneCh are made
	// only when asked for, to keep the common path free of them.
	cancelled bool
	cancelCh  chan struct{}
	onCancel  func()
	doneCh    chan struct{}
	err       error
	// counted and bucket record what Layer.admit counted, for release.
	counted bool
	bucket  uint16
}

func newServerTx(l *Layer, key serverKey, req *sip.Request) *ServerTx {
	tx := &ServerTx{
		l:        l,
		key:      key,
		req:      req,
		invite:   req.Method == sip.INVITE,
		reliable: transport.Reliable(req.Origin.Transport),
		state:    stTrying,
	}
	if tx.invite {
		tx.state = stProceeding // §17.2.1: an INVITE server transaction starts there
	}
	return tx
}

// Request returns the request that created the transaction. Do not modify
// it.
func (tx *ServerTx) Request() *sip.Request { return tx.req }

// Respond sends resp and steps the state machine (§17.2.1, §17.2.2). resp is
// normally made with sip.NewResponse(tx.Request(), code, reason); Respond
// sets its Origin to the request's so the transport can route it (see
// Sender). Respond may be called from any goroutine. After a final
// response it returns ErrFinalSent, except that an INVITE transaction in the
// Accepted state sends further 2xx responses (the UAS core's 2xx
// retransmissions, §13.3.1.4). When the Sender fails the transaction ends
// and the error, wrapping ErrTransport, is returned (§17.2.4). The layer
// keeps resp to retransmit it: do not modify it afterwards.
func (tx *ServerTx) Respond(resp *sip.Response) error {
	if resp.StatusCode < 100 || resp.StatusCode > 699 {
		return fmt.Errorf("%w: %d", ErrBadResponse, resp.StatusCode)
	}
	resp.Origin = tx.req.Origin
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return tx.respondLocked(resp)
}

func (tx *ServerTx) respondLocked(resp *sip.Response) error {
	code := resp.StatusCode
	switch tx.state {
	case stTrying, stProceeding:
	case stAccepted:
		if code >= 200 && code < 300 {
			return tx.sendLocked(resp)
		}
		return ErrFinalSent
	case stTerminated:
		if tx.err != nil {
			return tx.err
		}
		return ErrTerminated
	default:
		return ErrFinalSent
	}
	if err := tx.sendLocked(resp); err != nil {
		return err
	}
	tx.last = resp
	stop(tx.timer100)
	if code >= 200 {
		tx.settleLocked()
	}
	cfg := &tx.l.cfg
	switch {
	case code < 200:
		tx.state = stProceeding
	case tx.invite && code < 300:
		// RFC 6026 §7.1: wait in Accepted for retransmitted INVITEs
		// (absorbed) and further 2xx from the TU, for timer L.
		tx.state = stAccepted
		tx.wait = tx.l.waits.add(64*cfg.T1, tx)
	case tx.invite:
		tx.state = stCompleted
		if !tx.reliable {
			tx.interval = cfg.T1
			tx.timerG = time.AfterFunc(tx.interval, tx.fireG)
		}
		tx.timerH = time.AfterFunc(64*cfg.T1, tx.fireH)
	default:
		tx.state = stCompleted
		switch {
		case tx.reliable:
			tx.terminateLocked(nil) // timer J is zero
		case tx.key.legacy == "" && tx.l.waits.lingers.add(&tx.key, resp):
			// The layer answers retransmissions from a record of the
			// response until timer J (see linger.go); the
			// transaction ends for the TU now.
			tx.terminateLocked(nil)
		default:
			// RFC 2543 peers: the match needs the request itself.
			tx.wait = tx.l.waits.add(64*cfg.T1, tx)
		}
	}
	return nil
}

// sendLocked hands resp to the transport and ends the transaction when that
// fails (§17.2.4).
func (tx *ServerTx) sendLocked(resp *sip.Response) error {
	if err := tx.l.sender.SendResponse(resp); err != nil {
		err = fmt.Errorf("%w: %w", ErrTransport, err)
		tx.l.stats.transport.Add(1)
		tx.terminateLocked(err)
		return err
	}
	return nil
}

// RespondStateless sends a final response and ends the transaction at
// once, skipping the Completed state that would keep it (and its timer J,
// or the timers G and H of an INVITE) to absorb retransmissions: a
// retransmission then gets a new answer, as from a stateless UAS (§8.2.7).
// It suits answers that are cheap to regenerate and commit nothing — a
// digest challenge, a refusal — and saves their memory and timers: a flood
// of INVITEs answered this way holds no state. The ACK of a non-2xx answer
// to an INVITE then matches no transaction and goes to Config.OnAck; give
// such answers the To tag of [sip.StatelessTag] so that its owner knows
// the ACK for what it is (and retransmissions get the same tag). A 2xx to
// an INVITE is always sent through Respond.
func (tx *ServerTx) RespondStateless(resp *sip.Response) error {
	if resp.StatusCode < 200 || tx.invite && resp.StatusCode < 300 {
		return tx.Respond(resp)
	}
	if resp.StatusCode > 699 {
		return fmt.Errorf("%w: %d", ErrBadResponse, resp.StatusCode)
	}
	resp.Origin = tx.req.Origin
	tx.mu.Lock()
	defer tx.mu.Unlock()
	switch tx.state {
	case stTrying, stProceeding:
	case stTerminated:
		if tx.err != nil {
			return tx.err
		}
		return ErrTerminated
	default:
		return ErrFinalSent
	}
	if err := tx.sendLocked(resp); err != nil {
		return err
	}
	tx.last = resp
	tx.terminateLocked(nil)
	return nil
}

// Drop ends the transaction without an answer, as if the request had
// never arrived: for requests that are dropped on purpose (scanners,
// banned sources), where any answer would tell the sender something. A
// retransmission starts a new transaction.
func (tx *ServerTx) Drop() {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	tx.terminateLocked(ErrDropped)
}

// Release tells the layer that the TU will send nothing more through an
// INVITE transaction that has sent a 2xx (the Accepted state of RFC 6026
// §7.1): the transaction ends for the TU now, and until timer L the layer
// keeps only a record of its key, which absorbs retransmitted INVITEs, not
// the whole transaction. A proxy, which forwards later 2xx statelessly
// (§16.7 step 5), releases at the first one; a UAS core, which retransmits
// its 2xx through Respond, must not. In any other state Release does
// nothing.
func (tx *ServerTx) Release() {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.state != stAccepted || tx.key.legacy != "" {
		return // RFC 2543 peers: matching their ACK needs the request
	}
	if tx.l.waits.lingers.add(&tx.key, nil) {
		tx.terminateLocked(nil)
	}
}

// RespondRequestTerminated answers 487 Request Terminated unless a final
// response has been sent. It is what a user agent does when Cancelled fires
// (§9.2); a proxy first cancels its branches and forwards their answer.
func (tx *ServerTx) RespondRequestTerminated() error { return tx.respondIfUnanswered(487) }

func (tx *ServerTx) respondIfUnanswered(code int) error {
	resp := sip.NewResponse(tx.req, code, "")
	resp.Origin = tx.req.Origin
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.state != stTrying && tx.state != stProceeding {
		return nil
	}
	if tx.last != nil {
		if tag := tx.last.ToTag(); tag != "" {
			resp.SetToTag(tag)
		}
	}
	if resp.ToTag() == "" {
		resp.SetToTag(NewTag())
	}
	return tx.respondLocked(resp)
}

// Cancelled returns a channel closed when a CANCEL matching this INVITE
// transaction arrives (§9.2). The layer has then already answered the
// CANCEL with 200; if the INVITE has no final response yet the TU should
// send 487 (see RespondRequestTerminated). For non-INVITE transactions the
// channel is never closed.
func (tx *ServerTx) Cancelled() <-chan struct{} {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.cancelled {
		return closedChan
	}
	if tx.cancelCh == nil {
		tx.cancelCh = make(chan struct{})
	}
	return tx.cancelCh
}

// Done returns a channel closed when the transaction has terminated.
func (tx *ServerTx) Done() <-chan struct{} {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.state == stTerminated {
		return closedChan
	}
	if tx.doneCh == nil {
		tx.doneCh = make(chan struct{})
	}
	return tx.doneCh
}

// Err returns why the transaction ended: nil while it runs and after a
// normal end, an error wrapping ErrTimeout when timer H fired (no ACK for a
// non-2xx final response), ErrTransport when a response could not be sent,
// ErrShutdown when Shutdown ended it.
func (tx *ServerTx) Err() error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return tx.err
}

func (tx *ServerTx) currentState() state {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return tx.state
}

func (tx *ServerTx) terminated() bool { return tx.currentState() == stTerminated }

// OnCancel arranges for f to run when a CANCEL matching this INVITE
// transaction arrives (§9.2), on the transport goroutine that received it,
// or at once on the caller's goroutine when one already has: Cancelled
// without a goroutine waiting on the channel. f must not block. A later
// OnCancel replaces an earlier f. For non-INVITE transactions f never runs.
func (tx *ServerTx) OnCancel(f func()) {
	tx.mu.Lock()
	if tx.cancelled {
		tx.mu.Unlock()
		f()
		return
	}
	tx.onCancel = f
	tx.mu.Unlock()
}

func (tx *ServerTx) cancel() {
	tx.mu.Lock()
	if !tx.invite || tx.cancelled {
		tx.mu.Unlock()
		return
	}
	tx.cancelled = true
	if tx.cancelCh != nil {
		close(tx.cancelCh)
	}
	f := tx.onCancel
	tx.onCancel = nil
	tx.mu.Unlock()
	if f != nil {
		f()
	}
}

// toTag is the To tag of the last response sent ("" when none).
func (tx *ServerTx) toTag() string {
	tx.mu.Lock()
	last := tx.last
	tx.mu.Unlock()
	if last == nil {
		return ""
	}
	return last.ToTag()
}

// legacyMatch completes the RFC 2543 matching of §17.2.3 with the part the
// key does not hold: the To tag — the INVITE's for a retransmission or a
// CANCEL, the one of the response sent for an ACK.
func (tx *ServerTx) legacyMatch(req *sip.Request) bool {
	if req.Method != sip.ACK {
		return req.ToTag() == tx.req.ToTag()
	}
	want := tx.toTag()
	if want == "" {
		want = tx.req.ToTag()
	}
	return req.ToTag() == want
}

// receiveRetransmission handles a retransmission of the request: the most
// recent response goes out again and the TU never hears of it.
func (tx *ServerTx) receiveRetransmission() {
	tx.l.stats.retrans.Add(1)
	tx.mu.Lock()
	defer tx.mu.Unlock()
	switch tx.state {
	case stProceeding:
		if tx.last != nil {
			_ = tx.sendLocked(tx.last)
		} else if tx.invite && tx.l.cfg.TryingDelay > 0 {
			// The client is retransmitting: tell it now that we are
			// working on it rather than wait for the 100 timer.
			tx.sendTryingLocked()
		}
	case stCompleted:
		_ = tx.sendLocked(tx.last)
	}
	// Trying (no response yet), Confirmed, Accepted (RFC 6026 §7.1: the
	// 2xx is retransmitted by the TU, not here): absorbed.
}

func (tx *ServerTx) receiveAck(ack *sip.Request) {
	tx.mu.Lock()
	switch tx.state {
	case stCompleted:
		if !tx.invite {
			break
		}
		// §17.2.1: the ACK for the non-2xx final response.
		tx.state = stConfirmed
		stop(tx.timerG)
		stop(tx.timerH)
		if tx.reliable {
			tx.terminateLocked(nil) // timer I is zero
		} else {
			tx.wait = tx.l.waits.add(tx.l.cfg.T4, tx) // timer I
		}
	case stConfirmed:
		tx.l.stats.retrans.Add(1)
	case stAccepted:
		// Only an RFC 2543 ACK for the 2xx matches the INVITE's key; it
		// belongs to the TU (RFC 6026 §7.1).
		tx.mu.Unlock()
		if tx.l.cfg.OnAck != nil {
			tx.l.cfg.OnAck(ack)
		}
		return
	}
	tx.mu.Unlock()
}

// armTrying starts the timer of the automatic 100 Trying, unless the TU
// has been quicker.
func (tx *ServerTx) armTrying() {
	tx.mu.Lock()
	if tx.state == stProceeding && tx.last == nil {
		tx.timer100 = time.AfterFunc(tx.l.cfg.TryingDelay, tx.fire100)
	}
	tx.mu.Unlock()
}

func (tx *ServerTx) fire100() {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.state == stProceeding && tx.last == nil {
		tx.sendTryingLocked()
	}
}

func (tx *ServerTx) sendTryingLocked() {
	resp := sip.NewResponse(tx.req, 100, "")
	resp.Origin = tx.req.Origin
	if tx.sendLocked(resp) == nil {
		tx.last = resp
	}
}

// fireG retransmits the non-2xx final response, doubling the interval up
// to T2 (§17.2.1).
func (tx *ServerTx) fireG() {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.state != stCompleted {
		return
	}
	if tx.sendLocked(tx.last) != nil {
		return
	}
	tx.interval = min(2*tx.interval, tx.l.cfg.T2)
	tx.timerG.Reset(tx.interval)
}

// fireH: no ACK came for the final response (§17.2.1).
func (tx *ServerTx) fireH() {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.state == stCompleted {
		tx.l.stats.timeouts.Add(1)
		tx.terminateLocked(fmt.Errorf("%w: no ACK (timer H)", ErrTimeout))
	}
}

// fireWait is timer I (Confirmed), J (non-INVITE Completed) or L
// (Accepted): the transaction has absorbed what it had to.
func (tx *ServerTx) fireWait() {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	switch {
	case tx.state == stConfirmed, tx.state == stAccepted, tx.state == stCompleted && !tx.invite:
		tx.terminateLocked(nil)
	}
}

// settleLocked tells the layer, once, that the transaction has sent its
// final response (or will never send one): Shutdown stops waiting for it.
func (tx *ServerTx) settleLocked() {
	if !tx.settled {
		tx.settled = true
		tx.l.settled()
	}
}

func (tx *ServerTx) abort(err error) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	tx.terminateLocked(err)
}

func (tx *ServerTx) terminateLocked(err error) {
	if tx.state == stTerminated {
		return
	}
	tx.settleLocked()
	tx.state = stTerminated
	tx.err = err
	stop(tx.timerG)
	stop(tx.timerH)
	stop(tx.timer100)
	tx.wait.cancel()
	if tx.doneCh != nil {
		close(tx.doneCh)
	}
	tx.l.servers.delete(tx.key, tx)
	tx.l.release(tx)
	tx.l.ended()
}

func stop(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}
