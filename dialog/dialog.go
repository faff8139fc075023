// Package dialog keeps the state of SIP dialogs as RFC 3261 §12 defines it,
// for user agents on either side of a call.
//
//   - §12.1.1 (UAS) and §12.1.2 (UAC): creating a dialog from the INVITE and
//     the response that carries the To tag; the route set from Record-Route
//     (reversed on the UAC side), the remote target from Contact, the secure
//     flag, the local and remote sequence numbers.
//   - §12.1 and §13.2.2.4: early dialogs from 1xx responses with a To tag,
//     confirmed by the 2xx, whose route set then replaces the early one.
//   - §12.2.1.1: building requests inside a dialog — Request-URI, Route,
//     From, To, Call-ID, CSeq — for loose and strict (RFC 2543) next hops.
//   - §12.2.1.2 and §12.2.2: target refresh by re-INVITE and UPDATE
//     (RFC 3311), and validating received requests: an unknown dialog is
//     answered 481, a CSeq lower than the last one 500.
//
// A [Table] holds the live dialogs of a user agent keyed by [ID]; it and each
// [Dialog] are safe for concurrent use, because requests of one dialog arrive
// on the transaction layer's workers while the application acts on it from
// its own goroutines.
package dialog

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"

	"github.com/parley-sip/parley/sip"
)

// Errors returned by dialog operations. Validation failures are
// [*sip.StatusError] values wrapping these, carrying the status to answer.
var (
	// ErrNoDialog: the request names a dialog that does not exist (481).
	ErrNoDialog = errors.New("dialog: no such dialog")
	// ErrCSeqOrder: the request's CSeq is lower than the last one (500).
	ErrCSeqOrder = errors.New("dialog: CSeq out of order")
	// ErrNoTag: the message lacks the tag that identifies the dialog.
	ErrNoTag = errors.New("dialog: missing tag")
	// ErrNoContact: a dialog-creating message has no usable Contact
	// (§12.1.1, §12.1.2: it MUST carry one).
	ErrNoContact = errors.New("dialog: missing or bad Contact")
	// ErrTerminated: the dialog has ended.
	ErrTerminated = errors.New("dialog: terminated")
)

// ID identifies a dialog (§12): the Call-ID and the two tags, seen from our
// side.
type ID struct {
	CallID    string
	LocalTag  string
	RemoteTag string
}

func (id ID) String() string { return id.CallID + ";" + id.LocalTag + ";" + id.RemoteTag }

// IncomingID is the id of the dialog a received request belongs to: our tag
// is in To, theirs in From (§12.2.2).
func IncomingID(req *sip.Request) ID {
	return ID{CallID: req.CallID(), LocalTag: req.ToTag(), RemoteTag: req.FromTag()}
}

// ResponseID is the id of the dialog a response to our request belongs to:
// our tag is in From, theirs in To.
func ResponseID(resp *sip.Response) ID {
	return ID{CallID: resp.CallID(), LocalTag: resp.FromTag(), RemoteTag: resp.ToTag()}
}

// State is where a dialog is in its life (§12).
type State uint8

// Dialog states.
const (
	Early     State = iota // created by a provisional response with a To tag
	Confirmed              // a 2xx was sent or received
	Terminated
)

func (s State) String() string {
	switch s {
	case Early:
		return "early"
	case Confirmed:
		return "confirmed"
	}
	return "terminated"
}

// Dialog is one dialog. Its methods are safe for concurrent use.
type Dialog struct {
	mu sync.Mutex

	id    ID
	state State
	// Whether we created it as UAC (we sent the INVITE): the Call-ID is
	// ours, which decides the §14.1 glare back-off range.
	uac bool

	local, remote sip.Address // From and To of our requests, with their tags
	localContact  string      // our Contact value, for target refresh requests
	remoteTarget  sip.URI
	routes        []sip.Address // in the order our requests list them
	localSeq      uint32
	localSeqSet   bool
	remoteSeq     uint32
	remoteSeqSet  bool
	secure        bool
}

// NewUAC creates the dialog a UAC gets from a response with a To tag to its
// INVITE (§12.1.2): early for a 1xx, confirmed for a 2xx. req is the request
// as sent (after any authentication retry: its CSeq is the local sequence
// number).
func NewUAC(req *sip.Request, resp *sip.Response) (*Dialog, error) {
	if resp.ToTag() == "" {
		return nil, fmt.Errorf("%w: response without To tag", ErrNoTag)
	}
	from, err := req.From()
	if err != nil {
		return nil, err
	}
	to, err := resp.To()
	if err != nil {
		return nil, err
	}
	cseq, err := req.CSeq()
	if err != nil {
		return nil, err
	}
	d := &Dialog{
		id:          ResponseID(resp),
		uac:         true,
		local:       from,
		remote:      to,
		localSeq:    cseq.Seq,
		localSeqSet: true,
		// §12.1.2: secure when the request was sent over TLS with a sips
		// Request-URI.
		secure: req.URI.IsSecure(),
	}
	if c, ok := req.Get("Contact"); ok {
		d.localContact = c
	}
	if err := d.fromResponse(resp); err != nil {
		return nil, err
	}
	return d, nil
}

// fromResponse sets the route set (Record-Route reversed), remote target
// and state from a dialog-creating response.
func (d *Dialog) fromResponse(resp *sip.Response) error {
	var routes []sip.Address
	for a, err := range resp.RecordRoutes() {
		if err != nil {
			return fmt.Errorf("dialog: bad Record-Route: %w", err)
		}
		routes = append(routes, a)
	}
	for i, j := 0, len(routes)-1; i < j; i, j = i+1, j-1 {
		routes[i], routes[j] = routes[j], routes[i]
	}
	target, ok := firstContact(&resp.Headers)
	if !ok {
		// A 1xx may omit Contact; a 2xx must not (§12.1.2). Keep the
		// Request-URI as target until one comes.
		if resp.StatusCode >= 200 {
			return ErrNoContact
		}
		target = d.remote.URI
	}
	d.routes = routes
	d.remoteTarget = target
	d.state = Early
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		d.state = Confirmed
	}
	return nil
}

// NewUAS creates the dialog a UAS gets when it answers req with a 1xx or
// 2xx carrying localTag (§12.1.1). It starts early; call Confirm when the
// 2xx is sent. localContact is the Contact we put in our responses.
func NewUAS(req *sip.Request, localTag, localContact string) (*Dialog, error) {
	if req.FromTag() == "" {
		return nil, fmt.Errorf("%w: request without From tag", ErrNoTag)
	}
	from, err := req.From()
	if err != nil {
		return nil, err
	}
	to, err := req.To()
	if err != nil {
		return nil, err
	}
	cseq, err := req.CSeq()
	if err != nil {
		return nil, err
	}
	target, ok := firstContact(&req.Headers)
	if !ok {
		return nil, ErrNoContact
	}
	var routes []sip.Address
	for a, err := range req.RecordRoutes() {
		if err != nil {
			return nil, fmt.Errorf("dialog: bad Record-Route: %w", err)
		}
		routes = append(routes, a)
	}
	to.Params = to.Params.Without("tag").With("tag", localTag)
	return &Dialog{
		id:           ID{CallID: req.CallID(), LocalTag: localTag, RemoteTag: req.FromTag()},
		local:        to,
		remote:       from,
		localContact: localContact,
		remoteTarget: target,
		routes:       routes,
		remoteSeq:    cseq.Seq,
		remoteSeqSet: true,
		// §12.1.1: secure when the request arrived over TLS with a sips
		// Request-URI.
		secure: req.URI.IsSecure() && (req.Origin.Transport == "TLS" || req.Origin.Transport == "WSS"),
	}, nil
}

func firstContact(h *sip.Headers) (sip.URI, bool) {
	for a, err := range h.Contacts() {
		if err != nil || a.Wildcard {
			return sip.URI{}, false
		}
		return a.URI, true
	}
	return sip.URI{}, false
}

// ID returns the dialog's id.
func (d *Dialog) ID() ID {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.id
}

// State returns the dialog's state.
func (d *Dialog) State() State {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state
}

// IsUAC reports whether we sent the request that created the dialog, and so
// own its Call-ID (§14.1).
func (d *Dialog) IsUAC() bool { return d.uac }

// Secure reports the §12.1 secure flag.
func (d *Dialog) Secure() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.secure
}

// RemoteTarget returns the URI our requests go to (the peer's Contact).
func (d *Dialog) RemoteTarget() sip.URI {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.remoteTarget
}

// RouteSet returns a copy of the route set, in the order of our Route
// headers.
func (d *Dialog) RouteSet() []sip.Address {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]sip.Address(nil), d.routes...)
}

// Local returns our address with our tag (From of our requests).
func (d *Dialog) Local() sip.Address {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.local
}

// Remote returns the peer's address with its tag (To of our requests).
func (d *Dialog) Remote() sip.Address {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.remote
}

// LocalSeq and RemoteSeq return the sequence numbers (0 when not yet set).
func (d *Dialog) LocalSeq() uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.localSeq
}

// RemoteSeq returns the highest CSeq received from the peer.
func (d *Dialog) RemoteSeq() uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.remoteSeq
}

// Confirm moves an early dialog to confirmed: a UAS sent its 2xx.
func (d *Dialog) Confirm() {
	d.mu.Lock()
	if d.state == Early {
		d.state = Confirmed
	}
	d.mu.Unlock()
}

// Terminate ends the dialog.
func (d *Dialog) Terminate() {
	d.mu.Lock()
	d.state = Terminated
	d.mu.Unlock()
}

// UpdateFromResponse applies a further response to the dialog-creating
// INVITE on the UAC side: a 1xx refreshes the remote target when it carries
// a Contact; the 2xx confirms the dialog and recomputes the route set from
// its Record-Route (§13.2.2.4), since the early route set may have come from
// a different path.
func (d *Dialog) UpdateFromResponse(resp *sip.Response) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state == Terminated {
		return ErrTerminated
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 && d.state == Early {
		return d.fromResponse(resp)
	}
	if target, ok := firstContact(&resp.Headers); ok {
		d.remoteTarget = target
	}
	return nil
}

// TargetRefresh replaces the remote target with the Contact of msg: a
// re-INVITE or UPDATE received, or the 2xx to one we sent (§12.2.1.2,
// §12.2.2). A message without a Contact leaves it unchanged.
func (d *Dialog) TargetRefresh(msg sip.Message) {
	target, ok := firstContact(msg.Hdr())
	if !ok {
		return
	}
	d.mu.Lock()
	d.remoteTarget = target
	d.mu.Unlock()
}

// SetLocalContact changes the Contact our target refresh requests carry.
func (d *Dialog) SetLocalContact(c string) {
	d.mu.Lock()
	d.localContact = c
	d.mu.Unlock()
}

// LocalContact returns our Contact value.
func (d *Dialog) LocalContact() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.localContact
}

// ValidateRequest checks a request received in the dialog against the
// remote sequence number (§12.2.2) and records its CSeq. ACK and CANCEL
// carry the CSeq of the INVITE they belong to and are not checked. A lower
// CSeq yields a *sip.StatusError with code 500 wrapping ErrCSeqOrder.
func (d *Dialog) ValidateRequest(req *sip.Request) error {
	cseq, err := req.CSeq()
	if err != nil {
		return &sip.StatusError{Code: 400, Reason: "Bad CSeq", Err: err}
	}
	if req.Method == sip.ACK || req.Method == sip.CANCEL {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state == Terminated {
		return &sip.StatusError{Code: sip.StatusCallTransactionDoesNotExist, Reason: "Call/Transaction Does Not Exist", Err: ErrTerminated}
	}
	if d.remoteSeqSet && cseq.Seq < d.remoteSeq {
		return &sip.StatusError{Code: sip.StatusServerInternalError, Reason: "CSeq Out Of Order", Err: ErrCSeqOrder}
	}
	d.remoteSeq, d.remoteSeqSet = cseq.Seq, true
	return nil
}

// NewRequest builds a request within the dialog (§12.2.1.1): Request-URI
// and Route from the remote target and route set, From and To with the
// tags, the Call-ID, the next local CSeq (the UAS side starts from a random
// number below 2^31) and, for target refresh requests (INVITE, UPDATE), our
// Contact. The caller adds Via, Max-Forwards and a body. ACK and CANCEL are
// built elsewhere (NewACK; CANCEL copies the INVITE, §9.1).
func (d *Dialog) NewRequest(method string) (*sip.Request, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state == Terminated {
		return nil, ErrTerminated
	}
	if !d.localSeqSet {
		// §8.1.1.5: any value below 2^31; keep room to count up.
		d.localSeq, d.localSeqSet = uint32(rand.IntN(1<<16))+1, true
	} else {
		d.localSeq++
	}
	return d.build(method, d.localSeq), nil
}

// NextCSeq advances the local sequence number and returns it, for a
// request rebuilt from one NewRequest made — the retry with credentials
// after a 401/407 needs a new CSeq (§22.2) within the same dialog.
func (d *Dialog) NextCSeq() uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.localSeq++
	d.localSeqSet = true
	return d.localSeq
}

// NewACK builds the ACK for a 2xx to the INVITE with CSeq number seq
// (§13.2.2.4): the same CSeq number with method ACK, and the dialog's
// Request-URI and Route. The caller adds Via (with a new branch) and, when
// the offer was in the 2xx, the answer.
func (d *Dialog) NewACK(seq uint32) *sip.Request {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.build(sip.ACK, seq)
}

// build makes the request; d.mu is held.
func (d *Dialog) build(method string, seq uint32) *sip.Request {
	ruri, routes := d.routing()
	req := sip.NewRequest(method, ruri)
	for _, r := range routes {
		req.Add("Route", r)
	}
	req.Add("From", d.local.String())
	req.Add("To", d.remote.String())
	req.Add("Call-ID", d.id.CallID)
	req.Add("CSeq", sip.CSeq{Seq: seq, Method: method}.String())
	if (method == sip.INVITE || method == sip.UPDATE) && d.localContact != "" {
		req.Add("Contact", d.localContact)
	}
	return req
}

// routing returns the Request-URI and the Route values for a request, by
// the loose or strict routing rules of §12.2.1.1.
func (d *Dialog) routing() (sip.URI, []string) {
	if len(d.routes) == 0 {
		return d.remoteTarget, nil
	}
	if d.routes[0].URI.Params.Has("lr") {
		routes := make([]string, len(d.routes))
		for i := range d.routes {
			routes[i] = d.routes[i].String()
		}
		return d.remoteTarget, routes
	}
	// Strict router: its URI becomes the Request-URI, without the
	// parameters a Request-URI may not carry (§19.1.1 table: method,
	// headers), and the remote target goes last in Route.
	ruri := d.routes[0].URI.AsRequestURI()
	routes := make([]string, 0, len(d.routes))
	for i := 1; i < len(d.routes); i++ {
		routes = append(routes, d.routes[i].String())
	}
	target := sip.Address{URI: d.remoteTarget}
	routes = append(routes, target.String())
	return ruri, routes
}

// NextHop returns the URI whose host and port a request in the dialog is
// sent to (§8.1.2 with §12.2.1.1): the first route when there is a route
// set, else the remote target. ok is false when the route set is empty, so
// that a user agent with an outbound proxy may prefer that.
func (d *Dialog) NextHop() (u sip.URI, viaRoute bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.routes) > 0 {
		return d.routes[0].URI, true
	}
	return d.remoteTarget, false
}

// String describes the dialog for logs.
func (d *Dialog) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "dialog %s (%s) target %s", d.id, d.state, d.remoteTarget.String())
	return b.String()
}
