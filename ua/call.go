package ua

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-sip/parley/dialog"
	"github.com/parley-sip/parley/media"
	"github.com/parley-sip/parley/sdp"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
	"github.com/parley-sip/parley/transport"
)

// CallState is where a call is.
type CallState uint8

// Call states.
const (
	StateCalling   CallState = iota // outgoing INVITE sent, no answer yet
	StateRinging                    // incoming call waiting for Answer, or outgoing call that got 18x
	stateAnswering                  // Answer in progress
	StateActive                     // answered (2xx sent or received)
	StateEnded
)

func (s CallState) String() string {
	switch s {
	case StateCalling:
		return "calling"
	case StateRinging:
		return "ringing"
	case stateAnswering:
		return "answering"
	case StateActive:
		return "active"
	}
	return "ended"
}

// EventKind says what happened to a call.
type EventKind uint8

// Call events.
const (
	EventTrying       EventKind = iota + 1 // 100 Trying
	EventRinging                           // 180 (or 181, 182)
	EventProgress                          // 183 Session Progress (early media)
	EventAnswered                          // 2xx received or sent
	EventHold                              // we put the far end on hold
	EventResume                            // we took it off hold
	EventRemoteHold                        // the far end put us on hold
	EventRemoteResume                      // the far end took us off hold
	EventDTMF                              // a telephone event was received (Digit)
	EventEnded                             // the call ended (Status, Reason)
)

func (k EventKind) String() string {
	switch k {
	case EventTrying:
		return "trying"
	case EventRinging:
		return "ringing"
	case EventProgress:
		return "progress"
	case EventAnswered:
		return "answered"
	case EventHold:
		return "hold"
	case EventResume:
		return "resume"
	case EventRemoteHold:
		return "remote-hold"
	case EventRemoteResume:
		return "remote-resume"
	case EventDTMF:
		return "dtmf"
	case EventEnded:
		return "ended"
	}
	return "event(" + strconv.Itoa(int(k)) + ")"
}

// Event is a call progress report.
type Event struct {
	Kind   EventKind
	Status int    // the SIP status behind it, when there is one
	Reason string // reason phrase, or why the call ended
	Digit  rune   // EventDTMF
}

// CallOptions are what a call plays, records and reports.
type CallOptions struct {
	// Play is the call's microphone: mono 16-bit PCM at 8 kHz (for
	// G.711), e.g. media.OpenWAV(path, 8000). Nil sends silence.
	Play media.Source
	// Record receives what the far end sends, after the jitter buffer.
	// Nil discards it.
	Record media.Sink
	// OnEvent receives progress events. It is called from the UA's and
	// the media session's goroutines and must not block.
	OnEvent func(*Call, Event)
}

// EndInfo says how a call ended.
type EndInfo struct {
	Reason string // "local hangup", "remote hangup", "cancelled", "486 Busy Here", ...
	Status int    // the SIP status of a failure (e.g. 486, 487, 408), 0 for a normal hangup
	Remote bool   // the far end ended it (or refused it)
}

// Offer/answer token owners (§14.1).
const (
	ownerNone int32 = iota
	ownerOut        // our re-INVITE is in progress
	ownerIn         // the far end's INVITE is in progress (until its ACK)
)

// Call is one call, outgoing (Dial) or incoming (Incoming). Its methods
// are safe for concurrent use.
type Call struct {
	u        *UA
	outgoing bool
	done     chan struct{}

	// tok is the offer/answer token: one INVITE transaction in progress
	// per dialog in either direction (§14.1); tokOwner says whose.
	tok      chan struct{}
	tokOwner atomic.Int32

	gate gate

	mu          sync.Mutex
	state       CallState
	opts        CallOptions
	d           *dialog.Dialog
	invite      *sip.Request          // the initial INVITE (sent or received)
	inviteTx    *transaction.ServerTx // incoming: its server transaction
	remoteOffer *sdp.Session          // incoming: the offer of the INVITE
	cancelDial  context.CancelFunc    // outgoing: cancels the INVITE
	localSDP    *sdp.Session          // the last description we sent
	remoteSDP   *sdp.Session          // the last one we received
	stream      sdp.Stream            // the negotiated audio stream
	te          bool                  // telephone-event agreed
	media       *media.Session
	dtmfPT      uint8
	remoteRTP   netip.AddrPort
	localHold   bool
	remoteHold  bool
	pendingAck  *ackWait
	end         EndInfo
	stats       media.Stats
	answeredAt  time.Time

	// RFC 3262, outgoing: the RSeq of the last reliable provisional
	// PRACKed, and whether the answer came in one (then it is final).
	rseqLast    uint32
	rseqSet     bool
	answerFinal bool
	// RFC 3262, incoming: the last RSeq sent and the reliable provisional
	// awaiting its PRACK.
	rseq uint32
	rel  *reliableProv
}

type ackWait struct {
	seq uint32
	ch  chan *sip.Request
}

// ErrCallEnded is returned by operations on a call that has ended.
var ErrCallEnded = errors.New("ua: call ended")

// ErrNotActive is returned by operations that need an answered call.
var ErrNotActive = errors.New("ua: call not active")

func (u *UA) newCall(outgoing bool, opts CallOptions) *Call {
	c := &Call{u: u, outgoing: outgoing, opts: opts, done: make(chan struct{}), tok: make(chan struct{}, 1)}
	if !outgoing {
		c.state = StateRinging
	}
	return c
}

// ---- accessors ----

// Outgoing reports whether we placed the call.
func (c *Call) Outgoing() bool { return c.outgoing }

// State returns the call's state.
func (c *Call) State() CallState {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateAnswering {
		return StateRinging
	}
	return c.state
}

// Done is closed when the call has ended.
func (c *Call) Done() <-chan struct{} { return c.done }

// End says how the call ended (zero until it has).
func (c *Call) End() EndInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.end
}

// Request returns the initial INVITE, as sent or received.
func (c *Call) Request() *sip.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.invite
}

// Remote returns the other party: the To of an outgoing call, the From of
// an incoming one.
func (c *Call) Remote() sip.Address {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.d != nil {
		return c.d.Remote()
	}
	if c.invite == nil {
		return sip.Address{}
	}
	var a sip.Address
	if c.outgoing {
		a, _ = c.invite.To()
	} else {
		a, _ = c.invite.From()
	}
	return a
}

// Dialog returns the call's dialog (nil before one exists).
func (c *Call) Dialog() *dialog.Dialog {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.d
}

// Media returns the call's media session (nil before the offer/answer and
// after the call ended).
func (c *Call) Media() *media.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.media
}

// Stream returns the negotiated audio stream.
func (c *Call) Stream() sdp.Stream {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stream
}

// LocalSDP and RemoteSDP return the last descriptions sent and received.
func (c *Call) LocalSDP() *sdp.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.localSDP
}

// RemoteSDP returns the last session description received.
func (c *Call) RemoteSDP() *sdp.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.remoteSDP
}

// OnHold reports whether we put the far end on hold.
func (c *Call) OnHold() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.localHold
}

// RemoteHold reports whether the far end put us on hold (and we stopped
// sending).
func (c *Call) RemoteHold() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.remoteHold
}

// Stats returns the RTP statistics: live while the call runs, final after
// it ended.
func (c *Call) Stats() media.Stats {
	c.mu.Lock()
	m := c.media
	st := c.stats
	c.mu.Unlock()
	if m != nil {
		return m.Stats()
	}
	return st
}

// AnsweredAt is when the call was answered (zero if it never was).
func (c *Call) AnsweredAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.answeredAt
}

func (c *Call) emit(ev Event) {
	c.mu.Lock()
	f := c.opts.OnEvent
	c.mu.Unlock()
	if f != nil {
		f(c, ev)
	}
}

// ---- outgoing calls ----

// Dial calls target ("sip:bob@example.test", "bob@host", or "bob" in our
// domain) with an SDP offer of our codecs and telephone-event, through the
// outbound proxy when one is configured, answering digest challenges. It
// returns when the call is answered (the ACK sent) or has failed. Cancelling
// ctx before the answer cancels the INVITE (§9.1); the error is then a
// *StatusError with code 487 wrapping ctx.Err(). A final non-2xx answer is
// returned as a *StatusError with its code and reason.
func (u *UA) Dial(ctx context.Context, target string, opts CallOptions) (*Call, error) {
	to, err := u.parseTarget(target)
	if err != nil {
		return nil, err
	}
	c := u.newCall(true, opts)
	if !u.addCall(c) {
		return nil, ErrClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.mu.Lock()
	c.cancelDial = cancel
	c.mu.Unlock()

	if err := c.initMedia(); err != nil {
		c.finish(EndInfo{Reason: "media: " + err.Error(), Status: sip.StatusServerInternalError})
		return nil, err
	}
	offer, err := sdp.BuildOffer(c.localDesc())
	if err != nil {
		c.finish(EndInfo{Reason: "sdp: " + err.Error(), Status: sip.StatusServerInternalError})
		return nil, err
	}
	req := u.newRequest(sip.INVITE, to.URI, to)
	req.Add("Content-Type", "application/sdp")
	req.Body = offer.Marshal()
	c.mu.Lock()
	c.localSDP = offer
	c.invite = req
	c.mu.Unlock()

	for attempt := 0; ; attempt++ {
		tx, err := u.start(ctx, req)
		if err != nil {
			c.failDial(err)
			return nil, err
		}
		// Wait for the final response whatever ctx does: the transaction
		// layer sends the CANCEL, and a 2xx that crosses it must still be
		// ACKed and ended with BYE (§9.1).
		resp, err := waitFinal(context.Background(), tx, func(r *sip.Response) { c.provisional(req, r) })
		if err != nil {
			if ctx.Err() != nil {
				err = &StatusError{Code: sip.StatusRequestTerminated, Reason: "Request Terminated", Err: ctx.Err()}
			}
			c.failDial(err)
			return nil, err
		}
		if (resp.StatusCode == 401 || resp.StatusCode == 407) && attempt < 2 && u.cfg.Password != "" && ctx.Err() == nil {
			if next, err := u.authorizedRetry(req, resp, nil); err == nil {
				req = next
				c.mu.Lock()
				c.invite = req
				c.mu.Unlock()
				continue
			}
		}
		if resp.StatusCode >= 300 {
			se := statusOf(resp)
			if ctx.Err() != nil {
				se.Err = ctx.Err()
			}
			c.failDial(se)
			return nil, se
		}
		if err := c.answered(ctx, req, tx, resp); err != nil {
			return nil, err
		}
		return c, nil
	}
}

func (c *Call) failDial(err error) {
	info := EndInfo{Reason: err.Error(), Remote: true}
	var se *StatusError
	if errors.As(err, &se) {
		info.Status = se.Code
		info.Reason = strconv.Itoa(se.Code) + " " + se.Reason
		if se.Code == sip.StatusRequestTerminated && se.Err != nil {
			info.Reason, info.Remote = "cancelled", false
		}
	}
	c.finish(info)
}

// provisional handles a 1xx to our INVITE: progress events, and an early
// dialog when it carries a To tag (§12.1.2, §13.2.2.1), with early media
// when it carries the answer.
func (c *Call) provisional(req *sip.Request, resp *sip.Response) {
	if resp.StatusCode == 100 {
		c.emit(Event{Kind: EventTrying, Status: 100, Reason: resp.Reason})
		return
	}
	rseq, reliable := rseqOf(resp)
	if resp.ToTag() != "" {
		c.mu.Lock()
		switch {
		case c.d == nil:
			if d, err := dialog.NewUAC(req, resp); err == nil {
				c.d = d
				c.u.dialogs.Put(d, c)
			}
		case c.d.ID().RemoteTag == resp.ToTag():
			_ = c.d.UpdateFromResponse(resp)
		}
		// RFC 3262 §4: PRACK a reliable provisional of our early dialog
		// once; its retransmissions (and one out of order) are absorbed.
		// Reliable provisionals of other forks are not PRACKed: a call
		// keeps one dialog.
		var prack *dialog.Dialog
		if reliable && c.d != nil && c.d.ID().RemoteTag == resp.ToTag() {
			if !c.acceptReliableLocked(rseq) {
				c.mu.Unlock()
				return
			}
			prack = c.d
		}
		if c.state == StateCalling {
			c.state = StateRinging
		}
		// An answer in a reliable provisional is the answer (RFC 3262
		// §5); one in an unreliable provisional is taken for early media
		// until the 2xx brings the real one.
		takeSDP := isSDP(resp.ContentType(), resp.Body) &&
			(prack != nil && !c.answerFinal || prack == nil && c.remoteSDP == nil)
		if takeSDP && prack != nil {
			c.answerFinal = true
		}
		c.mu.Unlock()
		if prack != nil {
			cs, _ := req.CSeq()
			go c.sendPRACK(prack, rack{rseq: rseq, seq: cs.Seq, method: sip.INVITE})
		}
		if takeSDP {
			if err := c.takeAnswer(resp.Body); err != nil {
				c.u.log.Warn("early media answer refused", "err", err)
			}
		}
	}
	kind := EventRinging
	if resp.StatusCode == sip.StatusSessionProgress {
		kind = EventProgress
	}
	c.emit(Event{Kind: kind, Status: resp.StatusCode, Reason: resp.Reason})
}

// takeAnswer applies the answer to our current offer.
func (c *Call) takeAnswer(body []byte) error {
	ans, err := sdp.Parse(body)
	if err != nil {
		return err
	}
	c.mu.Lock()
	offer := c.localSDP
	c.mu.Unlock()
	streams, err := sdp.ProcessAnswer(offer, ans)
	if err != nil {
		return err
	}
	st, ok := audioStream(streams)
	if !ok {
		return fmt.Errorf("%w: no audio stream accepted", sdp.ErrBadAnswer)
	}
	c.mu.Lock()
	c.remoteSDP = ans
	c.mu.Unlock()
	return c.applyStream(st)
}

// answered completes an outgoing call on its 2xx: the dialog is confirmed
// (or created), the ACK sent (§13.2.2.4) and the media started.
func (c *Call) answered(ctx context.Context, req *sip.Request, tx *transaction.ClientTx, resp *sip.Response) error {
	u := c.u
	cs, _ := req.CSeq()
	c.mu.Lock()
	d := c.d
	if d != nil && d.ID().RemoteTag == resp.ToTag() {
		if err := d.UpdateFromResponse(resp); err != nil {
			u.log.Warn("bad 2xx", "err", err)
		}
	} else {
		if d != nil {
			u.dialogs.Remove(d)
		}
		nd, err := dialog.NewUAC(req, resp)
		if err != nil {
			c.mu.Unlock()
			// We cannot even ACK a 2xx without a dialog; let it time out.
			err = &StatusError{Code: sip.StatusBadGateway, Reason: "Bad 2xx", Response: resp, Err: err}
			c.failDial(err)
			return err
		}
		d = nd
		c.d = d
	}
	u.dialogs.Put(d, c)
	c.state = StateActive
	c.answeredAt = time.Now()
	haveAnswer := c.remoteSDP != nil
	answerFinal := c.answerFinal
	c.mu.Unlock()

	ack := d.NewACK(cs.Seq)
	u.addCommon(ack)
	u.stampVia(ack)
	if err := u.sendACK(ack); err != nil {
		u.log.Warn("ACK not sent", "err", err)
	}
	go c.absorb2xx(req, tx, ack)

	if ctx.Err() != nil {
		// Answered although we gave up: §9.1 says end it with BYE.
		_ = c.bye(context.Background(), EndInfo{Reason: "cancelled", Status: sip.StatusRequestTerminated})
		return &StatusError{Code: sip.StatusRequestTerminated, Reason: "Request Terminated", Err: ctx.Err()}
	}
	var err error
	switch {
	case answerFinal:
		// The answer came in a reliable provisional; an SDP in the 2xx
		// can only repeat it.
	case isSDP(resp.ContentType(), resp.Body):
		err = c.takeAnswer(resp.Body)
	case !haveAnswer:
		err = errors.New("2xx without an answer")
	}
	if err != nil {
		_ = c.bye(context.Background(), EndInfo{Reason: "media negotiation failed: " + err.Error(), Status: sip.StatusNotAcceptableHere})
		return &StatusError{Code: sip.StatusNotAcceptableHere, Reason: "Not Acceptable Here", Response: resp, Err: err}
	}
	c.gate.answered.Store(true)
	c.emit(Event{Kind: EventAnswered, Status: resp.StatusCode, Reason: resp.Reason})
	return nil
}

// absorb2xx ACKs every further 2xx to an INVITE of ours until the
// transaction ends (RFC 6026 Accepted state): a retransmission gets the
// same ACK again (§13.2.2.4); a 2xx from another fork is ACKed and ended
// with BYE, since we keep one dialog per call.
func (c *Call) absorb2xx(req *sip.Request, tx *transaction.ClientTx, ack *sip.Request) {
	u := c.u
	tag := ack.ToTag()
	for resp := range tx.Responses() {
		if resp.StatusCode < 200 || resp.StatusCode >= 300 {
			continue
		}
		if resp.ToTag() == tag {
			if err := u.sendACK(ack); err != nil {
				u.log.Debug("ACK retransmission failed", "err", err)
			}
			continue
		}
		d2, err := dialog.NewUAC(req, resp)
		if err != nil {
			continue
		}
		cs, _ := req.CSeq()
		a2 := d2.NewACK(cs.Seq)
		u.addCommon(a2)
		u.stampVia(a2)
		_ = u.sendACK(a2)
		if bye, err := d2.NewRequest(sip.BYE); err == nil {
			u.addCommon(bye)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 32*time.Second)
				defer cancel()
				_, _ = u.do(ctx, bye, d2.NextCSeq)
			}()
		}
	}
}

// ---- incoming calls ----

// incomingCall handles an INVITE outside a dialog (§13.3): it creates the
// early dialog, sends 180 Ringing and queues the call on Incoming.
func (u *UA) incomingCall(tx *transaction.ServerTx) {
	req := tx.Request()
	var offer *sdp.Session
	if len(req.Body) > 0 {
		if !isSDP(req.ContentType(), req.Body) {
			resp := sip.NewResponse(req, sip.StatusUnsupportedMediaType, "")
			resp.Add("Accept", "application/sdp")
			_ = tx.Respond(resp)
			return
		}
		var err error
		if offer, err = sdp.Parse(req.Body); err != nil {
			u.respond(tx, sip.StatusBadRequest, "Bad Session Description")
			return
		}
	}
	tag := transaction.NewTag()
	d, err := dialog.NewUAS(req, tag, u.contactValue())
	if err != nil {
		u.respond(tx, sip.StatusBadRequest, "Bad Dialog Request")
		return
	}
	c := u.newCall(false, CallOptions{})
	c.d, c.invite, c.inviteTx, c.remoteOffer = d, req, tx, offer
	if !u.addCall(c) {
		u.respond(tx, sip.StatusServiceUnavailable, "")
		return
	}
	u.dialogs.Put(d, c)
	ring := sip.NewResponse(req, sip.StatusRinging, "")
	ring.SetToTag(tag)
	ring.CopyRecordRoute(req) // it creates an early dialog (§12.1.1)
	ring.Add("Contact", u.contactValue())
	if u.wantsReliable(req) {
		ring.Add("Allow", allowed)
		if err := c.sendReliable(tx, ring); err != nil {
			c.finish(EndInfo{Reason: "180 not sent: " + err.Error(), Status: sip.StatusServiceUnavailable})
			return
		}
	} else {
		_ = tx.Respond(ring)
	}
	select {
	case u.incoming <- c:
	default:
		_ = c.Reject(sip.StatusBusyHere, "")
		return
	}
	go c.watchCancel(tx)
}

// watchCancel answers a CANCEL of the unanswered INVITE with 487 (§9.2).
func (c *Call) watchCancel(tx *transaction.ServerTx) {
	select {
	case <-tx.Cancelled():
	case <-c.done:
		return
	}
	c.mu.Lock()
	if c.state != StateRinging {
		c.mu.Unlock()
		return
	}
	c.state = stateAnswering // claimed: Answer and Reject now fail
	c.mu.Unlock()
	_ = tx.RespondRequestTerminated()
	c.finish(EndInfo{Reason: "cancelled", Status: sip.StatusRequestTerminated, Remote: true})
}

// Answer answers an incoming call: 200 with our SDP answer (or our offer
// when the INVITE had none), retransmitted until the ACK comes
// (§13.3.1.4), and media as opts say. When the offer has nothing in common
// with our codecs the call is refused with 488 and a Warning, and the error
// says so.
func (c *Call) Answer(opts CallOptions) error {
	u := c.u
	c.mu.Lock()
	if c.outgoing || c.state != StateRinging {
		st := c.state
		c.mu.Unlock()
		if st == StateEnded {
			return ErrCallEnded
		}
		return fmt.Errorf("ua: cannot answer a call in state %s", st)
	}
	c.state = stateAnswering
	c.opts = opts
	tx, req, offer, d := c.inviteTx, c.invite, c.remoteOffer, c.d
	c.mu.Unlock()
	// RFC 3262 §3: the 2xx waits for the PRACK of our reliable 180.
	if err := c.awaitPRACK(tx); err != nil {
		return err
	}
	// The incoming INVITE holds the offer/answer token until its ACK.
	c.tok <- struct{}{}
	c.tokOwner.Store(ownerIn)

	if err := c.initMedia(); err != nil {
		c.releaseOffer()
		_ = tx.Respond(sip.NewResponse(req, sip.StatusServerInternalError, "Media Unavailable"))
		c.finish(EndInfo{Reason: "media: " + err.Error(), Status: sip.StatusServerInternalError})
		return err
	}
	var body []byte
	if offer != nil {
		answer, st, err := c.answerOffer(offer)
		if err != nil {
			c.releaseOffer()
			c.refuseOffer(tx, err)
			code := sip.StatusNotAcceptableHere
			c.finish(EndInfo{Reason: "no common media: " + err.Error(), Status: code})
			return &StatusError{Code: code, Reason: "Not Acceptable Here", Err: err}
		}
		if err := c.applyStream(st); err != nil {
			c.releaseOffer()
			_ = tx.Respond(sip.NewResponse(req, sip.StatusServerInternalError, "Media Unavailable"))
			c.finish(EndInfo{Reason: "media: " + err.Error(), Status: sip.StatusServerInternalError})
			return err
		}
		c.mu.Lock()
		c.localSDP, c.remoteSDP = answer, offer
		c.mu.Unlock()
		body = answer.Marshal()
	} else {
		// Offer in the 2xx, answer in the ACK (§13.2.1).
		off, err := sdp.BuildOffer(c.localDesc())
		if err != nil {
			c.releaseOffer()
			_ = tx.Respond(sip.NewResponse(req, sip.StatusServerInternalError, ""))
			c.finish(EndInfo{Reason: "sdp: " + err.Error(), Status: sip.StatusServerInternalError})
			return err
		}
		c.mu.Lock()
		c.localSDP = off
		c.mu.Unlock()
		body = off.Marshal()
	}
	resp := sip.NewResponse(req, sip.StatusOK, "")
	resp.SetToTag(d.ID().LocalTag)
	resp.CopyRecordRoute(req) // §12.1.1
	resp.Add("Contact", u.contactValue())
	resp.Add("Allow", allowed)
	resp.Add("Supported", supported)
	resp.Add("User-Agent", u.cfg.UserAgent)
	resp.Add("Content-Type", "application/sdp")
	resp.Body = body

	c.mu.Lock()
	if c.state != stateAnswering {
		c.mu.Unlock()
		c.releaseOffer()
		return ErrCallEnded
	}
	c.state = StateActive
	c.answeredAt = time.Now()
	c.mu.Unlock()
	d.Confirm()
	if err := tx.Respond(resp); err != nil {
		c.releaseOffer()
		c.finish(EndInfo{Reason: "2xx not sent: " + err.Error(), Status: sip.StatusServiceUnavailable})
		return err
	}
	cs, _ := req.CSeq()
	go func() {
		defer c.releaseOffer()
		if !c.await2xxAck(tx, resp, cs.Seq, offer == nil) {
			// §13.3.1.4: no ACK for 64*T1 — the dialog is confirmed but
			// the session is ended with BYE.
			_ = c.bye(context.Background(), EndInfo{Reason: "no ACK", Status: sip.StatusRequestTimeout})
		}
	}()
	c.gate.answered.Store(true)
	c.emit(Event{Kind: EventAnswered, Status: sip.StatusOK, Reason: "OK"})
	return nil
}

// Reject refuses an unanswered incoming call with code (e.g. 486, 603).
func (c *Call) Reject(code int, reason string) error {
	c.mu.Lock()
	if c.outgoing || c.state != StateRinging {
		c.mu.Unlock()
		return fmt.Errorf("ua: cannot reject a call in state %s", c.State())
	}
	c.state = stateAnswering
	tx, req, d := c.inviteTx, c.invite, c.d
	c.mu.Unlock()
	resp := sip.NewResponse(req, code, reason)
	resp.SetToTag(d.ID().LocalTag)
	err := tx.Respond(resp)
	c.finish(EndInfo{Reason: "rejected: " + sip.StatusText(code, resp.Reason), Status: code})
	return err
}

// await2xxAck retransmits a 2xx to an INVITE until the ACK for it arrives
// (§13.3.1.4): first after T1, doubling up to T2, for at most 64*T1. With
// lateOffer the ACK carries the answer to the offer in our 2xx. It reports
// whether the ACK came.
func (c *Call) await2xxAck(tx *transaction.ServerTx, resp *sip.Response, seq uint32, lateOffer bool) bool {
	cfg := c.u.txl.Config()
	w := &ackWait{seq: seq, ch: make(chan *sip.Request, 1)}
	c.mu.Lock()
	c.pendingAck = w
	c.mu.Unlock()
	interval := cfg.T1
	retransmit := time.NewTimer(interval)
	giveUp := time.NewTimer(64 * cfg.T1)
	defer retransmit.Stop()
	defer giveUp.Stop()
	for {
		select {
		case ack := <-w.ch:
			if lateOffer {
				if err := c.takeAnswer(ack.Body); err != nil {
					_ = c.bye(context.Background(), EndInfo{Reason: "media negotiation failed: " + err.Error(), Status: sip.StatusNotAcceptableHere})
				}
			}
			return true
		case <-retransmit.C:
			_ = tx.Respond(resp)
			interval = min(2*interval, cfg.T2)
			retransmit.Reset(interval)
		case <-giveUp.C:
			c.mu.Lock()
			if c.pendingAck == w {
				c.pendingAck = nil
			}
			c.mu.Unlock()
			return false
		case <-c.done:
			return true
		}
	}
}

// handleAck takes the ACK for the 2xx we are retransmitting.
func (c *Call) handleAck(ack *sip.Request) {
	cs, err := ack.CSeq()
	if err != nil {
		return
	}
	c.mu.Lock()
	w := c.pendingAck
	if w == nil || w.seq != cs.Seq {
		c.mu.Unlock()
		return // a retransmitted ACK
	}
	c.pendingAck = nil
	c.mu.Unlock()
	w.ch <- ack
}

// ---- re-INVITE and UPDATE ----

// Hold puts the far end on hold with a re-INVITE whose offer is sendonly
// (RFC 6337 §5.3): we keep sending, they stop.
func (c *Call) Hold(ctx context.Context) error {
	return c.reinvite(ctx, func(s *sdp.Session) { s.Hold() }, func() {
		c.mu.Lock()
		c.localHold = true
		c.mu.Unlock()
		c.emit(Event{Kind: EventHold})
	})
}

// Resume takes the far end off hold with a sendrecv re-offer.
func (c *Call) Resume(ctx context.Context) error {
	return c.reinvite(ctx, func(s *sdp.Session) { s.SetDirection(sdp.SendRecv) }, func() {
		c.mu.Lock()
		c.localHold = false
		c.mu.Unlock()
		c.emit(Event{Kind: EventResume})
	})
}

// Reinvite sends a re-INVITE with our current description re-offered
// (o= version incremented, RFC 3264 §8), e.g. to refresh the session.
func (c *Call) Reinvite(ctx context.Context) error {
	return c.reinvite(ctx, func(*sdp.Session) {}, func() {})
}

// reinvite runs one offer/answer exchange by re-INVITE (§14.1), retrying
// after 491 with the randomized delay §14.1 prescribes.
func (c *Call) reinvite(ctx context.Context, edit func(*sdp.Session), onOK func()) error {
	u := c.u
	for attempt := 0; ; attempt++ {
		req, offer, d, err := c.startOffer(ctx, sip.INVITE, edit)
		if err != nil {
			return err
		}
		resp, tx, err := c.inviteRoundTrip(req)
		if err != nil {
			c.releaseOffer()
			var se *StatusError
			if errors.As(err, &se) && se.Code == sip.StatusRequestTimeout {
				// §12.2.1.2: a timeout ends the dialog.
				_ = c.bye(context.Background(), EndInfo{Reason: "re-INVITE timed out", Status: se.Code})
			}
			return err
		}
		switch code := resp.StatusCode; {
		case code >= 200 && code < 300:
			cs, _ := req.CSeq()
			ack := d.NewACK(cs.Seq)
			u.addCommon(ack)
			u.stampVia(ack)
			_ = u.sendACK(ack)
			go c.absorb2xx(req, tx, ack)
			d.TargetRefresh(resp)
			ans, st, err := answerIn(offer, resp)
			if err != nil {
				c.releaseOffer()
				// §14.1: an unusable answer leaves the old session; the
				// far end already applied it, so the call cannot go on.
				_ = c.bye(context.Background(), EndInfo{Reason: "bad re-INVITE answer: " + err.Error(), Status: sip.StatusNotAcceptableHere})
				return err
			}
			return c.useAnswer(offer, ans, st, onOK)
		case code == sip.StatusRequestPending && attempt < 5:
			c.releaseOffer()
			if err := c.sleepGlare(ctx, d.IsUAC()); err != nil {
				return err
			}
		case code == sip.StatusCallTransactionDoesNotExist || code == sip.StatusRequestTimeout:
			c.releaseOffer()
			c.finish(EndInfo{Reason: "dialog gone: " + sip.StatusText(code, resp.Reason), Status: code, Remote: true})
			return statusOf(resp)
		default:
			// §14.1: any other failure leaves the session as it was.
			c.releaseOffer()
			return statusOf(resp)
		}
	}
}

// startOffer takes the call's offer/answer token and builds an in-dialog
// request of method carrying a re-offer of our description (o= version
// incremented, RFC 3264 §8) as edit shapes it: the common start of a
// re-INVITE (§14.1) and an UPDATE (RFC 3311 §5.1). On error the token is
// released.
func (c *Call) startOffer(ctx context.Context, method string, edit func(*sdp.Session)) (*sip.Request, *sdp.Session, *dialog.Dialog, error) {
	if err := c.acquireOffer(ctx); err != nil {
		return nil, nil, nil, err
	}
	c.mu.Lock()
	if c.state != StateActive || c.localSDP == nil {
		c.mu.Unlock()
		c.releaseOffer()
		return nil, nil, nil, ErrNotActive
	}
	offer := c.localSDP.Reoffer()
	d := c.d
	c.mu.Unlock()
	edit(offer)
	req, err := d.NewRequest(method)
	if err != nil {
		c.releaseOffer()
		return nil, nil, nil, err
	}
	c.u.addCommon(req)
	req.Add("Content-Type", "application/sdp")
	req.Body = offer.Marshal()
	return req, offer, d, nil
}

// useAnswer makes an accepted offer/answer exchange the session, applies
// it to the media and releases the offer token.
func (c *Call) useAnswer(offer, ans *sdp.Session, st sdp.Stream, onOK func()) error {
	c.mu.Lock()
	c.localSDP, c.remoteSDP = offer, ans
	c.mu.Unlock()
	err := c.applyStream(st)
	onOK()
	c.releaseOffer()
	return err
}

// sleepGlare waits the §14.1 back-off after a 491: 2.1–4 s when we own the
// Call-ID (we sent the initial INVITE), 0–2 s otherwise, in 10 ms units, so
// that the two sides retry at different times.
func (c *Call) sleepGlare(ctx context.Context, owner bool) error {
	var d time.Duration
	if owner {
		d = time.Duration(210+rand.IntN(191)) * 10 * time.Millisecond
	} else {
		d = time.Duration(rand.IntN(201)) * 10 * time.Millisecond
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return ErrCallEnded
	}
}

// inviteRoundTrip sends an INVITE within the dialog and waits for its
// final response, answering one round of challenges.
func (c *Call) inviteRoundTrip(req *sip.Request) (*sip.Response, *transaction.ClientTx, error) {
	u := c.u
	d := c.Dialog()
	for attempt := 0; ; attempt++ {
		// Background: a re-INVITE is not cancelled with the caller's
		// context; its answer must be ACKed in any case.
		tx, err := u.start(context.Background(), req)
		if err != nil {
			return nil, nil, err
		}
		resp, err := waitFinal(context.Background(), tx, nil)
		if err != nil {
			return nil, nil, err
		}
		if (resp.StatusCode == 401 || resp.StatusCode == 407) && attempt < 2 && u.cfg.Password != "" {
			if next, err := u.authorizedRetry(req, resp, d.NextCSeq); err == nil {
				req = next
				continue
			}
		}
		return resp, tx, nil
	}
}

func (c *Call) acquireOffer(ctx context.Context) error {
	select {
	case c.tok <- struct{}{}:
		c.tokOwner.Store(ownerOut)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return ErrCallEnded
	}
}

func (c *Call) releaseOffer() {
	c.tokOwner.Store(ownerNone)
	<-c.tok
}

// handleReinvite answers the far end's re-INVITE (§14.2): 491 when ours is
// in progress (glare, §14.1), 500 with Retry-After when another of theirs
// is, else an answer applied to the media at once.
func (c *Call) handleReinvite(tx *transaction.ServerTx) {
	u := c.u
	if h := u.beforeReinvite.Load(); h != nil {
		(*h)(c)
	}
	req := tx.Request()
	if c.State() != StateActive {
		u.respond(tx, sip.StatusRequestPending, "")
		return
	}
	select {
	case c.tok <- struct{}{}:
		c.tokOwner.Store(ownerIn)
	default:
		if c.tokOwner.Load() == ownerOut {
			u.respond(tx, sip.StatusRequestPending, "")
			return
		}
		resp := sip.NewResponse(req, sip.StatusServerInternalError, "Request Pending")
		resp.Add("Retry-After", strconv.Itoa(rand.IntN(11)))
		_ = tx.Respond(resp)
		return
	}
	c.mu.Lock()
	d := c.d
	c.mu.Unlock()
	d.TargetRefresh(req)

	var body []byte
	late := len(req.Body) == 0
	if !late {
		offer, err := sdp.Parse(req.Body)
		if err != nil {
			c.releaseOffer()
			u.respond(tx, sip.StatusBadRequest, "Bad Session Description")
			return
		}
		answer, st, err := c.answerOffer(offer)
		if err != nil {
			c.releaseOffer()
			c.refuseOffer(tx, err) // the session stays as it was (§14.2)
			return
		}
		c.mu.Lock()
		c.localSDP, c.remoteSDP = answer, offer
		c.mu.Unlock()
		c.applyRemoteOffer(st)
		body = answer.Marshal()
	} else {
		c.mu.Lock()
		off := c.localSDP.Reoffer()
		if c.localHold {
			off.Hold()
		} else {
			off.SetDirection(sdp.SendRecv)
		}
		c.localSDP = off
		c.mu.Unlock()
		body = off.Marshal()
	}
	resp := sip.NewResponse(req, sip.StatusOK, "")
	resp.Add("Contact", u.contactValue())
	resp.Add("Allow", allowed)
	resp.Add("Content-Type", "application/sdp")
	resp.Body = body
	if err := tx.Respond(resp); err != nil {
		c.releaseOffer()
		return
	}
	cs, _ := req.CSeq()
	go func() {
		defer c.releaseOffer()
		c.await2xxAck(tx, resp, cs.Seq, late)
	}()
}

// applyRemoteOffer applies a stream negotiated from the far end's offer
// and reports hold changes: a far end that will not receive our media has
// put us on hold (RFC 6337), and we stop sending.
func (c *Call) applyRemoteOffer(st sdp.Stream) {
	if err := c.applyStream(st); err != nil {
		c.u.log.Warn("media update failed", "err", err)
	}
	held := !st.RemoteDirection.Receives()
	c.mu.Lock()
	was := c.remoteHold
	c.remoteHold = held
	c.mu.Unlock()
	switch {
	case held && !was:
		c.emit(Event{Kind: EventRemoteHold})
	case !held && was:
		c.emit(Event{Kind: EventRemoteResume})
	}
}

// answerOffer builds our answer to offer (RFC 3264 §6) with our codecs,
// continuing our o= line: the version goes up only when the description
// changed (§8).
func (c *Call) answerOffer(offer *sdp.Session) (*sdp.Session, sdp.Stream, error) {
	local := c.localDesc()
	answer, streams, err := sdp.BuildAnswer(offer, local)
	if err != nil {
		return nil, sdp.Stream{}, err
	}
	st, ok := audioStream(streams)
	if !ok {
		return nil, sdp.Stream{}, &sdp.NegotiationError{Code: 488, Reason: "Not Acceptable Here", Warning: 304, Text: "no audio stream offered"}
	}
	c.mu.Lock()
	prev := c.localSDP
	c.mu.Unlock()
	if prev != nil {
		same := answer.Clone()
		same.Origin.SessionVersion = prev.Origin.SessionVersion
		if bytes.Equal(same.Marshal(), prev.Marshal()) {
			answer = same
		}
	}
	return answer, st, nil
}

// refuseOffer answers an offer we cannot take: 488 with a Warning naming
// why (§20.43), or the status the negotiation error carries.
func (c *Call) refuseOffer(tx *transaction.ServerTx, err error) {
	code, reason, warn, text := sip.StatusNotAcceptableHere, "", 305, err.Error()
	var ne *sdp.NegotiationError
	if errors.As(err, &ne) {
		code, reason, warn, text = ne.Code, ne.Reason, ne.Warning, ne.Text
	}
	resp := sip.NewResponse(tx.Request(), code, reason)
	if tx.Request().ToTag() == "" {
		resp.SetToTag(c.Dialog().ID().LocalTag)
	}
	resp.Add("Warning", strconv.Itoa(warn)+" "+c.u.host+" "+sip.Quote(text))
	_ = tx.Respond(resp)
}

// ---- media ----

// localDesc is what we can do, as sdp.BuildOffer and BuildAnswer take it:
// our codecs and telephone-event on the call's RTP port, continuing our
// o= line within the call.
func (c *Call) localDesc() *sdp.Local {
	c.mu.Lock()
	defer c.mu.Unlock()
	port := 0
	if c.media != nil {
		port = int(c.media.LocalAddr().Port())
	}
	l := &sdp.Local{
		Address: c.u.mediaIP,
		Media: []sdp.LocalMedia{{
			Type: "audio", Port: port, Codecs: c.u.codecs,
			TelephoneEvent: true, Ptime: 20 * time.Millisecond,
		}},
	}
	if c.localSDP != nil {
		l.Username = c.localSDP.Origin.Username
		l.SessionID = c.localSDP.Origin.SessionID
		l.SessionVersion = c.localSDP.Origin.SessionVersion + 1
	}
	if c.localHold {
		l.Direction = sdp.SendOnly
	}
	return l
}

// initMedia opens the call's RTP session with our preferred codec; the
// negotiation may later replace it on the same port with another codec.
func (c *Call) initMedia() error {
	first := c.u.codecs[0]
	codec, err := media.CodecByName(first.Name, first.PayloadType)
	if err != nil {
		return err
	}
	m, err := c.newMediaSession(codec, 101, 0)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == StateEnded {
		m.Close()
		return ErrCallEnded
	}
	c.media, c.dtmfPT = m, 101
	c.attach(m)
	return nil
}

func (c *Call) newMediaSession(codec media.Codec, dtmfPT uint8, port int) (*media.Session, error) {
	cfg := media.Config{
		LocalAddr:       c.u.mediaBind,
		PortMin:         c.u.cfg.MediaPortMin,
		PortMax:         c.u.cfg.MediaPortMax,
		Codec:           codec,
		DTMFPayloadType: dtmfPT,
		// Symmetric RTP (RFC 4961): answer to where the far end's packets
		// come from, which gets media through a NAT in front of it.
		Symmetric: true,
		OnDTMF: func(ev media.DTMFEvent) {
			c.emit(Event{Kind: EventDTMF, Digit: ev.Digit})
		},
	}
	if port != 0 {
		// The same port again: RTP on it, RTCP on the odd one above.
		cfg.PortMin, cfg.PortMax = port, port+1
	}
	return media.NewSession(cfg)
}

// attach connects the call's source (through the hold gate) and sink to
// a media session; c.mu is held.
func (c *Call) attach(m *media.Session) {
	src := c.opts.Play
	if src == nil {
		src = media.NewSilence(8000, 0)
	}
	c.gate.setSource(src)
	m.Play(&c.gate)
	if c.opts.Record != nil {
		m.Record(c.opts.Record)
	} else {
		m.Record(media.Discard)
	}
}

// applyStream points the media session at a negotiated stream: the codec
// (re-opening the session on the same port when it changed), where to
// send, and whether to send at all (hold).
func (c *Call) applyStream(st sdp.Stream) error {
	codec, err := media.CodecByName(st.Codec.Name, st.Codec.PayloadType)
	if err != nil {
		return err
	}
	dtmf := uint8(101)
	if st.TelephoneEvent != nil {
		dtmf = st.TelephoneEvent.PayloadType
	}
	if dtmf == codec.PayloadType() {
		dtmf = 102
	}
	c.mu.Lock()
	m := c.media
	if c.state == StateEnded {
		c.mu.Unlock()
		return ErrCallEnded
	}
	need := m == nil || m.Codec().PayloadType() != codec.PayloadType() || !strings.EqualFold(m.Codec().Name(), codec.Name()) || c.dtmfPT != dtmf
	port := 0
	if m != nil {
		port = int(m.LocalAddr().Port())
	}
	c.mu.Unlock()
	if need {
		if m != nil {
			m.Close()
		}
		nm, err := c.newMediaSession(codec, dtmf, port)
		if err != nil {
			return err
		}
		c.mu.Lock()
		if c.state == StateEnded {
			c.mu.Unlock()
			nm.Close()
			return ErrCallEnded
		}
		c.media, c.dtmfPT, c.remoteRTP = nm, dtmf, netip.AddrPort{}
		c.attach(nm)
		c.mu.Unlock()
		m = nm
	}
	remote := st.RemoteAddr
	if !remote.IsValid() && st.RemoteHost != "" && st.RemotePort != 0 {
		if ap, err := transport.Resolve(st.RemoteHost, st.RemotePort, "UDP"); err == nil {
			remote = ap
		}
	}
	// c=0.0.0.0 is the RFC 2543 way of putting a stream on hold.
	blackhole := !remote.IsValid() || remote.Addr().IsUnspecified() || st.Rejected
	c.mu.Lock()
	if !blackhole && remote != c.remoteRTP {
		c.remoteRTP = remote
		m.SetRemote(remote, netip.AddrPort{})
	}
	c.stream = st
	c.te = st.TelephoneEvent != nil
	c.mu.Unlock()
	c.gate.send.Store(st.Direction.Sends() && !blackhole)
	return nil
}

// SendDTMF sends digits as RFC 4733 telephone events (100 ms each).
func (c *Call) SendDTMF(ctx context.Context, digits string) error {
	c.mu.Lock()
	m, te, st := c.media, c.te, c.state
	c.mu.Unlock()
	if st != StateActive || m == nil {
		return ErrNotActive
	}
	if !te {
		return errors.New("ua: the far end did not agree to telephone-event")
	}
	return m.SendDTMF(ctx, digits, 100*time.Millisecond)
}

// gate is the call's Source: the application's source, silenced while the
// call is not answered or the negotiated direction says we must not send
// (hold). Muting by ErrSilent keeps the RTP clock running, so the stream
// resumes without a timestamp jump.
type gate struct {
	mu       sync.Mutex
	src      media.Source
	answered atomic.Bool
	send     atomic.Bool
}

func (g *gate) setSource(s media.Source) {
	g.mu.Lock()
	g.src = s
	g.mu.Unlock()
}

func (g *gate) ReadFrame(frame []int16) error {
	if !g.answered.Load() || !g.send.Load() {
		return media.ErrSilent
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.src.ReadFrame(frame)
}

// ---- ending ----

// Hangup ends the call: BYE when answered (§15.1.1), CANCEL when our
// INVITE is unanswered (§9.1; Dial then returns 487), 603 Decline when an
// incoming call is unanswered. It waits for the BYE's response at most until
// ctx ends.
func (c *Call) Hangup(ctx context.Context) error {
	c.mu.Lock()
	st, cancel := c.state, c.cancelDial
	c.mu.Unlock()
	switch {
	case st == StateEnded:
		return nil
	case st == StateActive:
		return c.bye(ctx, EndInfo{Reason: "local hangup"})
	case c.outgoing:
		cancel()
		select {
		case <-c.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	case st == StateRinging:
		return c.Reject(sip.StatusDecline, "")
	}
	// Answering right now: wait until that settles, then hang up.
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(50 * time.Millisecond):
		return c.Hangup(ctx)
	}
}

// bye ends an answered call with BYE: the media stops at once, the BYE's
// response is awaited until ctx ends.
func (c *Call) bye(ctx context.Context, info EndInfo) error {
	d := c.Dialog()
	if d == nil {
		c.finish(info)
		return nil
	}
	req, err := d.NewRequest(sip.BYE)
	c.finish(info)
	if err != nil {
		return nil // the dialog had already ended
	}
	c.u.addCommon(req)
	_, err = c.u.do(ctx, req, d.NextCSeq)
	return err
}

// finish ends the call once: media closed (its statistics kept), dialog
// removed, Done closed, EventEnded reported.
func (c *Call) finish(info EndInfo) {
	c.mu.Lock()
	if c.state == StateEnded {
		c.mu.Unlock()
		return
	}
	c.state = StateEnded
	c.end = info
	m, d := c.media, c.d
	c.mu.Unlock()
	if m != nil {
		m.Close()
		st := m.Stats()
		c.mu.Lock()
		c.stats = st
		c.media = nil
		c.mu.Unlock()
	}
	if d != nil {
		d.Terminate()
		c.u.dialogs.Remove(d)
	}
	c.u.removeCall(c)
	close(c.done)
	c.emit(Event{Kind: EventEnded, Status: info.Status, Reason: info.Reason})
}

// ---- helpers ----

func isSDP(contentType string, body []byte) bool {
	if len(body) == 0 {
		return false
	}
	ct, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(ct), "application/sdp")
}

func audioStream(streams []sdp.Stream) (sdp.Stream, bool) {
	for _, s := range streams {
		if s.Type == "audio" && !s.Rejected {
			return s, true
		}
	}
	return sdp.Stream{}, false
}
