// Package registrar processes REGISTER requests (RFC 3261 §10.3) over a
// location.Store: it checks the request, adds, refreshes and removes
// bindings, and answers with every current binding of the address-of-record.
//
// It implements §10.3 steps 1, 2 and 5 to 8 (steps 3 and 4, authentication
// and authorization, belong to the handler chain in front of it), the
// Contact and Expires rules of §10.2.1 to §10.2.2 and §20.10 (the wildcard,
// per-contact expires, q-values), 423 Interval Too Brief with Min-Expires
// (§10.3 step 7, §21.4.17), RFC 3327 Path (§5.3: stored with the binding and
// echoed when the UA supports it), and of RFC 5626 the parts a registrar
// that does not support outbound still honours: +sip.instance and reg-id
// are kept in the binding so that a re-registration over a new flow
// replaces the old one. It does not claim outbound support (no
// "Require: outbound" in responses).
//
// A Registrar is a pure request-to-response component: it does no I/O
// beyond the Store, reads time from Config.Clock, and is safe for
// concurrent use.
package registrar

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/sip"
)

// Config configures a Registrar. Durations are whole seconds, as on the wire.
type Config struct {
	// Domains are the domains this registrar is responsible for (host part
	// of the Request-URI and of the To AOR), compared case-insensitively.
	// Empty means any domain: only for tests and single-tenant setups.
	Domains []string
	// Aliases, when set, reports hosts that stand for the first of
	// Domains — the server's own addresses, so that a phone registering
	// as sip:alice@192.0.2.1 is alice of the domain: its bindings are
	// kept under the domain's AOR, where calls to either find them.
	Aliases func(host string) bool

	// MinExpires is the shortest registration accepted (default 60); a
	// shorter non-zero one is answered 423 with Min-Expires (§10.3 step 7).
	// RFC 3261 recommends at least 60 so that registrations on a busy
	// server do not churn.
	MinExpires int
	// MaxExpires caps registrations (default 3600): longer requests are
	// granted MaxExpires, which the 200 OK tells the UA (§10.3 step 7
	// lets the registrar shorten).
	MaxExpires int
	// DefaultExpires applies to contacts without an expires parameter in a
	// request without Expires header (default 3600, §10.2.1.1).
	DefaultExpires int

	// Store holds the bindings. Required.
	Store location.Store

	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time

	// UserExists, when set, reports whether the user part (unescaped) of an
	// AOR in one of our domains is a known user; unknown users are
	// answered 404 (§10.3 step 5).
	UserExists func(user string) bool

	// Node names this server in the bindings it writes (location.Binding.Node):
	// the node that holds the phone's connection. "" on a single server.
	Node string

	// RetryAfter is the Retry-After, in seconds, of the 503 that answers a
	// REGISTER the store could not serve (default 5).
	RetryAfter int
}

// Registrar answers REGISTER requests.
type Registrar struct {
	cfg      Config
	domains  map[string]bool
	lastDate atomic.Pointer[sipDate] // see date
}

// New checks cfg, fills in defaults and returns a Registrar.
func New(cfg Config) (*Registrar, error) {
	if cfg.Store == nil {
		return nil, errors.New("registrar: Config.Store is required")
	}
	if cfg.MinExpires == 0 {
		cfg.MinExpires = 60
	}
	if cfg.MaxExpires == 0 {
		cfg.MaxExpires = 3600
	}
	if cfg.DefaultExpires == 0 {
		cfg.DefaultExpires = 3600
	}
	if cfg.MinExpires < 0 || cfg.MaxExpires < cfg.MinExpires {
		return nil, fmt.Errorf("registrar: need 0 < MinExpires (%d) <= MaxExpires (%d)", cfg.MinExpires, cfg.MaxExpires)
	}
	if cfg.DefaultExpires < 0 {
		return nil, fmt.Errorf("registrar: DefaultExpires %d < 0", cfg.DefaultExpires)
	}
	// A default outside the bounds would make UAs that send no expiry get
	// 423; keep it inside instead.
	cfg.DefaultExpires = min(max(cfg.DefaultExpires, cfg.MinExpires), cfg.MaxExpires)
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = 5
	}
	r := &Registrar{cfg: cfg, domains: map[string]bool{}}
	for _, d := range cfg.Domains {
		r.domains[strings.ToLower(d)] = true
	}
	return r, nil
}

// supported lists the option tags this registrar implements; a Require for
// anything else is answered 420 (§8.2.2.3, §10.3 step 2).
var supported = []string{"path"}

// supportedHeader is the Supported value of every 200.
var supportedHeader = strings.Join(supported, ", ")

// dateFormat is the SIP-date of §20.17 (RFC 1123 with "GMT").
const dateFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

// contact is one parsed Contact of the request, ready to store.
type contact struct {
	b       location.Binding
	expires int // granted seconds; 0 removes
}

// Register processes a REGISTER and returns the response to send. It
// never returns nil.
func (r *Registrar) Register(ctx context.Context, req *sip.Request) *sip.Response {
	if req.Method != sip.REGISTER {
		resp := r.reply(req, 405, "")
		resp.Add("Allow", sip.REGISTER)
		return resp
	}

	// Step 1: are we the registrar for the Request-URI's domain? We do not
	// forward REGISTERs, so a foreign domain is answered 404 (§10.3 step 1
	// allows 404 or proxying).
	if !req.URI.IsSIP() {
		return r.reply(req, 416, "")
	}
	if !r.ours(req.URI.Host) {
		return r.reply(req, 404, "Not Found: not our domain")
	}

	// Step 2: Require. Anything but path is unsupported (§8.2.2.3).
	var unsupported []string
	for tok := range req.Values("Require") {
		if !r.supports(tok) {
			unsupported = append(unsupported, tok)
		}
	}
	if len(unsupported) > 0 {
		resp := r.reply(req, 420, "")
		resp.Add("Unsupported", strings.Join(unsupported, ", "))
		return resp
	}

	// Step 5: the address-of-record from To.
	to, err := req.To()
	if err != nil {
		return r.reply(req, 400, "Bad To")
	}
	if !to.URI.IsSIP() {
		// §10.2: the address-of-record is a SIP or SIPS URI. A tel: or
		// http: To is a malformed REGISTER, not a user we lack.
		return r.reply(req, 400, "Bad To: not a SIP or SIPS URI")
	}
	if !r.ours(to.URI.Host) {
		return r.reply(req, 404, "Not Found: not our domain")
	}
	aorURI := to.URI
	if r.alias(aorURI.Host) {
		aorURI.Host = r.cfg.Domains[0]
	}
	aor, err := location.CanonicalAOR(&aorURI)
	if err != nil {
		return r.reply(req, 404, "")
	}
	if r.cfg.UserExists != nil && !r.cfg.UserExists(to.URI.UserUnescaped()) {
		return r.reply(req, 404, "")
	}

	callID := req.CallID()
	cseq, err := req.CSeq()
	if err != nil || callID == "" {
		return r.reply(req, 400, "Bad CSeq or Call-ID")
	}

	// Step 6: the Contacts.
	now := r.cfg.Clock()
	contacts, wildcard, resp := r.parseContacts(req, aor, callID, cseq.Seq, now)
	if resp != nil {
		return resp
	}

	// Step 7: check every update against the stored bindings, then apply
	// them all ("committed if and only if all binding updates and
	// additions succeed") in one atomic update of the AOR, so that no
	// REGISTER for the same user, on this server or another sharing the
	// store, comes between the check and the write.
	store := r.cfg.Store
	var current []location.Binding
	if wildcard || len(contacts) > 0 {
		seq := cseq.Seq
		current, err = store.Update(ctx, aor, func(cur []location.Binding) ([]location.Binding, error) {
			if resp := r.checkOrder(req, cur, contacts, wildcard, callID, seq); resp != nil {
				return nil, &refusal{resp}
			}
			next := applied(cur, contacts, wildcard)
			if len(next) > location.MaxBindings {
				return nil, &refusal{r.reply(req, 403, "Forbidden: Too Many Contacts")}
			}
			return next, nil
		})
		if ref, ok := err.(*refusal); ok {
			return ref.resp
		}
	} else {
		current, err = store.Lookup(ctx, aor)
	}
	if err != nil {
		return r.storeFailed(req, err)
	}

	// Step 8: 200 OK with every current binding.
	resp = r.reply(req, 200, "")
	var buf []byte
	for i := range current {
		buf = appendContact(buf[:0], &current[i], now)
		resp.Add("Contact", string(buf))
	}
	// RFC 3327 §5.3: the Path vector goes back to a UA that said it
	// understands it; the registrar stores it either way.
	if req.HasOption("Supported", "path") || req.HasOption("Require", "path") {
		for p := range req.Values("Path") {
			resp.Add("Path", p)
		}
	}
	resp.Add("Supported", supportedHeader)
	resp.Add("Date", r.date(now))
	return resp
}

// refusal ends an Update whose request is answered with an error
// response (stale CSeq, too many contacts): nothing is stored.
type refusal struct{ resp *sip.Response }

func (r *refusal) Error() string { return "registrar: update refused: " + r.resp.Reason }

// applied returns the bindings of an AOR after the request's changes:
// current with each contact put in order — what it matches removed, itself
// added unless it expires now (the meaning of location.Store.Put). A
// wildcard removed everything first.
func applied(current []location.Binding, contacts []contact, wildcard bool) []location.Binding {
	if wildcard {
		current = current[:0]
	}
	for i := range contacts {
		c := &contacts[i].b
		current = slices.DeleteFunc(current, func(b location.Binding) bool { return b.Matches(c) })
		if contacts[i].expires > 0 {
			current = append(current, *c)
		}
	}
	return current // the store sorts what it keeps
}

// appendContact appends the Contact value of a binding in a 200 to
// REGISTER: the contact with its parameters and its remaining expiry
// (§10.3 step 8).
func appendContact(dst []byte, b *location.Binding, now time.Time) []byte {
	params := sip.Params(b.Params)
	if _, ok := params.Get("expires"); ok {
		params = params.Without("expires") // the registrar stores none; another writer might
	}
	dst = append(dst, '<')
	dst = append(dst, b.Contact...)
	dst = append(dst, '>')
	dst = append(dst, params...)
	dst = append(dst, ";expires="...)
	return strconv.AppendInt(dst, int64(b.ExpiresIn(now)), 10)
}

// date returns the Date header value for now, formatted once per second.
func (r *Registrar) date(now time.Time) string {
	sec := now.Unix()
	if d := r.lastDate.Load(); d != nil && d.sec == sec {
		return d.value
	}
	d := &sipDate{sec: sec, value: now.UTC().Format(dateFormat)}
	r.lastDate.Store(d)
	return d.value
}

type sipDate struct {
	sec   int64
	value string
}

func (r *Registrar) supports(tok string) bool {
	for _, s := range supported {
		if strings.EqualFold(s, tok) {
			return true
		}
	}
	return false
}

func (r *Registrar) ours(host string) bool {
	if len(r.domains) == 0 {
		return host != ""
	}
	return r.domains[strings.ToLower(host)] || r.alias(host)
}

// alias reports whether host is an alias of the first domain.
func (r *Registrar) alias(host string) bool {
	return r.cfg.Aliases != nil && len(r.cfg.Domains) > 0 && r.cfg.Aliases(host) && !r.domains[strings.ToLower(host)]
}

// parseContacts reads the Contact and Expires headers into bindings
// (§10.3 step 6, §10.2.1, §10.2.2) or returns the error response.
func (r *Registrar) parseContacts(req *sip.Request, aor, callID string, cseq uint32, now time.Time) ([]contact, bool, *sip.Response) {
	// The Expires header applies to contacts without their own expires.
	headerExpires := -1
	if req.Has("Expires") {
		n, ok := req.Expires()
		if !ok {
			return nil, false, r.reply(req, 400, "Bad Expires")
		}
		headerExpires = n
	}
	var paths []string
	for p, err := range req.Paths() {
		if err != nil {
			return nil, false, r.reply(req, 400, "Bad Path")
		}
		paths = append(paths, p.String())
	}
	if len(paths) > location.MaxPath {
		return nil, false, r.reply(req, 400, "Too Many Path Values")
	}

	var contacts []contact
	wildcard := false
	n := 0
	for a, err := range req.Contacts() {
		n++
		if err != nil {
			return nil, false, r.reply(req, 400, "Bad Contact")
		}
		if a.Wildcard {
			wildcard = true
			continue
		}
		c, resp := r.contact(req, &a, headerExpires)
		if resp != nil {
			return nil, false, resp
		}
		c.b.AOR, c.b.CallID, c.b.CSeq = aor, callID, cseq
		c.b.Path = paths
		c.b.Source, c.b.Local, c.b.Transport = req.Origin.Source, req.Origin.Local, req.Origin.Transport
		c.b.UserAgent = req.UserAgent()
		c.b.Node = r.cfg.Node
		c.b.Updated = now
		c.b.Expires = now.Add(time.Duration(c.expires) * time.Second)
		contacts = append(contacts, c)
	}
	// §10.2.2: "*" only with Expires: 0 and nothing else; otherwise 400.
	if wildcard && (n != 1 || headerExpires != 0) {
		return nil, false, r.reply(req, 400, "Invalid Contact: * needs Expires: 0 and no other Contact")
	}
	// 423 if any contact asks for less than MinExpires but more than 0.
	for _, c := range contacts {
		if c.expires > 0 && c.expires < r.cfg.MinExpires {
			resp := r.reply(req, 423, "")
			resp.Add("Min-Expires", strconv.Itoa(r.cfg.MinExpires))
			return nil, false, resp
		}
	}
	return contacts, wildcard, nil
}

// contact turns one Contact value into a binding (without the request-wide
// fields) and its granted expiry.
func (r *Registrar) contact(req *sip.Request, a *sip.Address, headerExpires int) (contact, *sip.Response) {
	var c contact
	uri := a.URI.String()
	if len(a.Params) > location.MaxFieldLen || len(uri) > location.MaxFieldLen {
		return c, r.reply(req, 400, "Contact Too Long")
	}
	exp := r.cfg.DefaultExpires
	if headerExpires >= 0 {
		exp = headerExpires
	}
	if v, ok := a.Params.Get("expires"); ok {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			// A huge number is still a number: §20.19 says to clamp.
			if ne, ok := err.(*strconv.NumError); !ok || ne.Err != strconv.ErrRange {
				return c, r.reply(req, 400, "Bad Contact expires")
			}
			n = 1<<32 - 1
		}
		exp = int(min(n, 1<<32-1))
	}
	c.expires = min(exp, r.cfg.MaxExpires)

	q := location.QMax
	if v, ok := a.Params.Get("q"); ok {
		var err error
		if q, err = location.ParseQ(v); err != nil {
			return c, r.reply(req, 400, "Bad Contact q")
		}
	}
	c.b.Q = q

	// RFC 5626 §4.1 and §4.2. reg-id without +sip.instance is ignored
	// (§6); a reg-id that is not a positive 31-bit number is a bad request.
	if v, ok := a.Params.Get("+sip.instance"); ok {
		c.b.InstanceID = sip.Unquote(v)
		if v, ok := a.Params.Get("reg-id"); ok {
			n, err := strconv.ParseUint(v, 10, 31)
			if err != nil || n == 0 {
				return c, r.reply(req, 400, "Bad Contact reg-id")
			}
			c.b.RegID = uint32(n)
		}
	}
	c.b.Contact = uri
	c.b.Params = string(a.Params.Without("expires"))
	return c, nil
}

// checkOrder applies the Call-ID/CSeq rule of §10.3 step 7 to every
// binding the request would change: when the Call-ID equals the stored
// one, the CSeq must be higher, else "the update MUST be aborted and the
// request fails".
//
// The RFC names no status code. We answer 500 and name the stale CSeq in
// the reason, as common registrars do. Not 400: the request is well formed,
// it is only out of order (a delayed copy of an older REGISTER, or a UA
// that reused a CSeq). Not 4xx at all, because 4xx tells the UA "do not
// repeat this request unchanged" about a request that was never wrong in
// itself; 500 says this server could not apply it, and a UA's next
// REGISTER, with a higher CSeq as §10.2.4 requires, succeeds. No
// Retry-After: repeating this very request would fail again.
func (r *Registrar) checkOrder(req *sip.Request, current []location.Binding, contacts []contact, wildcard bool, callID string, cseq uint32) *sip.Response {
	stale := func(b *location.Binding) *sip.Response {
		if b.CallID == callID && cseq <= b.CSeq {
			return r.reply(req, 500, fmt.Sprintf("Stale CSeq %d: binding has %d", cseq, b.CSeq))
		}
		return nil
	}
	for i := range current {
		b := &current[i]
		if wildcard {
			if resp := stale(b); resp != nil {
				return resp
			}
			continue
		}
		for j := range contacts {
			if b.Matches(&contacts[j].b) {
				if resp := stale(b); resp != nil {
					return resp
				}
			}
		}
	}
	return nil
}

// storeFailed answers a REGISTER the store could not serve. A binding the
// store refuses (location.ErrInvalid: the registrar checks what it
// stores, so this is a bug) is 500. Anything else — a shared store that is
// down or slow (location.ErrUnavailable, a deadline), too many concurrent
// updates (location.ErrConflict), a store shutting down — is temporary:
// 503 with Retry-After (§21.5.4), which also tells a phone with several
// servers (RFC 3263) to try the next one.
func (r *Registrar) storeFailed(req *sip.Request, err error) *sip.Response {
	if errors.Is(err, location.ErrInvalid) {
		return r.reply(req, 500, "Location Store Rejected Binding")
	}
	resp := r.reply(req, 503, "Location Store Unavailable")
	resp.Add("Retry-After", strconv.Itoa(r.cfg.RetryAfter))
	return resp
}

// reply makes a response with a To tag, which every final response of a
// UAS carries (§8.2.6.2).
func (r *Registrar) reply(req *sip.Request, code int, reason string) *sip.Response {
	resp := sip.NewResponse(req, code, reason)
	resp.SetToTag(strconv.FormatUint(rand.Uint64(), 36))
	return resp
}
