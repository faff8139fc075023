package locate

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// Resolver finds the ordered list of addresses to try for a URI (RFC 3263
// §4): the first is the one to use, the others are the failover order of
// §4.3. Lookup returns an error wrapping transport.ErrNoRoute when the URI
// names no reachable server, and the context's error when its deadline
// passes first. Implementations are safe for concurrent use.
type Resolver interface {
	Lookup(ctx context.Context, uri sip.URI) ([]transport.Addr, error)
}

// Limits on what one lookup collects: a zone may hold any number of
// records, and a caller tries only the first few targets anyway.
const (
	// MaxTargets caps the list Lookup returns.
	MaxTargets = 16
	// maxRecords caps the NAPTR or SRV records used from one answer, and
	// the addresses used per name.
	maxRecords = 32
	// maxNAPTR caps the NAPTR records followed (each costs SRV and
	// address queries).
	maxNAPTR = 4
)

// DefaultTransports are the transports a resolver considers for a URI
// without a transport parameter when its Transports field is empty, in
// order of preference (RFC 3263 §4.1 leaves the order to the client).
var defaultTransports = []string{transport.UDP, transport.TCP, transport.TLS}

// DefaultTransports returns the transports a resolver considers when its
// Transports field is empty: UDP, TCP and TLS, in that order.
func DefaultTransports() []string { return slices.Clone(defaultTransports) }

// naptr is a NAPTR record reduced to what §4.1 uses.
type naptr struct {
	order, pref uint16
	flags       string
	service     string
	replacement string
}

// srv is an SRV record (RFC 2782).
type srv struct {
	priority, weight, port uint16
	target                 string
}

// backend is what the two resolvers differ in: how they ask.
// A name that does not exist or has no records of the type gives
// (nil, nil); an error means the question could not be answered.
type backend interface {
	naptr(ctx context.Context, name string) ([]naptr, error)
	srv(ctx context.Context, name string) ([]srv, error)
	addrs(ctx context.Context, name string) ([]netip.Addr, error)
}

// engine is RFC 3263 §4 over a backend.
type engine struct {
	b          backend
	transports []string // upper case, in preference order

	mu  sync.Mutex
	rnd *rand.Rand
}

func newEngine(b backend, transports []string, seed uint64, seeded bool) *engine {
	e := &engine{b: b}
	for _, t := range transports {
		e.transports = append(e.transports, strings.ToUpper(t))
	}
	if len(e.transports) == 0 {
		e.transports = slices.Clone(defaultTransports)
	}
	if seeded {
		e.rnd = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	} else {
		e.rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return e
}

func (e *engine) supports(t string) bool { return slices.Contains(e.transports, t) }

// service is a NAPTR service field of RFC 3263 §4.1 and RFC 7118 §5.
type service struct {
	transport string
	secure    bool
}

var services = map[string]service{
	"SIP+D2U":  {transport.UDP, false},
	"SIP+D2T":  {transport.TCP, false},
	"SIPS+D2T": {transport.TLS, true},
	"SIP+D2W":  {transport.WS, false},
	"SIPS+D2W": {transport.WSS, true},
}

// srvPrefix is the SRV owner prefix of a transport (§4.1).
func srvPrefix(t string) string {
	switch t {
	case transport.UDP:
		return "_sip._udp."
	case transport.TCP:
		return "_sip._tcp."
	case transport.TLS:
		return "_sips._tcp."
	}
	return ""
}

func defaultPort(t string) uint16 {
	switch t {
	case transport.TLS, transport.WSS:
		return 5061
	}
	return 5060
}

// lookup is §4 for one URI.
func (e *engine) lookup(ctx context.Context, u sip.URI) ([]transport.Addr, error) {
	if !u.IsSIP() || u.Host == "" {
		return nil, fmt.Errorf("%w: cannot route to %q URI", transport.ErrNoRoute, u.Scheme)
	}
	secure := u.IsSecure()
	target := u.Host
	if m, ok := u.Param("maddr"); ok && m != "" {
		target = m
	}
	tlsName := strings.Trim(u.Host, "[]")
	tp := strings.ToUpper(u.Transport())
	if secure {
		// A sips URI is reached over TLS only (§4.1): TCP becomes TLS,
		// WS becomes WSS, and UDP is refused.
		switch tp {
		case "", transport.TCP, transport.TLS:
			tp = transport.TLS
		case transport.WS, transport.WSS:
			tp = transport.WSS
		default:
			return nil, fmt.Errorf("%w: sips URI with transport %q", transport.ErrNoRoute, u.Transport())
		}
	}
	// §4.1/§4.2: a numeric IP is used as is.
	if a, ok := sip.HostAddr(target); ok {
		if tp == "" {
			tp = transport.UDP
		}
		port := uint16(u.Port)
		if port == 0 {
			port = defaultPort(tp)
		}
		return []transport.Addr{{Transport: tp, AddrPort: netip.AddrPortFrom(a.Unmap(), port), Host: tlsName}}, nil
	}
	name := strings.TrimSuffix(strings.ToLower(target), ".")
	if name == "" {
		return nil, fmt.Errorf("%w: empty host", transport.ErrNoRoute)
	}
	// §4.2: a port given means A/AAAA of the name, no SRV.
	if u.Port != 0 || isLocalhost(name) {
		if tp == "" {
			tp = transport.UDP
		}
		port := uint16(u.Port)
		if port == 0 {
			port = defaultPort(tp)
		}
		return e.hostTargets(ctx, name, tp, port, tlsName, nil)
	}
	// A transport given: SRV for it, else A/AAAA (§4.1 last paragraph,
	// §4.2).
	if tp != "" {
		var out []transport.Addr
		if p := srvPrefix(tp); p != "" {
			var err error
			out, err = e.srvTargets(ctx, p+name, tp, tlsName, nil)
			if err != nil {
				return nil, err
			}
		}
		if len(out) == 0 {
			return e.hostTargets(ctx, name, tp, defaultPort(tp), tlsName, nil)
		}
		return out, nil
	}
	// NAPTR (§4.1).
	out, err := e.naptrTargets(ctx, name, secure, tlsName)
	if err != nil {
		return nil, err
	}
	if len(out) > 0 {
		return out, nil
	}
	// No NAPTR record we can use, or none leading to an address: SRV
	// for each transport we support, in our order (§4.1: records of
	// services we do not support are discarded, and with none left the
	// client goes on as if there were none).
	var srvFound bool
	for _, t := range e.transports {
		if secure != (t == transport.TLS) || srvPrefix(t) == "" {
			continue
		}
		got, err := e.srvTargets(ctx, srvPrefix(t)+name, t, tlsName, &srvFound)
		if err != nil {
			return nil, err
		}
		out = appendTargets(out, got)
	}
	if srvFound {
		if len(out) == 0 {
			return nil, fmt.Errorf("%w: SRV records of %s lead to no address", transport.ErrNoRoute, name)
		}
		return out, nil
	}
	// Neither: A/AAAA on the default port, UDP for sip, TLS for sips
	// (§4.1 and §4.2).
	tp = transport.UDP
	if secure {
		tp = transport.TLS
	}
	return e.hostTargets(ctx, name, tp, defaultPort(tp), tlsName, nil)
}

// naptrTargets follows the NAPTR records of name whose service we support
// (§4.1), best order and preference first; each leads to SRV records. The
// records after the first usable one are kept as further failover: RFC
// 3403 would stop at the first, but a list that goes on is what §4.3
// asks of a client whose first choice is down.
func (e *engine) naptrTargets(ctx context.Context, name string, secure bool, tlsName string) ([]transport.Addr, error) {
	recs, err := e.b.naptr(ctx, name)
	if err != nil {
		if err := ctxErr(ctx); err != nil {
			return nil, err
		}
		// A server that fails NAPTR queries (some do) is treated as
		// having none; SRV and A/AAAA may still be answered.
		recs = nil
	}
	slices.SortStableFunc(recs, func(a, b naptr) int {
		if a.order != b.order {
			return int(a.order) - int(b.order)
		}
		return int(a.pref) - int(b.pref)
	})
	followed := 0
	var out []transport.Addr
	for _, r := range recs {
		svc, ok := services[strings.ToUpper(r.service)]
		if !ok {
			continue
		}
		if secure && !svc.secure || !e.supports(svc.transport) {
			continue
		}
		// §4.1: the flag is "s" and the replacement an SRV name;
		// anything else is not for a SIP client.
		if !strings.EqualFold(r.flags, "s") || r.replacement == "" || r.replacement == "." {
			continue
		}
		if followed++; followed > maxNAPTR {
			break
		}
		got, err := e.srvTargets(ctx, strings.TrimSuffix(strings.ToLower(r.replacement), "."), svc.transport, tlsName, nil)
		if err != nil {
			return nil, err
		}
		out = appendTargets(out, got)
	}
	return out, nil
}

// srvTargets asks for the SRV records of owner and turns them into
// addresses in RFC 2782 order. found, when not nil, is set when records
// exist (even the "." that says there is no such service).
func (e *engine) srvTargets(ctx context.Context, owner, tp, tlsName string, found *bool) ([]transport.Addr, error) {
	recs, err := e.b.srv(ctx, owner)
	if err != nil {
		if err := ctxErr(ctx); err != nil {
			return nil, err
		}
		return nil, nil // unanswerable: as if none (see naptrTargets)
	}
	if len(recs) == 0 {
		return nil, nil
	}
	if found != nil {
		*found = true
	}
	if len(recs) > maxRecords {
		recs = recs[:maxRecords]
	}
	e.mu.Lock()
	ordered := orderSRV(recs, e.rnd)
	e.mu.Unlock()
	var out []transport.Addr
	for _, r := range ordered {
		t := strings.TrimSuffix(strings.ToLower(r.target), ".")
		if t == "" {
			continue // "." : service decidedly not available (RFC 2782)
		}
		if a, ok := sip.HostAddr(t); ok {
			// Not allowed by RFC 2782, but unambiguous.
			out = appendTargets(out, []transport.Addr{{Transport: tp, AddrPort: netip.AddrPortFrom(a.Unmap(), r.port), Host: tlsName}})
			continue
		}
		got, err := e.hostTargets(ctx, t, tp, r.port, tlsName, nil)
		if err != nil {
			if err := ctxErr(ctx); err != nil {
				return nil, err
			}
			continue // that target has no address: try the others
		}
		out = appendTargets(out, got)
		if len(out) >= MaxTargets {
			break
		}
	}
	return out, nil
}

// hostTargets is the A/AAAA step: every address of name on port.
func (e *engine) hostTargets(ctx context.Context, name, tp string, port uint16, tlsName string, out []transport.Addr) ([]transport.Addr, error) {
	as, err := e.b.addrs(ctx, name)
	if err != nil {
		if err := ctxErr(ctx); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: cannot resolve %q: %v", transport.ErrNoRoute, name, err)
	}
	if len(as) == 0 {
		return nil, fmt.Errorf("%w: %q has no address", transport.ErrNoRoute, name)
	}
	for i, a := range as {
		if i == maxRecords {
			break
		}
		out = appendTargets(out, []transport.Addr{{Transport: tp, AddrPort: netip.AddrPortFrom(a.Unmap(), port), Host: tlsName}})
	}
	return out, nil
}

// appendTargets appends what is not already in the list, up to MaxTargets.
func appendTargets(out, more []transport.Addr) []transport.Addr {
	for _, a := range more {
		if len(out) >= MaxTargets {
			break
		}
		dup := false
		for _, b := range out {
			if a.Transport == b.Transport && a.AddrPort == b.AddrPort {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, a)
		}
	}
	return out
}

// orderSRV is RFC 2782's selection: lowest priority first; within a
// priority, repeatedly pick at random with probability proportional to
// the weight (records of weight 0 first in the running sum, so they are
// picked rarely when others weigh more, and evenly among themselves when
// all weigh 0).
func orderSRV(recs []srv, rnd *rand.Rand) []srv {
	rs := slices.Clone(recs)
	slices.SortStableFunc(rs, func(a, b srv) int { return int(a.priority) - int(b.priority) })
	out := make([]srv, 0, len(rs))
	for i := 0; i < len(rs); {
		j := i
		for j < len(rs) && rs[j].priority == rs[i].priority {
			j++
		}
		group := rs[i:j]
		// Weight 0 first (RFC 2782: "arrange all SRV RRs ... in any
		// order, except that all those with weight 0 are placed at the
		// beginning of the list").
		slices.SortStableFunc(group, func(a, b srv) int {
			switch {
			case a.weight == 0 && b.weight != 0:
				return -1
			case a.weight != 0 && b.weight == 0:
				return 1
			}
			return 0
		})
		for len(group) > 0 {
			var sum uint32
			for _, r := range group {
				sum += uint32(r.weight)
			}
			k := 0
			if sum == 0 {
				k = rnd.IntN(len(group))
			} else {
				pick := rnd.Uint32N(sum + 1) // 0..sum inclusive
				var run uint32
				for k = range group {
					run += uint32(group[k].weight)
					if run >= pick {
						break
					}
				}
			}
			out = append(out, group[k])
			group = slices.Delete(group, k, k+1)
		}
		i = j
	}
	return out
}

// isLocalhost reports names of RFC 6761 §6.3, never sent to DNS for SRV.
func isLocalhost(name string) bool {
	return name == "localhost" || strings.HasSuffix(name, ".localhost")
}

// errNoServers: a DNS resolver without nameservers.
var errNoServers = errors.New("locate: no nameservers configured")

// ctxErr is ctx.Err(), and DeadlineExceeded as soon as the deadline has
// passed: a query's socket deadline (set from it) can fire a moment
// before the context's own timer does.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}
