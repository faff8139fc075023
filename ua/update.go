package ua

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/parley-sip/parley/sdp"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
)

// UPDATE (RFC 3311).

// Update sends an UPDATE with our current description re-offered (o=
// version incremented, RFC 3264 §8) in the answered call's dialog, and
// applies the answer in its 2xx: a session refresh without a re-INVITE.
// A 491 (the far end's offer crossed ours) is retried after the §14.1
// randomized delay, as for re-INVITE (RFC 3311 §5.1).
func (c *Call) Update(ctx context.Context) error {
	return c.update(ctx, func(*sdp.Session) {}, func() {})
}

// HoldByUpdate is Hold by UPDATE instead of re-INVITE: a sendonly offer
// (RFC 6337 §5.3), after which the far end stops sending.
func (c *Call) HoldByUpdate(ctx context.Context) error {
	return c.update(ctx, func(s *sdp.Session) { s.Hold() }, func() { c.setLocalHold(true) })
}

// ResumeByUpdate is Resume by UPDATE: a sendrecv re-offer.
func (c *Call) ResumeByUpdate(ctx context.Context) error {
	return c.update(ctx, func(s *sdp.Session) { s.SetDirection(sdp.SendRecv) }, func() { c.setLocalHold(false) })
}

func (c *Call) setLocalHold(hold bool) {
	c.mu.Lock()
	c.localHold = hold
	c.mu.Unlock()
	if hold {
		c.emit(Event{Kind: EventHold})
	} else {
		c.emit(Event{Kind: EventResume})
	}
}

// update runs one offer/answer exchange by UPDATE. It holds the call's
// offer/answer token while the offer is out, so that an offer arriving
// meanwhile gets 491 (RFC 3311 §5.2) and our own re-INVITEs wait.
func (c *Call) update(ctx context.Context, edit func(*sdp.Session), onOK func()) error {
	u := c.u
	for attempt := 0; ; attempt++ {
		req, offer, d, err := c.startOffer(ctx, sip.UPDATE, edit)
		if err != nil {
			return err
		}
		resp, err := u.do(ctx, req, d.NextCSeq)
		if err != nil {
			c.releaseOffer()
			var se *StatusError
			if !errors.As(err, &se) {
				return err
			}
			switch {
			case se.Code == sip.StatusRequestPending && se.Response != nil && attempt < 5:
				if err := c.sleepGlare(ctx, d.IsUAC()); err != nil {
					return err
				}
				continue
			case se.Code == sip.StatusCallTransactionDoesNotExist && se.Response != nil:
				c.finish(EndInfo{Reason: "dialog gone: " + sip.StatusText(se.Code, se.Reason), Status: se.Code, Remote: true})
			case se.Code == sip.StatusRequestTimeout:
				// §12.2.1.2: a timeout ends the dialog.
				_ = c.bye(context.Background(), EndInfo{Reason: "UPDATE timed out", Status: se.Code})
			}
			// §14.1 and RFC 3311 §5.1: any other failure leaves the
			// session as it was.
			return err
		}
		d.TargetRefresh(resp)
		ans, st, err := answerIn(offer, resp)
		if err != nil {
			c.releaseOffer()
			// The far end applied its answer; we cannot use it.
			_ = c.bye(context.Background(), EndInfo{Reason: "bad UPDATE answer: " + err.Error(), Status: sip.StatusNotAcceptableHere})
			return err
		}
		return c.useAnswer(offer, ans, st, onOK)
	}
}

// answerIn takes the answer to offer from a 2xx.
func answerIn(offer *sdp.Session, resp *sip.Response) (*sdp.Session, sdp.Stream, error) {
	if !isSDP(resp.ContentType(), resp.Body) {
		return nil, sdp.Stream{}, fmt.Errorf("%w: 2xx without an answer", sdp.ErrBadAnswer)
	}
	ans, err := sdp.Parse(resp.Body)
	if err != nil {
		return nil, sdp.Stream{}, err
	}
	streams, err := sdp.ProcessAnswer(offer, ans)
	if err != nil {
		return nil, sdp.Stream{}, err
	}
	st, ok := audioStream(streams)
	if !ok {
		return nil, sdp.Stream{}, fmt.Errorf("%w: audio stream rejected", sdp.ErrBadAnswer)
	}
	return ans, st, nil
}

// handleUpdate answers an UPDATE (RFC 3311 §5.2): a target refresh, with
// an offer answered in the 200 when it carries one. An offer while ours is
// out (our UPDATE or re-INVITE, or our INVITE's offer still unanswered in
// an early dialog) gets 491; one while the far end's offer is still being
// answered by us (their re-INVITE in progress, or their INVITE not yet
// answered) gets 500 with a Retry-After of 0-10 s.
func (c *Call) handleUpdate(tx *transaction.ServerTx) {
	u := c.u
	if h := u.beforeUpdate.Load(); h != nil {
		(*h)(c)
	}
	req := tx.Request()
	offered := len(req.Body) > 0
	if offered && !isSDP(req.ContentType(), req.Body) {
		resp := sip.NewResponse(req, sip.StatusUnsupportedMediaType, "")
		resp.Add("Accept", "application/sdp")
		_ = tx.Respond(resp)
		return
	}
	if offered {
		select {
		case c.tok <- struct{}{}:
			c.tokOwner.Store(ownerIn)
		default:
			if c.tokOwner.Load() == ownerOut {
				u.respond(tx, sip.StatusRequestPending, "")
			} else {
				retryLater(tx)
			}
			return
		}
		defer c.releaseOffer()
		c.mu.Lock()
		st, outgoing, answerFinal := c.state, c.outgoing, c.answerFinal
		c.mu.Unlock()
		if st != StateActive {
			switch {
			case outgoing && !answerFinal:
				// Early: our INVITE's offer awaits its (reliable) answer.
				u.respond(tx, sip.StatusRequestPending, "")
				return
			case !outgoing:
				// Early: the INVITE's offer awaits our answer.
				retryLater(tx)
				return
			}
		}
	}
	d := c.Dialog()
	d.TargetRefresh(req)
	resp := sip.NewResponse(req, sip.StatusOK, "")
	resp.Add("Contact", u.contactValue())
	if offered {
		offer, err := sdp.Parse(req.Body)
		if err != nil {
			u.respond(tx, sip.StatusBadRequest, "Bad Session Description")
			return
		}
		answer, st, err := c.answerOffer(offer)
		if err != nil {
			c.refuseOffer(tx, err) // the session stays as it was
			return
		}
		c.mu.Lock()
		c.localSDP, c.remoteSDP = answer, offer
		c.mu.Unlock()
		c.applyRemoteOffer(st)
		resp.Add("Content-Type", "application/sdp")
		resp.Body = answer.Marshal()
	}
	_ = tx.Respond(resp)
}

// retryLater answers 500 with a random Retry-After of 0-10 s (RFC 3311
// §5.2, RFC 3261 §14.2).
func retryLater(tx *transaction.ServerTx) {
	resp := sip.NewResponse(tx.Request(), sip.StatusServerInternalError, "Request Pending")
	resp.Add("Retry-After", strconv.Itoa(rand.IntN(11)))
	_ = tx.Respond(resp)
}
