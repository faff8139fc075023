package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
	"github.com/parley-sip/parley/transport"
	"github.com/parley-sip/parley/transport/locate"
)

// DefaultLocateTimeout bounds one Locator call when Config.LocateTimeout is
// zero.
const DefaultLocateTimeout = 5 * time.Second

// DefaultResolveTimeout bounds one next-hop lookup when
// Config.ResolveTimeout is zero.
const DefaultResolveTimeout = 5 * time.Second

// Config is what a Proxy is built from.
type Config struct {
	// Transactions forwards requests in client transactions; Transport
	// (the layer under it) gives the listener addresses for Via and
	// Record-Route and sends what is forwarded statelessly.
	Transactions *transaction.Layer
	Transport    *transport.Layer

	// Domains are the domains the proxy is responsible for: a
	// Request-URI there, with no Route left, is resolved with Locator.
	// An entry is "host" or "host:port"; a host name without port matches
	// any port, an IP address without port matches our listening ports.
	// The listeners' own addresses are always included.
	Domains []string
	// Locator finds the targets of requests for our domains. Nil answers
	// every such request 404.
	Locator Locator
	// LocateTimeout bounds one Locate call (default 5 s); a Locator that
	// fails or times out gets the caller a 500.
	LocateTimeout time.Duration

	// Resolver finds the addresses of a next hop given by URI (RFC 3263
	// §4); a branch whose address fails with a transport error, a
	// timeout without response or a 503 is tried at the next one (§4.3).
	// Default: locate.NewSystem (the Go resolver: SRV and A/AAAA, no
	// NAPTR).
	Resolver locate.Resolver
	// ResolveTimeout bounds one Resolver lookup (default 5 s); a lookup
	// that times out fails the branch like a transport error.
	ResolveTimeout time.Duration
	// DownTime is how long an address that failed (transport error,
	// timeout without response, 503 without Retry-After) is tried after
	// the other addresses of its list (default 30 s). A 503's
	// Retry-After, up to 5 minutes, takes its place.
	DownTime time.Duration

	// RecordRoute keeps the proxy on the path of the dialogs that INVITE,
	// SUBSCRIBE and REFER create (§16.6 step 4). The server turns it on.
	RecordRoute bool
	// RouteKey, when set, signs every Record-Route value (see
	// RouteVerified): the server refuses in-dialog requests that do not
	// come along a route it recorded. At least 16 bytes.
	RouteKey []byte

	// RetryAfter is the Retry-After, in seconds, of the 503 answered when
	// the location store is unavailable (default 5).
	RetryAfter int

	// Logger receives debug logs of routing decisions (default: discard).
	Logger *slog.Logger
}

// Proxy is a stateful forking proxy. Its methods are safe for concurrent
// use.
type Proxy struct {
	txl     *transaction.Layer
	tp      *transport.Layer
	locator Locator
	rr      bool
	timeout time.Duration
	log     *slog.Logger
	domains []hostPort
	signer  *routeSigner // nil: Record-Route unsigned

	resolver       locate.Resolver
	resolveTimeout time.Duration
	down           *downList

	retryAfter int

	// me caches who we are (listeners and domains), built on first use:
	// the server opens its listeners after building the proxy.
	me atomic.Pointer[identity]

	// live counts the branches whose client transaction has not yet
	// said its last (RequestFunc's f(nil)), so tests can check that none
	// outlives its transaction.
	live atomic.Int64
}

// hostPort is a Domains entry or a listener address.
type hostPort struct {
	host string // lower case; IPv6 without brackets
	port int    // 0: see Config.Domains
	ip   bool
}

// New builds a proxy.
func New(cfg Config) (*Proxy, error) {
	if cfg.Transactions == nil || cfg.Transport == nil {
		return nil, errors.New("proxy: Transactions and Transport are required")
	}
	p := &Proxy{
		txl:     cfg.Transactions,
		tp:      cfg.Transport,
		locator: cfg.Locator,
		rr:      cfg.RecordRoute,
		timeout: cfg.LocateTimeout,
		log:     cfg.Logger,
	}
	if p.timeout <= 0 {
		p.timeout = DefaultLocateTimeout
	}
	p.resolver, p.resolveTimeout = cfg.Resolver, cfg.ResolveTimeout
	if p.resolver == nil {
		p.resolver = locate.NewSystem(locate.SystemConfig{})
	}
	p.down = newDownList(cfg.DownTime)
	if p.resolveTimeout <= 0 {
		p.resolveTimeout = DefaultResolveTimeout
	}
	p.retryAfter = cfg.RetryAfter
	if p.retryAfter <= 0 {
		p.retryAfter = 5
	}
	if len(cfg.RouteKey) > 0 {
		if len(cfg.RouteKey) < 16 {
			return nil, errors.New("proxy: RouteKey must have at least 16 bytes")
		}
		p.signer = newRouteSigner(cfg.RouteKey)
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	for _, d := range cfg.Domains {
		hp, err := parseDomain(d)
		if err != nil {
			return nil, err
		}
		p.domains = append(p.domains, hp)
	}
	return p, nil
}

func parseDomain(s string) (hostPort, error) {
	s = strings.TrimSpace(s)
	u, err := sip.ParseURI("sip:" + s)
	if err != nil || u.Host == "" || u.User != "" || u.Params != "" {
		return hostPort{}, errors.New("proxy: bad domain " + `"` + s + `"`)
	}
	return newHostPort(u.Host, u.Port), nil
}

func newHostPort(host string, port int) hostPort {
	h := strings.ToLower(strings.Trim(host, "[]"))
	_, err := netip.ParseAddr(h)
	return hostPort{host: h, port: port, ip: err == nil}
}

// identity is the set of addresses that mean "this proxy".
type identity struct {
	listeners []transport.Addr
	ports     []int
}

func (p *Proxy) identity() *identity {
	if id := p.me.Load(); id != nil {
		return id
	}
	id := &identity{listeners: p.tp.LocalAddrs()}
	for _, a := range id.listeners {
		id.ports = append(id.ports, int(a.AddrPort.Port()))
	}
	if len(id.listeners) > 0 {
		// Cache only once something listens; a proxy used before its
		// listeners open must not remember an empty identity.
		p.me.Store(id)
	}
	return id
}

// isListener reports whether host:port is one of our listening addresses.
// A listener on an unspecified address (0.0.0.0, ::) answers for the
// loopback addresses; other local addresses of such a listener must be
// named in Config.Domains.
func (id *identity) isListener(host string, port int, uriTransport string) bool {
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return false
	}
	a = a.Unmap()
	if port == 0 {
		port = defaultPort(uriTransport)
	}
	for _, l := range id.listeners {
		if int(l.AddrPort.Port()) != port {
			continue
		}
		la := l.AddrPort.Addr().Unmap()
		if la == a || la.IsUnspecified() && a.IsLoopback() {
			return true
		}
	}
	return false
}

func defaultPort(t string) int {
	switch strings.ToUpper(t) {
	case transport.TLS, transport.WSS:
		return 5061
	}
	return 5060
}

// IsOurs reports whether a SIP URI names this proxy — one of its listening
// addresses — or one of its domains (§16.4, §16.5).
func (p *Proxy) IsOurs(u *sip.URI) bool { return p.isOurs(u) }

func (p *Proxy) isOurs(u *sip.URI) bool {
	if !u.IsSIP() {
		return false
	}
	id := p.identity()
	if id.isListener(u.Host, u.Port, uriTransport(u)) {
		return true
	}
	h := strings.Trim(u.Host, "[]")
	for _, d := range p.domains {
		if !strings.EqualFold(d.host, h) {
			continue
		}
		switch {
		case d.port != 0:
			if u.Port == d.port || u.Port == 0 && d.port == defaultPort(uriTransport(u)) {
				return true
			}
		case !d.ip || u.Port == 0:
			return true
		default:
			for _, port := range id.ports {
				if port == u.Port {
					return true
				}
			}
		}
	}
	return false
}

// ServeSIP proxies a request that started a server transaction. It returns
// once the request is forwarded (or answered); responses are relayed later
// by the branches' goroutines.
func (p *Proxy) ServeSIP(stx *transaction.ServerTx) {
	req := stx.Request()
	switch req.Method {
	case sip.ACK:
		// Not a transaction; the layer gives these to OnAck. Be kind
		// to a caller that wires them here anyway.
		p.HandleAck(req)
		return
	case sip.CANCEL:
		// The transaction layer matched every CANCEL whose INVITE we
		// proxy, answered it and told the response context. One that
		// reaches us matches nothing: we never forward an INVITE
		// statelessly, so there is nothing downstream it could cancel
		// and the answer is the UAS's (§9.2).
		p.respond(stx, sip.StatusCallTransactionDoesNotExist, "")
		return
	}
	if code, reason, unsupported := p.validate(req); code != 0 {
		p.debug("rejected", req, "status", code, "reason", reason)
		resp := sip.NewResponse(req, code, reason)
		if unsupported != "" {
			resp.Add("Unsupported", unsupported)
		}
		p.respondWith(stx, resp)
		return
	}
	invite := req.Method == sip.INVITE
	if invite {
		// §16.2: a stateful proxy answers an INVITE with 100 at once, so
		// the caller stops retransmitting while we look targets up.
		_ = stx.Respond(sip.NewResponse(req, sip.StatusTrying, ""))
	}
	hash := loopHash(req)
	base := req.Clone()
	flows := p.preprocessRoutes(base)
	// §16.6 step 3, done once for all branches.
	if mf, ok := base.MaxForwards(); ok {
		base.Set("Max-Forwards", itoa(mf-1))
	} else {
		base.Set("Max-Forwards", "70")
	}
	var targets []Target
	var code int
	var reason string
	if to := flows.other(req.Origin.Source); to.AddrPort.IsValid() && !base.Has("Route") {
		// In-dialog, through our Record-Route, from one end: the other
		// end's flow reaches it even when its Contact is private.
		targets = []Target{{URI: base.URI, Q: 1000, Flow: to}}
	} else {
		targets, code, reason = p.targets(base)
	}
	if code != 0 {
		p.debug("no targets", req, "status", code, "reason", reason)
		resp := sip.NewResponse(req, code, reason)
		if code == sip.StatusServiceUnavailable {
			resp.Add("Retry-After", strconv.Itoa(p.retryAfter))
		}
		p.respondWith(stx, resp)
		return
	}
	newContext(p, stx, base, hash).start(targets)
}

// validate applies §16.3 steps 3 to 5 and returns the status to answer
// (0: go on).
func (p *Proxy) validate(req *sip.Request) (code int, reason, unsupported string) {
	if !req.URI.IsSIP() && !req.URI.IsTel() {
		return sip.StatusUnsupportedURIScheme, "", ""
	}
	if mf, ok := req.MaxForwards(); ok && mf == 0 {
		return sip.StatusTooManyHops, "", ""
	}
	if p.looped(req) {
		return sip.StatusLoopDetected, "", ""
	}
	// We support no option tag a proxy could be required to (§16.3
	// step 5): every one named is unsupported.
	var tags []string
	for tag := range req.Values("Proxy-Require") {
		tags = append(tags, tag)
	}
	if len(tags) > 0 {
		return sip.StatusBadExtension, "", strings.Join(tags, ", ")
	}
	return 0, "", ""
}

// preprocessRoutes applies §16.4 to req (a copy of what was received) and
// returns the dialog flows found in the Route values of ours it removed.
func (p *Proxy) preprocessRoutes(req *sip.Request) dialogFlows {
	var flows dialogFlows
	if p.isOwnRecordRoute(&req.URI) && req.Has("Route") {
		if f, ok := parseFlowToken(req.URI.User); ok && p.routeSigned(&req.URI, req.CallID()) {
			flows = f
		}
		// A strict router upstream put our Record-Route value into the
		// Request-URI and pushed the real Request-URI to the end of
		// Route (§12.2.1.1, §16.4): take it back.
		routes := routeValues(req)
		last, err := sip.ParseAddress(routes[len(routes)-1])
		if err == nil {
			req.URI = last.URI
			req.Del("Route")
			for _, r := range routes[:len(routes)-1] {
				req.Add("Route", r)
			}
		}
	}
	// Loose routing: remove the Route values that name us. Two in a row
	// are the double Record-Route of RFC 5658.
	for {
		r, ok := topRoute(req)
		if !ok || !p.isOurs(&r.URI) {
			return flows
		}
		// A flow token says where to send: only one we signed counts.
		if f, ok := parseFlowToken(r.URI.User); ok && p.routeSigned(&r.URI, req.CallID()) {
			flows = f
		}
		req.RemoveFirstValue("Route")
	}
}

// isOwnRecordRoute reports whether u looks like a URI we put into
// Record-Route: no user part but maybe a flow token, our address, lr.
func (p *Proxy) isOwnRecordRoute(u *sip.URI) bool {
	return u.IsSIP() && (u.User == "" || strings.HasPrefix(u.User, flowTokenPrefix)) && u.Params.Has("lr") && p.isOurs(u)
}

func topRoute(req *sip.Request) (sip.Address, bool) {
	for a, err := range req.Routes() {
		return a, err == nil
	}
	return sip.Address{}, false
}

func routeValues(req *sip.Request) []string {
	var out []string
	for v := range req.Values("Route") {
		out = append(out, v)
	}
	return out
}

// targets determines where req goes (§16.5). A non-zero code is the answer
// when there is nowhere.
func (p *Proxy) targets(req *sip.Request) ([]Target, int, string) {
	if req.Has("Route") || !p.isOurs(&req.URI) {
		// Not ours to resolve: the Request-URI is the only target, and
		// the next hop is the top Route or the Request-URI (§16.5,
		// §16.6 step 7).
		if !req.Has("Route") && !req.URI.IsSIP() {
			return nil, sip.StatusNotFound, "Not Found: no route for " + req.URI.Scheme + " URI"
		}
		return []Target{{URI: req.URI, Q: 1000}}, 0, ""
	}
	if p.locator == nil {
		return nil, sip.StatusNotFound, "Not Found: no such user"
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	ts, err := p.locator.Locate(ctx, req.URI)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, sip.StatusNotFound, "Not Found: no such user"
	case errors.Is(err, location.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		// A shared store that is down or slow: another node, or this
		// one a moment later, may do better (RFC 3261 §21.5.4).
		p.log.Warn("proxy: location store unavailable", "uri", req.URI.String(), "err", err)
		return nil, sip.StatusServiceUnavailable, "Service Unavailable: location store unavailable"
	case err != nil:
		p.log.Debug("proxy: locate failed", "uri", req.URI.String(), "err", err)
		return nil, sip.StatusServerInternalError, "Server Internal Error: location service failed"
	case len(ts) == 0:
		return nil, sip.StatusTemporarilyUnavailable, "Temporarily Unavailable: not registered"
	}
	return ts, 0, ""
}

func (p *Proxy) respond(stx *transaction.ServerTx, code int, reason string) {
	p.respondWith(stx, sip.NewResponse(stx.Request(), code, reason))
}

func (p *Proxy) respondWith(stx *transaction.ServerTx, resp *sip.Response) {
	if resp.StatusCode > 100 && resp.ToTag() == "" {
		resp.SetToTag(transaction.NewTag())
	}
	if err := stx.Respond(resp); err != nil {
		p.log.Debug("proxy: respond failed", "status", resp.StatusCode, "err", err)
	}
}

func (p *Proxy) debug(msg string, req *sip.Request, args ...any) {
	if !p.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	args = append(args, "method", req.Method, "uri", req.URI.String(), "call-id", req.CallID())
	p.log.Debug("proxy: "+msg, args...)
}
