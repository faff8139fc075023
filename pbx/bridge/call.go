package bridge

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/parley-sip/parley/media"
	"github.com/parley-sip/parley/pbx/cdr"
	"github.com/parley-sip/parley/pbx/dialplan"
	"github.com/parley-sip/parley/pbx/leg"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
)

type eventKind uint8

const (
	evResponse  eventKind = iota // a response to a callee leg's INVITE (nil resp: it ended)
	evRequest                    // an in-dialog request of a leg
	evAck                        // the ACK of a relayed re-INVITE's 2xx
	evRelayed                    // a request relayed to the other leg got its final response
	evRefreshed                  // a session refresh of leg ended (failed says it found the phone gone)
	evShutdown
)

type event struct {
	kind eventKind
	leg  *leg.Leg
	resp *sip.Response
	tx   *transaction.ServerTx
	ack  *sip.Request
	// failed: the refresh found the leg's phone gone.
	failed bool
	// music started with a relayed hold; stopMusic: a relayed resume
	// took the held leg back to the relay.
	music     *music
	stopMusic bool
}

// call is one call: the caller's leg, the callee legs rung, the one that
// answered, the media between them. Its fields belong to run's goroutine.
type call struct {
	b      *Bridge
	a      *leg.Leg
	caller string
	events chan event
	done   chan struct{}

	media   Media
	offerB  []byte // the caller's offer as the callee legs get it
	forks   map[*leg.Leg]*fork
	callee  *leg.Leg // the leg that answered
	calleeU string   // the user it belongs to
	pending bool     // a relayed re-INVITE/UPDATE is in progress
	// refreshing: a session refresh (RFC 4028) is in progress.
	refreshing bool
	// music is the hold music playing to a held leg, nil when none.
	music *music
	rec   cdr.Record
	route dialplan.Route
	// sentProvisional: the caller got a ringing response already.
	sentProvisional bool
}

type fork struct {
	user  string
	final int // 0 while ringing
	ended bool
}

// Dispositions of a ringing attempt.
type outcome uint8

const (
	answered outcome = iota
	busy
	noAnswer
	unregistered
	cancelled
	failed   // the answer says why
	finished // answered and ended within dial (a prompt played)
)

func newCall(b *Bridge, a *leg.Leg, caller string) *call {
	req := a.Invite()
	c := &call{
		b: b, a: a, caller: caller,
		events: make(chan event, 64),
		done:   make(chan struct{}),
		forks:  map[*leg.Leg]*fork{},
	}
	from, _ := req.From()
	c.rec = cdr.Record{
		Caller:  caller,
		Dialled: req.URI.UserUnescaped(),
		Start:   time.Now(),
		CallIDs: []string{req.CallID()},
	}
	if c.rec.Caller == "" {
		c.rec.Caller = from.URI.String()
	}
	return c
}

// post hands an event to the call's goroutine. Events after the call
// ended are answered here (481 for a request).
func (c *call) post(ev event) {
	select {
	case <-c.done:
		if ev.tx != nil {
			respond(ev.tx, sip.StatusCallTransactionDoesNotExist, "", c.b.cfg.Stack)
		}
	case c.events <- ev:
	}
}

// run is the call's goroutine.
func (c *call) run() {
	defer c.finish()
	dialled := c.rec.Dialled
	out, resp := c.dial(dialled, 0)
	if out == finished {
		return
	}
	if out != answered {
		c.fail(out, resp)
		return
	}
	c.talk()
}

// answer is a final response to send the caller when the call fails.
type answer struct {
	code   int
	reason string
	extra  []string
}

// dial follows the dial plan for number; hops counts forwards.
func (c *call) dial(number string, hops int) (outcome, answer) {
	b := c.b
	if hops > dialplan.MaxForwardHops {
		return failed, answer{code: sip.StatusLoopDetected, reason: "Loop Detected: too many forwards"}
	}
	r, ok := b.cfg.Plan.Match(number, c.caller)
	if !ok && b.cfg.AnyUser && number != "" {
		r, ok = dialplan.Route{Pattern: number, Action: &dialplan.RingUser{User: number, Timeout: b.cfg.Plan.RingTimeout()}}, true
	}
	if !ok {
		return failed, answer{code: sip.StatusNotFound, reason: "Not Found: no such number"}
	}
	if hops == 0 {
		c.route = r
		c.rec.Route = r.Pattern
	}
	switch a := r.Action.(type) {
	case *dialplan.RingUser:
		return c.ringUser(a, r, hops)
	case *dialplan.RingGroup:
		return c.ringGroup(a, r)
	case *dialplan.Forward:
		return c.dial(a.To, hops+1)
	case *dialplan.Proxy:
		// Wants keeps proxy routes away from the PBX; only a forward
		// can end at one.
		return failed, answer{code: sip.StatusNotImplemented, reason: "Not Implemented: forward to a proxy route"}
	case *dialplan.Play:
		return c.play(a.File)
	default:
		return failed, answer{code: sip.StatusNotImplemented, reason: "Not Implemented: " + r.Action.Kind()}
	}
}

func (c *call) ringUser(a *dialplan.RingUser, r dialplan.Route, hops int) (outcome, answer) {
	us := c.b.cfg.Plan.User(a.User)
	if us.ForwardAlways != "" {
		return c.dial(us.ForwardAlways, hops+1)
	}
	if us.DND {
		if us.ForwardBusy != "" {
			return c.dial(us.ForwardBusy, hops+1)
		}
		return busy, answer{code: sip.StatusBusyHere, reason: "Busy Here: do not disturb"}
	}
	timeout := a.Timeout
	if us.ForwardNoAnswer != "" && us.NoAnswerAfter > 0 {
		timeout = us.NoAnswerAfter
	}
	out, ans := c.ring([]string{a.User}, timeout, r.Media)
	switch out {
	case busy:
		if us.ForwardBusy != "" {
			return c.dial(us.ForwardBusy, hops+1)
		}
	case noAnswer, unregistered:
		if us.ForwardNoAnswer != "" {
			return c.dial(us.ForwardNoAnswer, hops+1)
		}
	}
	return out, ans
}

func (c *call) ringGroup(g *dialplan.RingGroup, r dialplan.Route) (outcome, answer) {
	plan := c.b.cfg.Plan
	var members []dialplan.Member
	for _, m := range g.Members {
		if !plan.User(m.User).DND {
			members = append(members, m)
		}
	}
	if len(members) == 0 {
		return busy, answer{code: sip.StatusBusyHere, reason: "Busy Here: every member is on do-not-disturb"}
	}
	if g.Strategy == dialplan.Simultaneous {
		users := make([]string, len(members))
		for i, m := range members {
			users[i] = m.User
		}
		return c.ring(users, g.Timeout, r.Media)
	}
	start := 0
	if g.Strategy == dialplan.Hunt {
		start = c.b.nextHunt(g) % len(members)
	}
	deadline := time.Now().Add(g.Timeout)
	last := unregistered
	var lastAns answer
	for i := range members {
		m := members[(start+i)%len(members)]
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		out, ans := c.ring([]string{m.User}, min(m.Timeout, left), r.Media)
		switch out {
		case answered, cancelled, failed:
			return out, ans
		}
		if last == unregistered || out == noAnswer {
			last, lastAns = out, ans
		}
	}
	return last, lastAns
}

// targets are a user's registered devices.
func (c *call) targets(user string) ([]proxy.Target, error) {
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	u := sip.URI{Scheme: "sip", User: user, Host: c.b.cfg.Domain}
	return c.b.cfg.Locator.Locate(ctx, u)
}

// prepareMedia makes the call's media strategy and the offer the callee
// legs get, once.
func (c *call) prepareMedia(m dialplan.Media) *answer {
	if c.media != nil {
		return nil
	}
	if m == dialplan.MediaRelay && c.b.cfg.Relay != nil {
		c.media = newRelayMedia(c.b.cfg.Relay)
	} else {
		c.media = directMedia{}
	}
	c.rec.Anchored = c.media.Anchored()
	offer, err := c.media.Rewrite(media.SideA, c.a.Invite().Body)
	if err != nil {
		return c.errorAnswer(err)
	}
	c.offerB = offer
	return nil
}

func (c *call) errorAnswer(err error) *answer {
	var se *sip.StatusError
	if errors.As(err, &se) {
		a := &answer{code: se.Code, reason: se.Reason}
		if se.Code == sip.StatusServiceUnavailable {
			a.extra = append(a.extra, c.b.retryAfter())
		}
		return a
	}
	return &answer{code: sip.StatusServerInternalError, reason: "Server Internal Error: " + err.Error()}
}

// ring rings every device of users at once for timeout and waits for the
// first to answer, all to fail, the timeout, or the caller to cancel.
func (c *call) ring(users []string, timeout time.Duration, m dialplan.Media) (outcome, answer) {
	b := c.b
	type dev struct {
		user string
		t    proxy.Target
	}
	var devs []dev
	notFound := 0
	for _, u := range users {
		ts, err := c.targets(u)
		if errors.Is(err, proxy.ErrNotFound) {
			notFound++
			continue
		}
		if err != nil {
			return failed, answer{code: sip.StatusServiceUnavailable, reason: "Service Unavailable: location store", extra: []string{b.retryAfter()}}
		}
		for _, t := range ts {
			devs = append(devs, dev{u, t})
		}
	}
	if len(devs) == 0 {
		if notFound == len(users) {
			return failed, answer{code: sip.StatusNotFound, reason: "Not Found"}
		}
		return unregistered, answer{code: sip.StatusTemporarilyUnavailable, reason: "Temporarily Unavailable: nobody registered"}
	}
	if a := c.prepareMedia(m); a != nil {
		return failed, *a
	}
	inv := c.a.Invite()
	from, _ := inv.From()
	from.Params = from.Params.Without("tag")
	var ringing []*leg.Leg
	for _, d := range devs {
		to := sip.Address{URI: sip.URI{Scheme: "sip", User: d.user, Host: b.cfg.Domain}}
		var hdrs []string
		if se := b.sessionExpires("uac"); se != "" {
			hdrs = append(hdrs, "Supported: timer", se)
		}
		l, err := leg.Dial(context.Background(), b.cfg.Stack, leg.Invite{
			Target: d.t.URI, Path: d.t.Path, Flow: d.t.Flow,
			From: from, To: to, Body: c.offerB, Headers: hdrs,
		}, func(l *leg.Leg, resp *sip.Response) {
			if resp != nil && resp.ToTag() != "" && resp.StatusCode < 300 {
				// Filed before the call sees it: the callee's
				// requests may follow its response at once.
				c.registerLeg(l)
			}
			c.post(event{kind: evResponse, leg: l, resp: resp})
		})
		if err != nil {
			b.log.Debug("bridge: callee leg not started", "user", d.user, "target", d.t.URI.String(), "err", err)
			continue
		}
		c.forks[l] = &fork{user: d.user}
		c.rec.CallIDs = append(c.rec.CallIDs, l.CallID())
		c.rec.Callee = d.user
		ringing = append(ringing, l)
	}
	if len(ringing) == 0 {
		return unregistered, answer{code: sip.StatusTemporarilyUnavailable, reason: "Temporarily Unavailable: no device reachable"}
	}
	mine := make(map[*leg.Leg]bool, len(ringing))
	for _, l := range ringing {
		mine[l] = true
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	cancelAll := func() {
		for _, l := range ringing {
			if f := c.forks[l]; f != nil && f.final == 0 {
				l.Cancel()
			}
		}
	}
	codes := map[int]int{}
	pending := len(ringing)
	for {
		select {
		case <-c.a.ServerTx().Cancelled():
			cancelAll()
			return cancelled, answer{code: sip.StatusRequestTerminated, reason: "Request Terminated"}
		case <-timer.C:
			cancelAll()
			return noAnswer, answer{code: sip.StatusTemporarilyUnavailable, reason: "Temporarily Unavailable: no answer"}
		case ev := <-c.events:
			switch ev.kind {
			case evShutdown:
				cancelAll()
				return failed, answer{code: sip.StatusServiceUnavailable, reason: "Service Unavailable: shutting down"}
			case evRequest:
				// A request in an early dialog (UPDATE, PRACK, INFO):
				// not relayed before the answer.
				_ = ev.leg.Reply(ev.tx, sip.StatusRequestPending, "Request Pending: early dialog", nil)
				continue
			case evAck, evRelayed:
				continue
			}
			f := c.forks[ev.leg]
			if f == nil {
				continue
			}
			if !mine[ev.leg] {
				// A leg of an earlier attempt (a group member whose
				// turn is over, a forwarded-from user): one that
				// answers now is hung up.
				if ev.resp != nil && ev.resp.IsSuccess() {
					go c.hangUpLate(ev.leg)
				}
				continue
			}
			if ev.resp == nil { // the transaction ended
				if f.final == 0 && !f.ended {
					f.final = sip.StatusRequestTimeout
					pending--
				}
				f.ended = true
				if pending == 0 {
					return c.allFailed(codes)
				}
				continue
			}
			resp := ev.resp
			code := resp.StatusCode
			switch {
			case code == 100:
			case code < 200:
				c.registerLeg(ev.leg)
				c.relayProvisional(resp)
			case code < 300:
				if f.final != 0 || c.callee != nil {
					go c.hangUpLate(ev.leg)
					continue
				}
				f.final = code
				c.callee, c.calleeU = ev.leg, f.user
				c.registerLeg(ev.leg)
				for _, l := range ringing {
					if l != ev.leg && c.forks[l].final == 0 {
						l.Cancel()
					}
				}
				ans, err := c.media.Rewrite(media.SideB, resp.Body)
				if err != nil {
					go c.hangUpLate(ev.leg)
					c.callee = nil
					a := c.errorAnswer(err)
					return failed, *a
				}
				c.registerLeg(c.a)
				var extra []string
				if se := b.sessionExpires("uas"); se != "" {
					// RFC 4028 §9: the PBX refreshes; a caller that
					// supports timers is told to expect it.
					extra = append(extra, se)
					if supports(c.a.Invite(), "timer") {
						extra = append(extra, "Require: timer")
					}
				}
				if err := c.a.Respond(sip.StatusOK, "", ans, extra...); err != nil {
					go c.hangUpLate(ev.leg)
					c.callee = nil
					return cancelled, answer{code: sip.StatusRequestTerminated}
				}
				c.rec.Callee = f.user
				c.rec.Answer = time.Now()
				return answered, answer{}
			default:
				if f.final == 0 {
					f.final = code
					codes[code]++
					pending--
				}
				if pending == 0 {
					return c.allFailed(codes)
				}
			}
		}
	}
}

// allFailed turns the final responses of the callee legs into the
// caller's answer.
func (c *call) allFailed(codes map[int]int) (outcome, answer) {
	switch {
	case codes[sip.StatusBusyHere] > 0 || codes[600] > 0:
		return busy, answer{code: sip.StatusBusyHere, reason: "Busy Here"}
	case codes[sip.StatusNotAcceptableHere] > 0 || codes[606] > 0:
		return failed, answer{code: sip.StatusNotAcceptableHere, reason: "Not Acceptable Here",
			extra: []string{`Warning: 305 parley "Incompatible media format: no common codec"`}}
	case codes[603] > 0:
		return busy, answer{code: 603, reason: "Decline"}
	}
	return noAnswer, answer{code: sip.StatusTemporarilyUnavailable, reason: "Temporarily Unavailable"}
}

// relayProvisional sends the caller a provisional response of a callee
// leg: 180 as it is, 183 (and 180) with early media rewritten.
func (c *call) relayProvisional(resp *sip.Response) {
	var body []byte
	if len(resp.Body) > 0 {
		b, err := c.media.Rewrite(media.SideB, resp.Body)
		if err == nil {
			body = b
		}
	}
	if len(body) == 0 && resp.StatusCode == 180 && c.sentProvisional {
		return // one ringing is enough for the caller
	}
	c.registerLeg(c.a)
	if err := c.a.Respond(resp.StatusCode, resp.Reason, body); err == nil {
		c.sentProvisional = true
	}
}

// registerLeg puts a leg with a dialog into the bridge's table, so its
// in-dialog requests and ACKs find the call.
func (c *call) registerLeg(l *leg.Leg) {
	if l == c.a {
		if d, err := l.Prepare(); err == nil {
			c.b.legs.Put(d, &callLeg{c: c, l: l})
		}
		return
	}
	if d := l.Dialog(); d != nil {
		c.b.legs.Put(d, &callLeg{c: c, l: l})
	}
}

// hangUpLate ends a callee leg that answered after another did (or after
// the call gave up on it).
func (c *call) hangUpLate(l *leg.Leg) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = l.Request(ctx, sip.BYE, nil)
}

func (c *call) fail(out outcome, ans answer) {
	b := c.b
	if ans.code == 0 {
		ans.code = sip.StatusServerInternalError
	}
	_ = c.a.Respond(ans.code, ans.reason, nil, ans.extra...)
	disp := cdr.Failed
	switch out {
	case busy:
		disp = cdr.Busy
	case noAnswer, unregistered:
		disp = cdr.NoAnswer
	case cancelled:
		disp = cdr.Cancelled
	}
	side := cdr.SidePBX
	if out == cancelled {
		side = cdr.SideCaller
		b.cancelled.Add(1)
	} else {
		b.failed.Add(1)
	}
	c.rec.Finish(time.Now(), disp, cdr.Cause{Code: ans.code, Reason: ans.reason, Side: side})
}

// talk relays the answered call until one side hangs up.
func (c *call) talk() {
	b := c.b
	b.answered.Add(1)
	noAck := time.NewTimer(64 * b.cfg.Stack.Tx.Config().T1)
	defer noAck.Stop()
	acked := c.a.Acked()
	var refresh <-chan time.Time
	if se := b.cfg.SessionExpires; se > 0 {
		t := time.NewTicker(se / 2)
		defer t.Stop()
		refresh = t.C
	}
	for {
		select {
		case <-refresh:
			if !c.pending && !c.refreshing {
				c.refreshing = true
				go c.refreshSession(c.a, c.callee)
			}
		case <-acked:
			noAck.Stop()
			acked = nil
		case <-noAck.C:
			if acked == nil {
				continue
			}
			go c.hangUpLate(c.callee)
			c.rec.Finish(time.Now(), cdr.Answered, cdr.Cause{Code: 408, Reason: "no ACK", Side: cdr.SideCaller})
			return
		case ev := <-c.events:
			switch ev.kind {
			case evShutdown:
				go c.hangUpLate(c.a)
				go c.hangUpLate(c.callee)
				c.rec.Finish(time.Now(), cdr.Answered, cdr.Cause{Reason: "shutdown", Side: cdr.SidePBX})
				return
			case evResponse:
				if ev.resp != nil && ev.resp.IsSuccess() && ev.leg != c.callee {
					go c.hangUpLate(ev.leg)
				}
			case evRelayed:
				c.pending = false
				if ev.music != nil {
					c.music = ev.music
				}
				if ev.stopMusic && c.music != nil {
					c.music.stop()
					c.music = nil
				}
			case evRefreshed:
				if ev.leg == nil {
					c.refreshing = false
					continue
				}
				if ev.failed {
					// The phone behind ev.leg is gone: end the call.
					ev.leg.Terminate()
					other, side := c.callee, cdr.SideCaller
					if ev.leg != c.a {
						other, side = c.a, cdr.SideCallee
					}
					go c.hangUpLate(other)
					c.rec.Finish(time.Now(), cdr.Answered, cdr.Cause{Code: sip.StatusRequestTimeout, Reason: "session refresh failed", Side: side})
					return
				}
			case evAck:
			case evRequest:
				if c.inDialog(ev.leg, ev.tx) {
					return
				}
			}
		}
	}
}

// inDialog serves a request of one of the call's legs and reports whether
// it ended the call.
func (c *call) inDialog(from *leg.Leg, tx *transaction.ServerTx) bool {
	req := tx.Request()
	to, side := c.callee, media.SideA
	if from != c.a {
		to, side = c.a, media.SideB
	}
	if from != c.a && from != c.callee {
		_ = from.Reply(tx, sip.StatusCallTransactionDoesNotExist, "", nil)
		return false
	}
	if err := from.Validate(req); err != nil {
		var se *sip.StatusError
		code, reason := sip.StatusServerInternalError, ""
		if errors.As(err, &se) {
			code, reason = se.Code, se.Reason
		}
		_ = from.Reply(tx, code, reason, nil)
		return false
	}
	switch req.Method {
	case sip.BYE:
		_ = from.Reply(tx, sip.StatusOK, "", nil)
		from.Terminate()
		go c.hangUpLate(to)
		s := cdr.SideCaller
		if from != c.a {
			s = cdr.SideCallee
		}
		c.rec.Finish(time.Now(), cdr.Answered, cdr.Cause{Reason: "BYE", Side: s})
		return true
	case sip.INVITE, sip.UPDATE:
		if c.pending {
			_ = from.Reply(tx, sip.StatusRequestPending, "", nil)
			return false
		}
		body, err := c.media.Rewrite(side, req.Body)
		if err != nil {
			a := c.errorAnswer(err)
			_ = from.Reply(tx, a.code, a.reason, nil, a.extra...)
			return false
		}
		c.pending = true
		hold := !c.b.cfg.NoHoldMusic && c.music == nil && isHold(req.Body)
		resume := c.music != nil && c.music.leg == to && len(req.Body) > 0 && !isHold(req.Body)
		go c.relay(from, to, side, tx, req.Method, body, hold, resume)
	default:
		// INFO, MESSAGE, NOTIFY, OPTIONS in the dialog: carried
		// across, body and type as they are.
		go c.relayPlain(from, to, tx, req)
	}
	return false
}

// relay carries a re-INVITE or UPDATE to the other leg and its answer
// back. The call hears that the offer is settled before the answer leaves,
// so the next offer (which may follow the answer at once) is not refused
// 491.
//
// A hold (hold set) is followed by the hold music to the held leg, before
// the next offer is taken; a resume of a held leg (resume set) stops it.
func (c *call) relay(from, to *leg.Leg, side media.Side, tx *transaction.ServerTx, method string, body []byte, hold, resume bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 32*time.Second)
	defer cancel()
	code, reason, ans := c.relayOffer(ctx, to, side, method, body)
	ok := code >= 200 && code < 300
	if !hold || !ok {
		c.post(event{kind: evRelayed, stopMusic: resume && ok})
		_ = from.Reply(tx, code, reason, ans)
		return
	}
	_ = from.Reply(tx, code, reason, ans)
	c.post(event{kind: evRelayed, music: c.startMusic(to, side.Other())})
}

func (c *call) relayOffer(ctx context.Context, to *leg.Leg, side media.Side, method string, body []byte) (int, string, []byte) {
	resp, err := offer(ctx, to, method, body)
	if err != nil {
		return sip.StatusServerInternalError, "Server Internal Error: other leg: " + err.Error(), nil
	}
	if !resp.IsSuccess() {
		return resp.StatusCode, resp.Reason, nil
	}
	ans, err := c.media.Rewrite(side.Other(), resp.Body)
	if err != nil {
		a := c.errorAnswer(err)
		return a.code, a.reason, nil
	}
	return resp.StatusCode, resp.Reason, ans
}

// refreshSession refreshes both legs' sessions (RFC 4028 §10) by UPDATE
// without a body, for legs that allow UPDATE; a leg that does not is left
// to its own refreshes. A leg that answers 408 or 481, or not at all, is
// reported gone; then nil says the refresh is over.
func (c *call) refreshSession(legs ...*leg.Leg) {
	defer c.post(event{kind: evRefreshed})
	for _, l := range legs {
		if l == nil || !l.Allows(sip.UPDATE) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 32*time.Second)
		resp, err := l.Request(ctx, sip.UPDATE, nil)
		cancel()
		gone := err != nil || resp.StatusCode == sip.StatusRequestTimeout || resp.StatusCode == sip.StatusCallTransactionDoesNotExist
		if gone {
			c.post(event{kind: evRefreshed, leg: l, failed: true})
			return
		}
	}
}

// supports reports whether a request's Supported (or Require) names tag.
func supports(req *sip.Request, tag string) bool {
	for _, h := range []string{"Supported", "Require"} {
		for v := range req.Values(h) {
			for _, t := range strings.Split(v, ",") {
				if strings.EqualFold(strings.TrimSpace(t), tag) {
					return true
				}
			}
		}
	}
	return false
}

// offer sends an offer (re-INVITE, UPDATE) on a leg and returns its final
// response. §14.2: a leg still busy with the previous offer (its ACK not
// processed yet) answers 491, or 500 with Retry-After; the PBX, not the
// phone that asked, tries again shortly, a few times.
func offer(ctx context.Context, to *leg.Leg, method string, body []byte) (*sip.Response, error) {
	for attempt := 1; ; attempt++ {
		resp, err := to.Request(ctx, method, body)
		if err != nil {
			return nil, err
		}
		retry := resp.StatusCode == sip.StatusRequestPending ||
			resp.StatusCode == sip.StatusServerInternalError && resp.Has("Retry-After")
		if !retry || attempt == offerRetries {
			return resp, nil
		}
		select {
		case <-time.After(time.Duration(attempt) * offerRetryDelay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// How often and how soon the PBX offers again when the other leg is busy
// with an offer (491, 500 Retry-After).
const (
	offerRetries    = 4
	offerRetryDelay = 100 * time.Millisecond
)

// relayPlain carries a request with no offer across.
func (c *call) relayPlain(from, to *leg.Leg, tx *transaction.ServerTx, req *sip.Request) {
	ctx, cancel := context.WithTimeout(context.Background(), 32*time.Second)
	defer cancel()
	var extra []string
	if ct := req.ContentType(); ct != "" {
		extra = append(extra, "Content-Type: "+ct)
	}
	resp, err := to.Request(ctx, req.Method, req.Body, extra...)
	if err != nil {
		_ = from.Reply(tx, sip.StatusServerInternalError, "Server Internal Error: other leg: "+err.Error(), nil)
		return
	}
	_ = from.Reply(tx, resp.StatusCode, resp.Reason, nil)
}

// finish ends the call: media closed, dialogs forgotten, the record
// written.
func (c *call) finish() {
	b := c.b
	for l := range c.forks {
		if d := l.Dialog(); d != nil {
			b.legs.Remove(d)
		}
	}
	if d := c.a.Dialog(); d != nil {
		b.legs.Remove(d)
	}
	if c.media != nil {
		c.media.Close()
	}
	if c.music != nil {
		c.music.sess.Close()
	}
	close(c.done)
	// Answer what came meanwhile.
drain:
	for {
		select {
		case ev := <-c.events:
			if ev.tx != nil {
				respond(ev.tx, sip.StatusCallTransactionDoesNotExist, "", b.cfg.Stack)
			}
		default:
			break drain
		}
	}
	if c.rec.End.IsZero() {
		c.rec.Finish(time.Now(), cdr.Failed, cdr.Cause{Code: 500, Side: cdr.SidePBX})
	}
	if b.cfg.CDR != nil {
		if err := b.cfg.CDR.Write(context.Background(), c.rec); err != nil {
			b.log.Warn("bridge: CDR not written", "err", err)
		}
	}
	b.ended(c)
}
