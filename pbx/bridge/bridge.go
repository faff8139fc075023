// Package bridge is the PBX's back-to-back user agent (RFC 3261 §6 "B2BUA"
// ; RFC 7092 for the taxonomy): a call between two of our users becomes two
// dialogs — the caller's leg, where the PBX is the UAS, and the callee's,
// where it is the UAC — with the media between them passing through the
// relay (package media) or end to end, as the dial plan's route says.
//
// The server's stage chain hands it every initial INVITE that one of our
// users sends to one of our numbers (or that reaches one of our users from
// outside), and every in-dialog request and ACK of its dialogs. The dial
// plan (pbx/dialplan) maps the dialled number to an action: ring a user's
// registered devices in parallel, a ring group (simultaneous, sequential,
// hunt), forward (always, busy, no answer), do-not-disturb, or hand the
// call to the proxy (no anchoring). Provisional responses are relayed to
// the caller (183 with early media rewritten to the relay), CANCEL reaches
// every ringing leg, re-INVITE and UPDATE (hold, resume, codec change) are
// carried across with their SDP rewritten, BYE from either side ends both,
// and a call that fails says why: 404, 480, 486, 487, 488 (with Warning),
// 503 when the port range is exhausted. Every call leaves a call detail
// record (pbx/cdr).
//
// Legs are package leg's: dialog usages on the server's transaction layer.
// A call runs on one goroutine of its own that owns its state; the
// transport's readers post events to it and never wait for it.
//
// What comes next plugs in as one more implementation each: a Media
// strategy (conference mixer, terminated prompts, a WebRTC bridge; see
// Media) and a leg constructor (a trunk's outbound leg with the
// provider's identity, a browser's over WebSocket; see package leg).
package bridge

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-sip/parley/dialog"
	"github.com/parley-sip/parley/media"
	"github.com/parley-sip/parley/pbx/cdr"
	"github.com/parley-sip/parley/pbx/dialplan"
	"github.com/parley-sip/parley/pbx/leg"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
)

// Config configures a Bridge.
type Config struct {
	Stack *leg.Stack
	// Plan is the dial plan (dialplan.Default for a config without one).
	Plan *dialplan.Plan
	// Locator finds a user's registered devices (proxy.LocationLocator).
	Locator proxy.Locator
	// Domain is our domain: callee legs are addressed sip:USER@Domain.
	Domain string
	// AnyUser rings a number the plan does not match as a user name, when
	// the Locator knows it: for a server without a user list (auth: none),
	// where every name is a user, as the proxy has it.
	AnyUser bool
	// Relay anchors media; nil makes every route direct.
	Relay *media.Relay
	// Ports is the relay's port allocator, shared with the media sessions
	// of prompts (the play action).
	Ports *media.PortAllocator
	// DataDir is where relative prompt files are (the config's data).
	DataDir string
	// HoldMusic is the WAV a held party hears (looped); empty: a built-in
	// chime.
	HoldMusic string
	// NoHoldMusic leaves a held party in silence (the hold only carried
	// across).
	NoHoldMusic bool
	// CDR receives a record per call (cdr.Async in front of SQLite); nil
	// writes none.
	CDR cdr.Store
	// SessionExpires is the session interval (RFC 4028) the PBX asks of
	// both legs and refreshes itself, by UPDATE, at half of it: a leg
	// whose phone died (no answer, 408, 481) ends the call. Default 30
	// minutes; negative turns session timers off.
	SessionExpires time.Duration
	// RetryAfter is the Retry-After of 503 answers (seconds, default 5).
	RetryAfter int
	Log        *slog.Logger
}

// Stats counts calls since New.
type Stats struct {
	Calls, Answered, Failed, Cancelled, Proxied uint64
	Active                                      int64
}

// Bridge is the B2BUA.
type Bridge struct {
	cfg  Config
	log  *slog.Logger
	legs dialog.Table[*callLeg]

	calls, answered, failed, cancelled, proxied atomic.Uint64
	active                                      atomic.Int64

	mu     sync.Mutex
	live   map[*call]struct{}
	hunt   map[*dialplan.RingGroup]int
	closed bool
}

// callLeg is what the dialog table keeps: a leg and its call.
type callLeg struct {
	c *call
	l *leg.Leg
}

// New makes a bridge.
func New(cfg Config) (*Bridge, error) {
	if cfg.Stack == nil || cfg.Plan == nil || cfg.Locator == nil {
		return nil, errors.New("bridge: Stack, Plan and Locator are required")
	}
	if cfg.RetryAfter == 0 {
		cfg.RetryAfter = 5
	}
	if cfg.SessionExpires == 0 {
		cfg.SessionExpires = DefaultSessionExpires
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Bridge{cfg: cfg, log: log, live: map[*call]struct{}{}, hunt: map[*dialplan.RingGroup]int{}}, nil
}

// Stats returns a snapshot of the bridge's counters.
func (b *Bridge) Stats() Stats {
	return Stats{Calls: b.calls.Load(), Answered: b.answered.Load(), Failed: b.failed.Load(),
		Cancelled: b.cancelled.Load(), Proxied: b.proxied.Load(), Active: b.active.Load()}
}

// ProxyRoute reports whether the dial plan hands an initial INVITE from
// caller to the proxy (a proxy route: the PBX stays out of the call) and
// which. Everything else that reaches the bridge is its own, a number the
// plan does not know included (404).
func (b *Bridge) ProxyRoute(req *sip.Request, caller string) (*dialplan.Proxy, bool) {
	r, ok := b.cfg.Plan.Match(req.URI.UserUnescaped(), caller)
	if !ok {
		return nil, false
	}
	p, isProxy := r.Action.(*dialplan.Proxy)
	if isProxy {
		b.proxied.Add(1)
	}
	return p, isProxy
}

// ServeInvite takes an initial INVITE from caller (our authenticated user,
// "" for an outsider) and runs the call on a goroutine of its own.
func (b *Bridge) ServeInvite(tx *transaction.ServerTx, caller string) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		respond(tx, sip.StatusServiceUnavailable, "Service Unavailable: shutting down", b.cfg.Stack)
		return
	}
	a, err := leg.Accept(b.cfg.Stack, tx)
	if err != nil {
		b.mu.Unlock()
		respond(tx, sip.StatusServiceUnavailable, "Service Unavailable: "+err.Error(), b.cfg.Stack)
		return
	}
	// 100 at once, as a proxy does (§16.2): the caller stops
	// retransmitting while the plan is looked up and the callees ring.
	_ = a.Respond(sip.StatusTrying, "", nil)
	c := newCall(b, a, caller)
	b.live[c] = struct{}{}
	b.mu.Unlock()
	b.calls.Add(1)
	b.active.Add(1)
	go c.run()
}

func respond(tx *transaction.ServerTx, code int, reason string, st *leg.Stack) {
	resp := sip.NewResponse(tx.Request(), code, reason)
	if code > 100 {
		resp.SetToTag(transaction.NewTag())
	}
	if st.UserAgent != "" {
		resp.Set("Server", st.UserAgent)
	}
	_ = tx.Respond(resp)
}

// ServeInDialog takes an in-dialog request of one of the bridge's dialogs
// and reports whether it was one.
func (b *Bridge) ServeInDialog(tx *transaction.ServerTx) bool {
	req := tx.Request()
	_, cl, ok := b.legs.Get(dialog.IncomingID(req))
	if !ok {
		return false
	}
	cl.c.post(event{kind: evRequest, leg: cl.l, tx: tx})
	return true
}

// Owns reports whether an in-dialog request or ACK belongs to a dialog of
// the bridge.
func (b *Bridge) Owns(req *sip.Request) bool {
	_, _, ok := b.legs.Get(dialog.IncomingID(req))
	return ok
}

// HandleAck takes an ACK for a 2xx and reports whether its dialog is one
// of the bridge's.
func (b *Bridge) HandleAck(ack *sip.Request) bool {
	_, cl, ok := b.legs.Get(dialog.IncomingID(ack))
	if !ok {
		return false
	}
	if !cl.l.HandleAck(ack) {
		cl.c.post(event{kind: evAck, leg: cl.l, ack: ack})
	}
	return true
}

// Close hangs up every call and waits for them to end, until ctx ends.
func (b *Bridge) Close(ctx context.Context) error {
	b.mu.Lock()
	b.closed = true
	calls := make([]*call, 0, len(b.live))
	for c := range b.live {
		calls = append(calls, c)
	}
	b.mu.Unlock()
	for _, c := range calls {
		c.post(event{kind: evShutdown})
	}
	for _, c := range calls {
		select {
		case <-c.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (b *Bridge) ended(c *call) {
	b.mu.Lock()
	delete(b.live, c)
	b.mu.Unlock()
	b.active.Add(-1)
}

// nextHunt returns where a hunt group starts this time and moves on.
func (b *Bridge) nextHunt(g *dialplan.RingGroup) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := b.hunt[g] % len(g.Members)
	b.hunt[g] = i + 1
	return i
}

func (b *Bridge) retryAfter() string { return "Retry-After: " + itoa(b.cfg.RetryAfter) }

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var buf [20]byte
	i := len(buf)
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return string(buf[i:])
}

// DefaultSessionExpires is Config.SessionExpires when not given: RFC 4028
// §4 recommends 30 minutes.
const DefaultSessionExpires = 30 * time.Minute

// sessionExpires is the Session-Expires value with refresher, "" when off.
func (b *Bridge) sessionExpires(refresher string) string {
	if b.cfg.SessionExpires < 0 {
		return ""
	}
	secs := max(int(b.cfg.SessionExpires/time.Second), 1)
	return "Session-Expires: " + itoa(secs) + ";refresher=" + refresher
}

// lookupTimeout bounds a location lookup for one user.
const lookupTimeout = 2 * time.Second
