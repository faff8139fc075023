package transaction

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// ClientTx is a client transaction (§17.1): the INVITE machine of §17.1.1
// with the Accepted state of RFC 6026, or the non-INVITE machine of
// §17.1.2. Its methods are safe for concurrent use.
type ClientTx struct {
	l        *Layer
	key      clientKey
	req      *sip.Request
	dst      transport.Addr
	invite   bool
	reliable bool

	mu       sync.Mutex
	state    state
	interval time.Duration // current timer A or E interval
	timerA   *time.Timer   // retransmit the request: A or E
	timerB   *time.Timer   // give up: B or F
	timerC   *time.Timer   // proxy Timer C (§16.6 step 11)
	cGen     uint64        // generation of timerC, which is re-armed from outside its callback
	timerX   *time.Timer   // 64*T1 after a CANCEL (§9.1)
	wait     waitTicket    // timer D, K or M (see wait.go)
	ack      *sip.Request  // the ACK for a non-2xx final response, re-sent on retransmissions

	responses  chan *sip.Response // nil for the layer's own CANCELs and with onResponse
	respClosed bool
	// onResponse replaces the channel for RequestFunc: responses queue in
	// outbox under mu and are handed over after it is released, in
	// order, by one goroutine at a time (draining). nil in outbox is the
	// end.
	onResponse func(*sip.Response)
	outbox     []*sip.Response
	draining   bool
	done       chan struct{}
	err        error

	settled      bool // final response received, or terminated
	cancelWanted bool // Cancel was called
	cancelSent   bool
	stopCtx      func() bool
}

// Request starts a client transaction: it sends req to dst, the next hop
// already resolved (RFC 3263 is the caller's job), and retransmits it as
// §17.1 says. req must carry its Via, From, To, Call-ID, CSeq (with req's
// method) and Max-Forwards; when the top Via has no branch with the magic
// cookie the layer writes a fresh one (NewBranch). The layer keeps req: do
// not modify it afterwards.
//
// Responses arrive on tx.Responses(). For an INVITE, ctx ending before the
// final response cancels the transaction (Cancel); for other methods ctx
// only matters until the request is sent, since §9.1 gives no way to stop
// them. ACK is not a transaction: send the ACK for a 2xx through the
// transport (the layer sends the one for non-2xx finals itself). An error
// sending the request is returned wrapping ErrTransport, with no
// transaction.
func (l *Layer) Request(ctx context.Context, req *sip.Request, dst transport.Addr) (*ClientTx, error) {
	return l.request(ctx, req, dst, nil)
}

// RequestFunc is Request with the responses handed to f instead of the
// Responses channel (which stays nil): f(resp) for each response Responses
// would carry, then f(nil) once when no more will come (Err says why). The
// calls for one transaction come in order and never overlap, from whichever
// goroutine moved the transaction — a transport reader for a response, a
// timer — and never while the layer holds a lock, so f may call back into
// the layer (Cancel, Respond on a server transaction). f must not block: it
// holds up the reader. It suits a proxy relaying responses upstream, which
// with a channel would wake a goroutine per response. f may run before
// RequestFunc returns.
func (l *Layer) RequestFunc(ctx context.Context, req *sip.Request, dst transport.Addr, f func(*sip.Response)) (*ClientTx, error) {
	if f == nil {
		return nil, fmt.Errorf("%w: RequestFunc needs a function", ErrBadRequest)
	}
	return l.request(ctx, req, dst, f)
}

func (l *Layer) request(ctx context.Context, req *sip.Request, dst transport.Addr, f func(*sip.Response)) (*ClientTx, error) {
	if l.closing.Load() {
		return nil, ErrShutdown
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tx, err := l.startClient(req, dst, f == nil, f)
	if err != nil {
		return nil, err
	}
	if tx.invite && ctx.Done() != nil {
		stopCtx := context.AfterFunc(ctx, func() { _ = tx.Cancel() })
		tx.mu.Lock()
		if tx.state == stTerminated {
			stopCtx()
		} else {
			tx.stopCtx = stopCtx
		}
		tx.mu.Unlock()
	}
	return tx, nil
}

func (l *Layer) startClient(req *sip.Request, dst transport.Addr, withChan bool, f func(*sip.Response)) (*ClientTx, error) {
	if req.Method == sip.ACK {
		return nil, fmt.Errorf("%w: ACK is not a transaction, send it through the transport", ErrBadRequest)
	}
	via, err := req.TopVia()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	cseq, err := req.CSeq()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if cseq.Method != req.Method {
		return nil, fmt.Errorf("%w: CSeq method %s differs from %s (§8.1.1.5)", ErrBadRequest, cseq.Method, req.Method)
	}
	branch := via.Branch()
	if !strings.HasPrefix(branch, sip.MagicCookie) {
		branch = NewBranch()
		via.Params = via.Params.With("branch", branch)
		req.RemoveFirstValue("Via")
		req.Prepend("Via", via.String())
	}
	if p, ok := l.sender.(RequestPreparer); ok {
		// The transport may move the request to another transport
		// (§18.1.1: too large for UDP); the timers must follow.
		dst = p.PrepareRequest(req, dst)
	}
	tx := &ClientTx{
		l:        l,
		key:      clientKey{branch: branch, method: req.Method},
		req:      req,
		dst:      dst,
		invite:   req.Method == sip.INVITE,
		reliable: transport.Reliable(dst.Transport),
		state:    stTrying,
		done:     make(chan struct{}),
	}
	if tx.invite {
		tx.state = stCalling
	}
	if withChan {
		tx.responses = make(chan *sip.Response, l.cfg.ResponseBuffer)
	}
	tx.onResponse = f
	if _, fresh := l.clients.getOrPut(tx.key, tx); !fresh {
		return nil, fmt.Errorf("%w: %s %s", ErrDuplicate, req.Method, branch)
	}
	l.started()
	l.stats.client.Add(1)
	// Hold the lock while sending so that a response racing in on a
	// reader goroutine finds the timers armed.
	tx.mu.Lock()
	defer tx.mu.Unlock() // nothing to deliver: no response yet, and a failed tx is not returned
	if err := tx.sendLocked(tx.req); err != nil {
		tx.outbox = nil
		return nil, err
	}
	cfg := &l.cfg
	if !tx.reliable {
		tx.interval = cfg.T1
		tx.timerA = time.AfterFunc(tx.interval, tx.fireRetransmit)
	}
	tx.timerB = time.AfterFunc(64*cfg.T1, tx.fireTimeout)
	if tx.invite && cfg.TimerC > 0 {
		tx.armCLocked()
	}
	return tx, nil
}

// Release ends an INVITE transaction in the Accepted state (RFC 6026
// §7.2: a 2xx came) now instead of after timer M. Further 2xx then match no
// transaction and go to Config.OnStrayResponse: a proxy, which forwards
// those statelessly anyway (§16.7 step 5), saves keeping the transaction
// for 32 s. In any other state Release does nothing.
func (tx *ClientTx) Release() {
	tx.mu.Lock()
	if tx.state == stAccepted {
		tx.terminateLocked(nil)
	}
	tx.unlock()
}

// Request returns the request the transaction sent.
func (tx *ClientTx) Request() *sip.Request { return tx.req }

// Responses returns the channel on which responses arrive: provisional
// ones, the final one, and for an INVITE every 2xx that arrives in the
// Accepted state (retransmissions and forks, RFC 6026: the TU ACKs each).
// It is closed when no more responses will come: after a non-2xx final
// response or a non-INVITE final response at once, after timer M when a 2xx
// was received, and when the transaction fails; Err then says why. A
// provisional response that finds the channel full is dropped (the buffer
// always keeps room for the final response).
func (tx *ClientTx) Responses() <-chan *sip.Response { return tx.responses }

// Done returns a channel closed when the transaction has terminated
// (after timer D, K or M, or on failure).
func (tx *ClientTx) Done() <-chan struct{} { return tx.done }

// Err returns why the transaction failed: nil while it runs and when it got
// a final response, an error wrapping ErrTimeout (timer B or F, or no final
// response 64*T1 after a CANCEL), ErrTransport (a retransmission or the ACK
// could not be sent) or ErrShutdown.
func (tx *ClientTx) Err() error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return tx.err
}

// Cancel cancels an INVITE transaction (§9.1): a CANCEL with the INVITE's
// Request-URI, Call-ID, From, To, CSeq number, top Via (its branch) and
// Route headers is sent to the same destination in a transaction of its
// own. If no provisional response has arrived yet, the CANCEL is sent when
// the first one does. Once a final response has arrived Cancel does
// nothing; the final response (487 normally) still arrives on Responses. If
// none arrives 64*T1 after the CANCEL the transaction ends with ErrTimeout.
// Cancel returns the error of sending the CANCEL now, if any.
func (tx *ClientTx) Cancel() error {
	if !tx.invite {
		return ErrNotInvite
	}
	tx.mu.Lock()
	if tx.cancelWanted || tx.state != stCalling && tx.state != stProceeding {
		tx.mu.Unlock()
		return nil
	}
	tx.cancelWanted = true
	now := tx.state == stProceeding
	tx.cancelSent = now
	tx.mu.Unlock()
	if now {
		return tx.sendCancel()
	}
	return nil
}

func (tx *ClientTx) sendCancel() error {
	// The CANCEL's own transaction needs no TU: its 200 or 481 says
	// nothing the INVITE's final response will not.
	if _, err := tx.l.startClient(buildCancel(tx.req), tx.dst, false, nil); err != nil {
		return err
	}
	tx.mu.Lock()
	if tx.state == stProceeding {
		tx.timerX = time.AfterFunc(64*tx.l.cfg.T1, tx.fireCancelTimeout)
	}
	tx.mu.Unlock()
	return nil
}

// receive steps the machine with a response matched to it (§17.1.3).
func (tx *ClientTx) receive(resp *sip.Response) {
	code := resp.StatusCode
	if code < 100 || code > 699 {
		return
	}
	tx.mu.Lock()
	sendCancel := false
	switch tx.state {
	case stCalling, stTrying, stProceeding:
		switch {
		case code < 200:
			if tx.invite {
				// §17.1.1.2: Proceeding stops the retransmissions,
				// and timer B does not apply any more.
				stop(tx.timerA)
				stop(tx.timerB)
				if tx.l.cfg.TimerC > 0 {
					tx.armCLocked()
				}
				if tx.cancelWanted && !tx.cancelSent {
					tx.cancelSent = true
					sendCancel = true
				}
			}
			// Non-INVITE: timer E keeps running, at T2 from now on.
			tx.state = stProceeding
			tx.deliverLocked(resp, false)
		case tx.invite && code < 300:
			// RFC 6026 §7.2: Accepted, where further 2xx go to the TU
			// until timer M.
			tx.stopRunningLocked()
			tx.settleLocked()
			tx.state = stAccepted
			tx.deliverLocked(resp, true)
			tx.wait = tx.l.waits.add(64*tx.l.cfg.T1, tx) // timer M
		case tx.invite:
			// §17.1.1.3: ACK the non-2xx final response ourselves.
			tx.stopRunningLocked()
			tx.settleLocked()
			tx.state = stCompleted
			tx.deliverLocked(resp, true)
			tx.closeResponsesLocked()
			tx.ack = buildAck(tx.req, resp)
			if tx.sendLocked(tx.ack) != nil {
				break
			}
			tx.waitLocked(tx.l.cfg.TimerD)
		default:
			tx.stopRunningLocked()
			tx.settleLocked()
			tx.state = stCompleted
			tx.deliverLocked(resp, true)
			tx.closeResponsesLocked()
			tx.waitLocked(tx.l.cfg.T4)
		}
	case stCompleted:
		tx.l.stats.retrans.Add(1)
		if tx.invite && code >= 300 {
			_ = tx.sendLocked(tx.ack)
		}
	case stAccepted:
		if code >= 200 && code < 300 {
			tx.deliverLocked(resp, true)
		}
	}
	tx.unlock()
	if sendCancel {
		_ = tx.sendCancel()
	}
}

// stopRunningLocked stops the timers of the states before a final response.
func (tx *ClientTx) stopRunningLocked() {
	stop(tx.timerA)
	stop(tx.timerB)
	stop(tx.timerC)
	stop(tx.timerX)
	tx.cGen++
}

// waitLocked arms timer D or K: d over an unreliable transport, zero over a
// reliable one.
func (tx *ClientTx) waitLocked(d time.Duration) {
	if tx.reliable {
		tx.terminateLocked(nil)
		return
	}
	tx.wait = tx.l.waits.add(d, tx)
}

// deliverLocked hands resp to the TU without ever blocking: the lock is
// held and the caller may be a transport reader goroutine. Provisional
// responses leave the last slot free so that the final one always fits.
func (tx *ClientTx) deliverLocked(resp *sip.Response, final bool) {
	if tx.onResponse != nil && !tx.respClosed {
		tx.outbox = append(tx.outbox, resp)
		return
	}
	if tx.responses == nil || tx.respClosed {
		return
	}
	room := cap(tx.responses) - len(tx.responses)
	if !final {
		room--
	}
	if room <= 0 {
		tx.l.stats.dropped.Add(1)
		return
	}
	tx.responses <- resp
}

func (tx *ClientTx) closeResponsesLocked() {
	if tx.onResponse != nil && !tx.respClosed {
		tx.respClosed = true
		tx.outbox = append(tx.outbox, nil)
		return
	}
	if tx.responses != nil && !tx.respClosed {
		tx.respClosed = true
		close(tx.responses)
	}
}

// unlock releases tx.mu and hands what deliverLocked queued to onResponse,
// outside the lock. One goroutine drains at a time, so the calls keep their
// order; one that finds another draining leaves its responses to it.
func (tx *ClientTx) unlock() {
	if tx.draining || len(tx.outbox) == 0 {
		tx.mu.Unlock()
		return
	}
	tx.draining = true
	for len(tx.outbox) > 0 {
		batch := tx.outbox
		tx.outbox = nil
		tx.mu.Unlock()
		for _, resp := range batch {
			tx.onResponse(resp)
		}
		tx.mu.Lock()
	}
	tx.draining = false
	tx.mu.Unlock()
}

func (tx *ClientTx) sendLocked(req *sip.Request) error {
	if err := tx.l.sender.SendRequest(req, tx.dst); err != nil {
		err = fmt.Errorf("%w: %w", ErrTransport, err)
		tx.l.stats.transport.Add(1)
		tx.terminateLocked(err)
		return err
	}
	return nil
}

// fireRetransmit is timer A (INVITE: doubling, §17.1.1.2) or E
// (non-INVITE: doubling up to T2, and T2 once a provisional arrived,
// §17.1.2.2).
func (tx *ClientTx) fireRetransmit() {
	tx.mu.Lock()
	defer tx.unlock()
	var next time.Duration
	switch {
	case tx.invite && tx.state == stCalling:
		next = 2 * tx.interval
	case !tx.invite && tx.state == stTrying:
		next = min(2*tx.interval, tx.l.cfg.T2)
	case !tx.invite && tx.state == stProceeding:
		next = tx.l.cfg.T2
	default:
		return
	}
	if tx.sendLocked(tx.req) != nil {
		return
	}
	tx.interval = next
	tx.timerA.Reset(next)
}

// fireTimeout is timer B or F: no final response.
func (tx *ClientTx) fireTimeout() {
	tx.mu.Lock()
	defer tx.unlock()
	switch {
	case tx.invite && tx.state == stCalling:
		tx.l.stats.timeouts.Add(1)
		tx.terminateLocked(fmt.Errorf("%w: no response (timer B)", ErrTimeout))
	case !tx.invite && (tx.state == stTrying || tx.state == stProceeding):
		tx.l.stats.timeouts.Add(1)
		tx.terminateLocked(fmt.Errorf("%w: no final response (timer F)", ErrTimeout))
	}
}

// fireCancelTimeout: §9.1, no final response 64*T1 after the CANCEL; the
// INVITE is considered cancelled.
func (tx *ClientTx) fireCancelTimeout() {
	tx.mu.Lock()
	defer tx.unlock()
	if tx.state == stProceeding {
		tx.l.stats.timeouts.Add(1)
		tx.terminateLocked(fmt.Errorf("%w: no final response after CANCEL", ErrTimeout))
	}
}

// fireWait is timer D, K or M.
func (tx *ClientTx) fireWait() {
	tx.mu.Lock()
	defer tx.unlock()
	if tx.state == stCompleted || tx.state == stAccepted {
		tx.terminateLocked(nil)
	}
}

// armCLocked (re)starts Timer C. It is re-armed on every provisional
// response, from outside its own callback, so a callback already on its way
// must recognise that it is stale: the generation tells.
func (tx *ClientTx) armCLocked() {
	tx.cGen++
	gen := tx.cGen
	stop(tx.timerC)
	tx.timerC = time.AfterFunc(tx.l.cfg.TimerC, func() { tx.fireC(gen) })
}

// fireC: §16.8. With a provisional response the transaction is cancelled;
// without one it ends as if a 408 had arrived.
func (tx *ClientTx) fireC(gen uint64) {
	tx.mu.Lock()
	if gen != tx.cGen {
		tx.unlock()
		return
	}
	sendCancel := false
	switch tx.state {
	case stCalling:
		tx.stopRunningLocked()
		tx.deliverLocked(sip.NewResponse(tx.req, 408, ""), true)
		tx.terminateLocked(nil)
	case stProceeding:
		if !tx.cancelSent {
			tx.cancelWanted, tx.cancelSent = true, true
			sendCancel = true
		}
	}
	tx.unlock()
	if sendCancel {
		_ = tx.sendCancel()
	}
}

// settleLocked tells the layer, once, that the transaction has its final
// response (or will never get one): Shutdown stops waiting for it.
func (tx *ClientTx) settleLocked() {
	if !tx.settled {
		tx.settled = true
		tx.l.settled()
	}
}

// giveUp ends a transaction that has no final response yet with
// ErrShutdown (see Layer.Shutdown). A ringing INVITE is cancelled first:
// the CANCEL goes out once, in no transaction of its own (the layer is
// closing), so that the callee stops ringing.
func (tx *ClientTx) giveUp() {
	tx.mu.Lock()
	if tx.settled {
		tx.mu.Unlock()
		return
	}
	cancel := tx.invite && tx.state == stProceeding && !tx.cancelSent
	tx.cancelSent = tx.cancelSent || cancel
	req, dst := tx.req, tx.dst
	tx.terminateLocked(ErrShutdown)
	tx.unlock()
	if cancel {
		c := buildCancel(req)
		if err := tx.l.sender.SendRequest(c, dst); err != nil {
			tx.l.stats.transport.Add(1)
		}
	}
}

func (tx *ClientTx) abort(err error) {
	tx.mu.Lock()
	defer tx.unlock()
	tx.terminateLocked(err)
}

func (tx *ClientTx) terminateLocked(err error) {
	if tx.state == stTerminated {
		return
	}
	tx.settleLocked()
	tx.state = stTerminated
	tx.err = err
	stop(tx.timerA)
	stop(tx.timerB)
	stop(tx.timerC)
	stop(tx.timerX)
	tx.wait.cancel()
	tx.cGen++
	tx.closeResponsesLocked()
	close(tx.done)
	if tx.stopCtx != nil {
		tx.stopCtx()
	}
	tx.l.clients.delete(tx.key, tx)
	tx.l.ended()
}

// buildAck builds the ACK for a non-2xx final response (§17.1.1.3): the
// INVITE's Request-URI, top Via, From, Call-ID, CSeq number and Route
// headers, and the response's To (with its tag).
func buildAck(req *sip.Request, resp *sip.Response) *sip.Request {
	ack := sip.NewRequest(sip.ACK, req.URI)
	to, _ := resp.Get("To")
	copyCommon(ack, req, to)
	return ack
}

// buildCancel builds the CANCEL for req (§9.1): the same Request-URI,
// Call-ID, To, CSeq number, From, top Via and Route headers.
func buildCancel(req *sip.Request) *sip.Request {
	c := sip.NewRequest(sip.CANCEL, req.URI)
	to, _ := req.Get("To")
	copyCommon(c, req, to)
	return c
}

func copyCommon(dst, req *sip.Request, to string) {
	for v := range req.Values("Via") {
		dst.Add("Via", v)
		break
	}
	dst.Add("Max-Forwards", "70")
	for _, f := range req.Fields() {
		if f.Is("Route") {
			dst.Add("Route", f.Value)
		}
	}
	from, _ := req.Get("From")
	dst.Add("From", from)
	dst.Add("To", to)
	dst.Add("Call-ID", req.CallID())
	cseq, _ := req.CSeq()
	dst.Add("CSeq", strconv.FormatUint(uint64(cseq.Seq), 10)+" "+dst.Method)
}
