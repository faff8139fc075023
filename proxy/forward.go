package proxy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
	"github.com/parley-sip/parley/transport"
)

// branchPrefix starts the branch of every Via this proxy writes on a
// stateful branch: the magic cookie, a marker, then the 16 hex digits of
// the loop-detection hash, a dot and a random part unique to the branch.
const branchPrefix = sip.MagicCookie + "Px"

// statelessPrefix starts the branch of ACKs forwarded statelessly; it is
// derived from the incoming branch so that retransmissions keep it
// (§16.11).
const statelessPrefix = sip.MagicCookie + "Pa"

// loopHash is the part of our branch that §16.6 step 8 and §16.3 step 4 use
// to tell a loop from a spiral: a hash of what stays the same when the
// same request comes back unchanged — Request-URI as received, To and From
// tags, Call-ID, CSeq number, Route, Proxy-Require and Proxy-Authorization.
// The RFC's list also names the topmost Via, but that value is written by
// the previous hop and differs on every pass around a loop, which would
// make every loop look like a spiral; it is left out.
func loopHash(req *sip.Request) string {
	h := fnvHash(fnvOffset)
	h = h.uri(&req.URI)
	h = h.str(req.ToTag())
	h = h.str(req.FromTag())
	h = h.str(req.CallID())
	if cs, err := req.CSeq(); err == nil {
		h = h.str(strconv.FormatUint(uint64(cs.Seq), 10))
	}
	for _, f := range req.Fields() {
		if f.Is("Route") || f.Is("Proxy-Require") || f.Is("Proxy-Authorization") {
			h = h.str(f.Value)
		}
	}
	return hex16(h)
}

// fnvHash is FNV-1a 64 written out, so that hashing strings costs no
// allocation (hash.Hash takes []byte through an interface).
type fnvHash uint64

const fnvOffset, fnvPrime = 14695981039346656037, 1099511628211

// str hashes s and a separator, so that ("ab","c") and ("a","bc") differ.
func (h fnvHash) str(s string) fnvHash {
	for i := 0; i < len(s); i++ {
		h = (h ^ fnvHash(s[i])) * fnvPrime
	}
	return (h ^ 0xff) * fnvPrime
}

func (h fnvHash) uri(u *sip.URI) fnvHash {
	var b [256]byte
	for _, c := range u.AppendTo(b[:0]) {
		h = (h ^ fnvHash(c)) * fnvPrime
	}
	return (h ^ 0xff) * fnvPrime
}

// looped reports a request that has passed here before with the same loop
// hash: a Via with our sent-by whose branch carries the hash this request
// would get now (§16.3 step 4). The same sent-by with another hash is a
// spiral — the request came back changed, for instance retargeted — and is
// processed normally.
func (p *Proxy) looped(req *sip.Request) bool {
	var hash string
	id := p.identity()
	for v, err := range req.Vias() {
		if err != nil {
			continue
		}
		br := v.Branch()
		if !strings.HasPrefix(br, branchPrefix) || len(br) < len(branchPrefix)+16 {
			continue
		}
		if !id.isListener(v.Host, v.Port, v.Transport) {
			continue
		}
		if hash == "" {
			hash = loopHash(req)
		}
		if br[len(branchPrefix):len(branchPrefix)+16] == hash {
			return true
		}
	}
	return false
}

// uriTransport is the transport a URI asks for (§19.1.1, §26.2): its
// transport parameter, TLS for sips, else UDP. It names our own
// listeners; next hops are resolved by p.resolver (RFC 3263).
func uriTransport(u *sip.URI) string {
	t := strings.ToUpper(u.Transport())
	if u.IsSecure() {
		switch t {
		case transport.WS, transport.WSS:
			return transport.WSS
		}
		return transport.TLS
	}
	if t == "" {
		return transport.UDP
	}
	return t
}

// resolveURI is RFC 3263 §4 for a next-hop URI: the addresses to try in
// turn (§4.3), those of transports we have no listener for left out.
func (p *Proxy) resolveURI(u *sip.URI) ([]transport.Addr, error) {
	ctx, cancel := context.WithTimeout(context.Background(), p.resolveTimeout)
	defer cancel()
	hops, err := p.resolver.Lookup(ctx, *u)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return nil, fmt.Errorf("%w: resolving %s: %v", transport.ErrNoRoute, u.Host, err)
		}
		return nil, err
	}
	usable := hops[:0:0]
	for _, h := range hops {
		if _, _, ok := p.tp.ViaHost(h.Transport); ok {
			usable = append(usable, h)
		}
	}
	if len(usable) == 0 {
		if len(hops) == 0 {
			return nil, fmt.Errorf("%w: %s resolves to nothing", transport.ErrNoRoute, u.Host)
		}
		return nil, fmt.Errorf("%w: no %s listener", transport.ErrNoRoute, hops[0].Transport)
	}
	return p.down.order(usable), nil
}

// errWouldBlock: the next hop is a name to look up (see branchRequest).
var errWouldBlock = errors.New("proxy: next hop needs a DNS lookup")

// nextHops is §16.6 step 7: the flow of the target when it has one and no
// Path, else the top Route, else the Request-URI — as the list of
// addresses to try in turn (RFC 3263 §4.3).
func (p *Proxy) nextHops(req *sip.Request, t *Target) ([]transport.Addr, error) {
	if t.Flow.AddrPort.IsValid() && len(t.Path) == 0 {
		f := t.Flow
		if f.Transport == "" {
			f.Transport = transport.UDP
		}
		f.Transport = strings.ToUpper(f.Transport)
		return []transport.Addr{f}, nil
	}
	if r, ok := topRoute(req); ok {
		return p.resolveURI(&r.URI)
	}
	return p.resolveURI(&req.URI)
}

// recordRoutes reports whether a request gets Record-Route: out-of-dialog
// requests that create dialogs (§12.1, RFC 6665, RFC 3515). A mid-dialog
// Record-Route would change nothing (§12.2: the route set is fixed).
func recordRoutes(req *sip.Request) bool {
	switch req.Method {
	case sip.INVITE, sip.SUBSCRIBE, sip.REFER:
		return req.ToTag() == ""
	}
	return false
}

// rrValue is our Record-Route value for a listener transport, with a flow
// token as user part when there is one.
func (p *Proxy) rrValue(t, user, callID string) (string, bool) {
	host, port, ok := p.tp.ViaHost(t)
	if !ok {
		return "", false
	}
	b := make([]byte, 0, 96+len(user)+len(host))
	b = append(b, "<sip:"...)
	if user != "" {
		b = append(append(b, user...), '@')
	}
	b = append(b, host...)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(port), 10)
	b = append(b, ";transport="...)
	b = append(b, strings.ToLower(t)...)
	b = append(b, ";lr"...)
	if p.signer != nil {
		b = append(b, ";"+routeSigParam+"="...)
		b = p.signer.sign(b, user, callID)
	}
	b = append(b, '>')
	return string(b), true
}

// branchRequest builds the copy of base sent to one target (§16.6 steps 1,
// 2 and 5) and the next hops to try it on (step 7). base has already had
// its routes preprocessed and Max-Forwards decremented; branchFor adds
// what depends on the hop.
//
// With quick set it does not look names up: a next hop given by name fails
// with errWouldBlock, for the caller to try again where blocking is fine.
func (p *Proxy) branchRequest(base *sip.Request, t *Target, quick bool) (*sip.Request, []transport.Addr, error) {
	out := base.Clone()
	// Step 2: the target is the new Request-URI, without what a
	// Request-URI may not carry (a registered Contact's "?Route=..."
	// headers or method parameter, §19.1.1).
	out.URI = t.URI.AsRequestURI()
	// Step 5: the Path of the registration as pre-loaded Route, first
	// value on top.
	for i := len(t.Path) - 1; i >= 0; i-- {
		out.Prepend("Route", t.Path[i])
	}
	if quick && needsLookup(out) && !(t.Flow.AddrPort.IsValid() && len(t.Path) == 0) {
		return nil, nil, errWouldBlock
	}
	hops, err := p.nextHops(out, t) // step 7
	if err != nil {
		return nil, nil, err
	}
	return out, hops, nil
}

// branchFor finishes a copy of pre, made by branchRequest, for the next
// hop dst (§16.6 steps 4, 6 and 8): each hop tried gets a copy of its
// own, since Via and Record-Route name the transport used.
func (p *Proxy) branchFor(pre, in *sip.Request, t *Target, hash string, dst transport.Addr) (*sip.Request, error) {
	out := pre.Clone()
	// Step 6: a strict router as next hop gets the Request-URI it
	// expects — its own URI — and the real one goes to the end of Route.
	if r, ok := topRoute(out); ok && !r.URI.Params.Has("lr") {
		out.RemoveFirstValue("Route")
		out.Add("Route", "<"+out.URI.String()+">")
		out.URI = r.URI.AsRequestURI()
	}
	// Step 4: Record-Route. When the request changes transport, a
	// single value could not be right for both sides: RFC 5658 double
	// Record-Route, the incoming side below, the outgoing side on top
	// (the callee's route set starts at the top).
	if p.rr && recordRoutes(in) {
		tok := flowToken(in, t)
		if it := strings.ToUpper(in.Origin.Transport); it != "" && it != dst.Transport {
			if v, ok := p.rrValue(it, tok, in.CallID()); ok {
				out.Prepend("Record-Route", v)
			}
		}
		if v, ok := p.rrValue(dst.Transport, tok, in.CallID()); ok {
			out.Prepend("Record-Route", v)
		}
	}
	// Step 8: our Via, with the loop hash in its branch.
	host, port, ok := p.tp.ViaHost(dst.Transport)
	if !ok {
		return nil, fmt.Errorf("%w: no %s listener", transport.ErrNoRoute, dst.Transport)
	}
	branch := branchPrefix + hash + "." + transaction.NewTag()
	out.Prepend("Via", "SIP/2.0/"+dst.Transport+" "+host+":"+strconv.Itoa(port)+";branch="+branch)
	return out, nil
}

func itoa(n int) string { return strconv.Itoa(n) }
