package proxy

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
	"github.com/parley-sip/parley/transport"
)

// rcontext is the response context of one proxied request (§16.7): its
// branches, the final responses collected so far, and whether the answer
// has gone upstream. Everything in it is guarded by mu; the branches'
// response callbacks and the caller's CANCEL (both on transport reader or
// timer goroutines) only ever act through its methods.
type rcontext struct {
	p      *Proxy
	stx    *transaction.ServerTx
	in     *sip.Request // the request as received; responses we make answer it
	base   *sip.Request // after §16.4 and Max-Forwards: what every branch copies
	hash   string       // loop-detection part of our branches
	invite bool

	mu        sync.Mutex
	groups    [][]Target // by q, highest first
	next      int        // the next group to start
	branches  []*branch
	pending   int             // branches without a final response
	finals    []*sip.Response // their non-2xx finals, our Via removed
	finalSent bool            // a final response went upstream
	stop      bool            // no new branches: 2xx, 6xx or CANCEL (§16.7 steps 5, 10)
	cancelled bool            // the caller cancelled (§16.10)
}

// branch is one forwarded copy and its client transaction: one attempt
// at one next hop. When it fails over to the next hop (RFC 3263 §4.3) it
// is marked final without being counted, and a new branch for the same
// target takes its place in the pending count.
type branch struct {
	tx          *transaction.ClientTx
	provisional bool // a 1xx came: a CANCEL can be sent (§9.1)
	ringing     bool // a 1xx other than 100 came: the request reached a UA
	final       bool // counted as done: final response, failure, or abandoned

	t    *Target
	pre  *sip.Request     // the copy for t, before Via and Record-Route
	dst  transport.Addr   // the next hop of this attempt
	hops []transport.Addr // the next hops left to fail over to
}

func newContext(p *Proxy, stx *transaction.ServerTx, base *sip.Request, hash string) *rcontext {
	in := stx.Request()
	return &rcontext{
		p: p, stx: stx, in: in, base: base, hash: hash,
		invite: in.Method == sip.INVITE,
	}
}

// start forks to the first q group, and for an INVITE has the caller's
// CANCEL reach it.
func (rc *rcontext) start(ts []Target) {
	sortTargets(ts)
	rc.mu.Lock()
	rc.groups = groups(ts)
	rc.advanceLocked()
	watch := rc.invite && !rc.finalSent
	rc.mu.Unlock()
	if watch {
		rc.stx.OnCancel(rc.callerCancelled)
	}
}

// advanceLocked moves the search on once no branch is pending: the next q
// group if the search may go on, else the best response upstream.
func (rc *rcontext) advanceLocked() {
	for !rc.finalSent && rc.pending == 0 {
		if !rc.stop && rc.next < len(rc.groups) {
			g := rc.groups[rc.next]
			rc.next++
			for i := range g {
				rc.startBranchLocked(&g[i])
			}
			continue
		}
		rc.sendBestLocked()
	}
}

func (rc *rcontext) startBranchLocked(t *Target) {
	b := &branch{t: t}
	rc.branches = append(rc.branches, b)
	rc.pending++
	pre, hops, err := rc.p.branchRequest(rc.base, t, true)
	if errors.Is(err, errWouldBlock) {
		// A name to resolve: not here, where a transport reader may
		// be running us.
		rc.p.live.Add(1)
		go rc.startBranchSlow(b)
		return
	}
	if err != nil {
		rc.sendBranchLocked(b, nil, transport.Addr{}, err)
		return
	}
	b.pre = pre
	rc.attemptLocked(b, hops)
}

// startBranchSlow starts a branch whose next hop needs a DNS lookup, on a
// goroutine of its own.
func (rc *rcontext) startBranchSlow(b *branch) {
	defer rc.p.live.Add(-1)
	pre, hops, err := rc.p.branchRequest(rc.base, b.t, false)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	switch {
	case rc.stop:
		// Answered, 6xx'd or cancelled meanwhile (§16.7 step 10): the
		// branch never went out, and counts as cancelled.
		rc.failLocked(b, sip.StatusRequestTerminated)
	case err != nil:
		rc.sendBranchLocked(b, nil, transport.Addr{}, err)
	default:
		b.pre = pre
		rc.attemptLocked(b, hops)
	}
	rc.advanceLocked()
}

// attemptLocked sends branch b to hops[0], keeping the rest of hops to
// fail over to. A hop that needs a connection opened is tried on a
// goroutine of its own.
func (rc *rcontext) attemptLocked(b *branch, hops []transport.Addr) {
	dst := hops[0]
	b.dst, b.hops = dst, hops[1:]
	out, err := rc.p.branchFor(b.pre, rc.in, b.t, rc.hash, dst)
	if err == nil && !rc.p.tp.Ready(out, dst) {
		rc.p.live.Add(1)
		go rc.sendBranchSlow(b, out, dst)
		return
	}
	rc.sendBranchLocked(b, out, dst, err)
}

// sendBranchSlow sends a branch whose next hop needs a new connection.
func (rc *rcontext) sendBranchSlow(b *branch, out *sip.Request, dst transport.Addr) {
	defer rc.p.live.Add(-1)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.stop {
		rc.failLocked(b, sip.StatusRequestTerminated)
	} else {
		rc.sendBranchLocked(b, out, dst, nil)
	}
	rc.advanceLocked()
}

// sendBranchLocked starts the client transaction of a branch whose request
// and next hop are built (or failed to be: err).
func (rc *rcontext) sendBranchLocked(b *branch, out *sip.Request, dst transport.Addr, err error) {
	if err == nil {
		// The context's own lifetime rules the branch (Cancel), not a
		// Go context. Responses are relayed on the goroutine that
		// receives them: no goroutine per branch to wake.
		rc.p.live.Add(1)
		b.tx, err = rc.p.txl.RequestFunc(context.Background(), out, dst, func(resp *sip.Response) {
			if resp != nil {
				rc.onResponse(b, resp)
				return
			}
			rc.ended(b)
		})
		if err != nil {
			rc.p.live.Add(-1)
		}
	}
	if err != nil {
		rc.p.debug("branch failed", rc.in, "target", b.t.URI.String(), "dst", dst.String(), "err", err)
		if rc.failoverLocked(b, 0) {
			return
		}
		// §16.9: a transport failure counts as a 503 from the branch.
		rc.failLocked(b, sip.StatusServiceUnavailable)
		return
	}
	rc.p.debug("forwarded", rc.in, "target", b.t.URI.String(), "dst", dst.String())
}

// failoverLocked is RFC 3263 §4.3: the attempt b failed (a transport
// error, a timeout without any response, or a 503), so the same target is
// tried at the next address of its list, if there is one and the search
// goes on. The new attempt takes b's place among the pending branches.
func (rc *rcontext) failoverLocked(b *branch, downFor time.Duration) bool {
	if b.dst.AddrPort.IsValid() {
		rc.p.down.mark(b.dst, downFor)
	}
	if len(b.hops) == 0 || rc.stop || rc.finalSent {
		return false
	}
	b.final = true // not counted: nb inherits b's pending
	nb := &branch{t: b.t, pre: b.pre}
	rc.branches = append(rc.branches, nb)
	rc.p.debug("failing over", rc.in, "target", b.t.URI.String(), "next", b.hops[0].String())
	rc.attemptLocked(nb, b.hops)
	return true
}

// ended is told that a branch's transaction will relay nothing more.
func (rc *rcontext) ended(b *branch) {
	defer rc.p.live.Add(-1)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	err := b.tx.Err()
	if !b.final {
		// No final response: timer B or C without a provisional gives
		// 408 (§16.8), a transport error 503 (§16.9).
		code := sip.StatusServiceUnavailable
		if errors.Is(err, transaction.ErrTimeout) {
			code = sip.StatusRequestTimeout
		}
		// Nothing at all came back: the next address, if any
		// (RFC 3263 §4.3). A provisional response means the hop is
		// alive, and its silence is the callee's.
		if !b.provisional && rc.failoverLocked(b, 0) {
			return
		}
		rc.failLocked(b, code)
		rc.advanceLocked()
	}
}

// retryAfter is how long a 503 says its server is down (RFC 3261
// §21.5.4), at most maxRetryAfter; 0 when it does not say.
func retryAfter(resp *sip.Response) time.Duration {
	if s, ok := resp.RetryAfter(); ok && s > 0 {
		return min(time.Duration(s)*time.Second, maxRetryAfter)
	}
	return 0
}

// failLocked ends a branch with a response of our own making.
func (rc *rcontext) failLocked(b *branch, code int) {
	b.final = true
	rc.pending--
	resp := sip.NewResponse(rc.in, code, "")
	resp.SetToTag(transaction.NewTag())
	rc.finals = append(rc.finals, resp)
}

func (rc *rcontext) onResponse(b *branch, resp *sip.Response) {
	// The transaction layer may still read the response it handed us
	// (to build the ACK of a non-2xx): change a copy.
	resp = resp.Clone()
	// §16.7 step 3: our Via off the top. The client transaction matched
	// the response by that Via's branch, so the top one is ours.
	if !resp.RemoveFirstValue("Via") || !resp.Has("Via") {
		return
	}
	code := resp.StatusCode
	if code != sip.StatusServiceUnavailable {
		rc.p.down.up(b.dst) // it answers
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	switch {
	case code < 200:
		b.provisional = true
		b.ringing = b.ringing || code != sip.StatusTrying
		// §16.7 step 5: 1xx other than 100 go upstream at once; the
		// caller has had our own 100.
		if code == sip.StatusTrying || rc.finalSent {
			return
		}
		if err := rc.stx.Respond(resp); err != nil {
			rc.p.log.Debug("proxy: forwarding provisional failed", "status", code, "err", err)
		}
	case code < 300:
		first := !b.final
		if first {
			b.final = true
			rc.pending--
		}
		rc.forward2xxLocked(resp)
		if first && rc.invite {
			// §16.7 step 10: the call is answered; the other
			// branches are cancelled.
			rc.cancelPendingLocked()
			// Later 2xx — retransmissions, other forks — go up
			// statelessly (forward2xxLocked, HandleStrayResponse):
			// neither transaction need be kept whole for 32 s.
			rc.stx.Release()
			b.tx.Release()
		}
		rc.stop = true
	default:
		if b.final {
			return // abandoned earlier; the answer is already decided
		}
		// A 503 from a hop with more addresses: the next one
		// (RFC 3263 §4.3) — unless the request had reached a UA
		// (180, 183...), which another address would ring again.
		if code == sip.StatusServiceUnavailable && !b.ringing && rc.failoverLocked(b, retryAfter(resp)) {
			return
		}
		b.final = true
		rc.pending--
		if rc.finalSent {
			return
		}
		rc.finals = append(rc.finals, resp)
		if code >= 600 {
			// §16.7 step 5: a 6xx ends the search; cancel the rest
			// and create no new branch.
			rc.stop = true
			if rc.invite {
				rc.cancelPendingLocked()
			}
		}
		rc.advanceLocked()
	}
}

// forward2xxLocked sends a 2xx upstream. Every 2xx of an INVITE goes up,
// from every branch and also its retransmissions (§16.7 step 5, RFC 6026):
// the caller ACKs each. When the server transaction has already sent a
// final response or ended, the 2xx goes statelessly through the transport.
func (rc *rcontext) forward2xxLocked(resp *sip.Response) {
	rc.finalSent = true
	err := rc.stx.Respond(resp)
	if err == nil || !rc.invite {
		if err != nil {
			rc.p.log.Debug("proxy: forwarding 2xx failed", "err", err)
		}
		return
	}
	if errors.Is(err, transaction.ErrFinalSent) || errors.Is(err, transaction.ErrTerminated) {
		resp.Origin = rc.in.Origin
		err = rc.p.tp.SendResponse(resp)
	}
	if err != nil {
		rc.p.log.Debug("proxy: forwarding 2xx failed", "err", err)
	}
}

// cancelPendingLocked CANCELs every branch without a final response
// (§16.7 step 10, §16.10). A branch that has had no provisional response
// cannot be cancelled yet (§9.1): the transaction layer sends its CANCEL
// when one comes, and the branch is counted as answered 487 now, so the
// caller does not wait for a branch that may never answer.
func (rc *rcontext) cancelPendingLocked() {
	for _, b := range rc.branches {
		if b.final || b.tx == nil {
			continue
		}
		_ = b.tx.Cancel()
		if !b.provisional {
			rc.failLocked(b, sip.StatusRequestTerminated)
		}
	}
}

// callerCancelled is the caller's CANCEL (§16.10), unless the answer is
// already out.
func (rc *rcontext) callerCancelled() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.finalSent {
		return
	}
	rc.p.debug("cancelled by caller", rc.in)
	rc.stop = true
	rc.cancelled = true
	rc.cancelPendingLocked()
	rc.advanceLocked()
}

// sendBestLocked sends the best final response upstream (§16.7 step 6).
func (rc *rcontext) sendBestLocked() {
	rc.finalSent = true
	resp := rc.bestLocked()
	rc.p.debug("answered", rc.in, "status", resp.StatusCode, "branches", len(rc.branches))
	rc.p.respondWith(rc.stx, resp)
}

// bestLocked chooses the response of §16.7 steps 6 and 7 from the finals
// collected: a 6xx if any, else one of the lowest class, preferring those
// that tell the caller how to retry (401, 407, 415, 420, 484). A cancelled
// request is answered 487 unless a 6xx came. Challenges of every 401 and
// 407 are merged into a chosen 401 or 407; a chosen 503 becomes 500, since
// it speaks of the next hop, not of us.
func (rc *rcontext) bestLocked() *sip.Response {
	var best *sip.Response
	for _, r := range rc.finals {
		if better(r, best) {
			best = r
		}
	}
	switch {
	case best == nil:
		return sip.NewResponse(rc.in, sip.StatusRequestTimeout, "")
	case rc.cancelled && best.StatusCode < 600 && best.StatusCode != sip.StatusRequestTerminated:
		for _, r := range rc.finals {
			if r.StatusCode == sip.StatusRequestTerminated {
				return r
			}
		}
		return sip.NewResponse(rc.in, sip.StatusRequestTerminated, "")
	case best.StatusCode == sip.StatusServiceUnavailable:
		resp := sip.NewResponse(rc.in, sip.StatusServerInternalError, "")
		if tag := best.ToTag(); tag != "" {
			resp.SetToTag(tag)
		}
		return resp
	case best.StatusCode == sip.StatusUnauthorized || best.StatusCode == sip.StatusProxyAuthRequired:
		return rc.mergeChallenges(best)
	}
	return best
}

// better reports whether r beats the current best b.
func better(r, b *sip.Response) bool {
	if b == nil {
		return true
	}
	rc, bc := r.StatusCode/100, b.StatusCode/100
	switch {
	case bc == 6:
		return false
	case rc == 6:
		return true
	case rc != bc:
		return rc < bc
	}
	return rc == 4 && rank4xx(r.StatusCode) < rank4xx(b.StatusCode)
}

// rank4xx orders client errors within their class (§16.7 step 6 leaves the
// choice to the proxy): first those that say how to resubmit the request,
// which the RFC asks to prefer; then those that say something about the
// callee (486 Busy Here, 488, 403, ...); last those that only say a device
// was not there or did not answer, because with several devices the one
// that was there speaks for the user.
func rank4xx(code int) int {
	switch code {
	case 401, 407, 415, 420, 484:
		return 0
	case 404, 408, 410, 480:
		return 2
	}
	return 1
}

// mergeChallenges is §16.7 step 7: every WWW-Authenticate and
// Proxy-Authenticate of every 401 and 407 collected, so the caller can
// answer all the realms at once.
func (rc *rcontext) mergeChallenges(best *sip.Response) *sip.Response {
	out := best.Clone()
	out.Del("WWW-Authenticate")
	out.Del("Proxy-Authenticate")
	for _, r := range rc.finals {
		if r.StatusCode != sip.StatusUnauthorized && r.StatusCode != sip.StatusProxyAuthRequired {
			continue
		}
		for _, f := range r.Fields() {
			switch {
			case f.Is("WWW-Authenticate"):
				out.Add("WWW-Authenticate", f.Value)
			case f.Is("Proxy-Authenticate"):
				out.Add("Proxy-Authenticate", f.Value)
			}
		}
	}
	return out
}
