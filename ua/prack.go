package ua

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/parley-sip/parley/dialog"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
)

// Reliable provisional responses and PRACK (RFC 3262).

// rack is the value of an RAck header (RFC 3262 §7.2): the RSeq of the
// response acknowledged and the CSeq of the request it answered.
type rack struct {
	rseq   uint32
	seq    uint32
	method string
}

func (r rack) String() string {
	return strconv.FormatUint(uint64(r.rseq), 10) + " " + strconv.FormatUint(uint64(r.seq), 10) + " " + r.method
}

func parseRAck(v string) (rack, error) {
	f := strings.Fields(v)
	if len(f) != 3 {
		return rack{}, fmt.Errorf("bad RAck %q", v)
	}
	rs, err1 := strconv.ParseUint(f[0], 10, 32)
	seq, err2 := strconv.ParseUint(f[1], 10, 32)
	if err1 != nil || err2 != nil || rs == 0 {
		return rack{}, fmt.Errorf("bad RAck %q", v)
	}
	return rack{rseq: uint32(rs), seq: uint32(seq), method: strings.ToUpper(f[2])}, nil
}

// rseqOf returns the RSeq of a reliable provisional response (Require:
// 100rel and a valid RSeq, RFC 3262 §7.1), or false for an ordinary one.
func rseqOf(resp *sip.Response) (uint32, bool) {
	if resp.StatusCode <= 100 || resp.StatusCode >= 200 || !resp.HasOption("Require", "100rel") {
		return 0, false
	}
	v, ok := resp.Get("RSeq")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
	if err != nil || n == 0 || n >= 1<<31 {
		return 0, false
	}
	return uint32(n), true
}

// ---- UAC ----

// acceptReliable decides about a reliable provisional response of the
// early dialog d (RFC 3262 §4): the first one, or the one whose RSeq is one
// above the last, is new and to be PRACKed; a retransmission (RSeq not
// above the last) or one out of order is absorbed. c.mu is held.
func (c *Call) acceptReliableLocked(rseq uint32) bool {
	if c.rseqSet && rseq != c.rseqLast+1 {
		return false
	}
	c.rseqLast, c.rseqSet = rseq, true
	return true
}

// sendPRACK acknowledges a reliable provisional response with a PRACK of
// its own in the early dialog (RFC 3262 §7.2), run as a non-INVITE client
// transaction whose retransmissions cover a lost PRACK.
func (c *Call) sendPRACK(d *dialog.Dialog, ack rack) {
	u := c.u
	req, err := d.NewRequest(sip.PRACK)
	if err != nil {
		return
	}
	u.addCommon(req)
	req.Add("RAck", ack.String())
	ctx, cancel := context.WithTimeout(context.Background(), 64*u.txl.Config().T1)
	defer cancel()
	if _, err := u.do(ctx, req, d.NextCSeq); err != nil {
		u.log.Warn("PRACK failed", "rack", ack.String(), "err", err)
	}
}

// ---- UAS ----

// reliableProv is a reliable provisional response we sent and retransmit
// until its PRACK comes (RFC 3262 §3).
type reliableProv struct {
	resp   *sip.Response
	rseq   uint32
	seq    uint32        // CSeq number of the INVITE
	acked  chan struct{} // closed when the PRACK came
	failed bool          // no PRACK within 64*T1
}

// wantsReliable says whether our provisional responses to req go reliably.
func (u *UA) wantsReliable(req *sip.Request) bool {
	return req.HasOption("Require", "100rel") ||
		(u.cfg.Reliable18x && req.HasOption("Supported", "100rel"))
}

// sendReliable sends a provisional response reliably (RFC 3262 §3):
// Require: 100rel and the next RSeq (the first one random below 2^31),
// retransmitted from T1 on, doubling, until the PRACK comes. After 64*T1
// without one the INVITE is refused with 500 and the call ends. A second
// reliable provisional waits for the PRACK of the first (§3).
func (c *Call) sendReliable(tx *transaction.ServerTx, resp *sip.Response) error {
	c.mu.Lock()
	if p := c.rel; p != nil {
		c.mu.Unlock()
		select {
		case <-p.acked:
		case <-c.done:
			return ErrCallEnded
		}
		c.mu.Lock()
	}
	if c.rseq == 0 {
		c.rseq = uint32(rand.IntN(1<<30)) + 1 // room to count up below 2^31
	} else {
		c.rseq++
	}
	cs, _ := c.invite.CSeq()
	p := &reliableProv{resp: resp, rseq: c.rseq, seq: cs.Seq, acked: make(chan struct{})}
	c.rel = p
	c.mu.Unlock()
	resp.Set("Require", "100rel")
	resp.Set("RSeq", strconv.FormatUint(uint64(p.rseq), 10))
	if err := tx.Respond(resp); err != nil {
		return err
	}
	go c.retransmitReliable(tx, p)
	return nil
}

func (c *Call) retransmitReliable(tx *transaction.ServerTx, p *reliableProv) {
	t1 := c.u.txl.Config().T1
	interval := t1
	retransmit := time.NewTimer(interval)
	giveUp := time.NewTimer(64 * t1)
	defer retransmit.Stop()
	defer giveUp.Stop()
	for {
		select {
		case <-p.acked:
			return
		case <-c.done:
			return
		case <-tx.Done():
			return
		case <-retransmit.C:
			if err := tx.Respond(p.resp); err != nil {
				return // a final response went out meanwhile
			}
			interval *= 2
			retransmit.Reset(interval)
		case <-giveUp.C:
			c.mu.Lock()
			if c.rel != p || (c.state != StateRinging && c.state != stateAnswering) {
				c.mu.Unlock()
				return
			}
			p.failed = true
			c.state = stateAnswering // claimed: Answer now fails
			c.mu.Unlock()
			resp := sip.NewResponse(tx.Request(), sip.StatusServerInternalError, "Provisional Response Not Acknowledged")
			resp.SetToTag(c.Dialog().ID().LocalTag)
			_ = tx.Respond(resp)
			c.finish(EndInfo{Reason: "no PRACK for a reliable provisional response", Status: sip.StatusServerInternalError})
			return
		}
	}
}

// errNoPRACK is Answer's error when the reliable 180 was never PRACKed.
var errNoPRACK = errors.New("ua: no PRACK for the reliable provisional response")

// awaitPRACK waits before the 2xx to the INVITE until the reliable
// provisional response in flight is acknowledged (RFC 3262 §3 requires it
// when the provisional carried a session description; we always wait, so
// the PRACK is answered before the 2xx). A CANCEL meanwhile ends the call
// with 487.
func (c *Call) awaitPRACK(tx *transaction.ServerTx) error {
	c.mu.Lock()
	p := c.rel
	c.mu.Unlock()
	if p == nil {
		return nil
	}
	select {
	case <-p.acked:
		return nil
	case <-tx.Cancelled():
		_ = tx.RespondRequestTerminated()
		c.finish(EndInfo{Reason: "cancelled", Status: sip.StatusRequestTerminated, Remote: true})
		return ErrCallEnded
	case <-c.done:
		c.mu.Lock()
		failed := p.failed
		c.mu.Unlock()
		if failed {
			return errNoPRACK
		}
		return ErrCallEnded
	}
}

// handlePrack answers a PRACK (RFC 3262 §3): 200 when its RAck names the
// reliable provisional response awaiting acknowledgement, 481 otherwise.
// A body in the PRACK is not taken as an offer or answer: our reliable
// provisionals carry no session description.
func (c *Call) handlePrack(tx *transaction.ServerTx) {
	req := tx.Request()
	v, _ := req.Get("RAck")
	ack, err := parseRAck(v)
	if err != nil {
		c.u.respond(tx, sip.StatusBadRequest, "Bad RAck")
		return
	}
	c.mu.Lock()
	p := c.rel
	match := p != nil && p.rseq == ack.rseq && p.seq == ack.seq && ack.method == sip.INVITE
	if match {
		c.rel = nil
		close(p.acked)
	}
	c.mu.Unlock()
	if !match {
		c.u.respond(tx, sip.StatusCallTransactionDoesNotExist, "")
		return
	}
	c.u.respond(tx, sip.StatusOK, "")
}
