package locate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// Defaults of DNSConfig.
const (
	DefaultQueryTimeout = 2 * time.Second
	DefaultCacheSize    = 1024
	DefaultNegativeTTL  = 30 * time.Second
	DefaultMaxTTL       = time.Hour
)

// DNSConfig is what a DNS resolver is built from.
type DNSConfig struct {
	// Servers are the nameservers, "IP:PORT" or "IP" (port 53), asked
	// in order: the next is tried when one does not answer or fails.
	// Empty: those of /etc/resolv.conf.
	Servers []string
	// QueryTimeout bounds one query to one server (default 2 s); the
	// context given to Lookup bounds the whole lookup.
	QueryTimeout time.Duration
	// Transports are the transports we can use, in order of
	// preference for a URI that does not name one (default UDP, TCP,
	// TLS; see DefaultTransports). NAPTR and SRV records of other
	// transports are passed over.
	Transports []string
	// CacheSize bounds the answers kept (default 1024; negative: no
	// cache). An answer is kept for its TTL, at most MaxTTL (default
	// 1 h); a name or type that does not exist for its SOA minimum, at
	// most NegativeTTL (default 30 s).
	CacheSize   int
	MaxTTL      time.Duration
	NegativeTTL time.Duration
	// Seed, when not zero, makes the weighted SRV selection
	// reproducible (tests); zero seeds from the runtime.
	Seed uint64
	// Now is the clock of the cache (default time.Now).
	Now func() time.Time
}

// DNS is the full RFC 3263 resolver over DNS (see the package comment).
type DNS struct {
	e       *engine
	servers []string
	timeout time.Duration
	cache   *cache
	stats   dnsStats
}

type dnsStats struct {
	queries, cacheHits, failures atomic.Uint64
}

// DNSStats are the counters of a DNS resolver.
type DNSStats struct {
	Queries   uint64 // questions sent (each server tried counts)
	CacheHits uint64 // questions answered from the cache
	Failures  uint64 // questions no server answered
}

// Stats returns a snapshot of the counters.
func (d *DNS) Stats() DNSStats {
	return DNSStats{d.stats.queries.Load(), d.stats.cacheHits.Load(), d.stats.failures.Load()}
}

// NewDNS builds a DNS resolver.
func NewDNS(cfg DNSConfig) (*DNS, error) {
	d := &DNS{timeout: cfg.QueryTimeout}
	if d.timeout <= 0 {
		d.timeout = DefaultQueryTimeout
	}
	servers := cfg.Servers
	if len(servers) == 0 {
		cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil {
			return nil, fmt.Errorf("locate: %w", err)
		}
		for _, s := range cc.Servers {
			servers = append(servers, net.JoinHostPort(s, cc.Port))
		}
	}
	for _, s := range servers {
		hp, err := normalizeServer(s)
		if err != nil {
			return nil, err
		}
		d.servers = append(d.servers, hp)
	}
	if len(d.servers) == 0 {
		return nil, errNoServers
	}
	for _, t := range cfg.Transports {
		switch strings.ToUpper(t) {
		case transport.UDP, transport.TCP, transport.TLS, transport.WS, transport.WSS:
		default:
			return nil, fmt.Errorf("locate: unsupported transport %q", t)
		}
	}
	if cfg.CacheSize >= 0 {
		size := cfg.CacheSize
		if size == 0 {
			size = DefaultCacheSize
		}
		d.cache = newCache(size, cfg.MaxTTL, cfg.NegativeTTL, cfg.Now)
	}
	d.e = newEngine(d, cfg.Transports, cfg.Seed, cfg.Seed != 0)
	return d, nil
}

// normalizeServer checks a nameserver address: an IP, with a port or not.
func normalizeServer(s string) (string, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.String(), nil
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return netip.AddrPortFrom(a, 53).String(), nil
	}
	return "", fmt.Errorf("locate: bad nameserver %q (want IP or IP:PORT)", s)
}

// Lookup implements Resolver.
func (d *DNS) Lookup(ctx context.Context, uri sip.URI) ([]transport.Addr, error) {
	return d.e.lookup(ctx, uri)
}

// errServerFailure: the servers answered, but with an error code.
var errServerFailure = errors.New("locate: name server failure")

// query asks one question, from the cache or the servers, and returns
// the answer's records of qtype owned by name or by the end of its CNAME
// chain. A name that does not exist or has no such records is (nil, nil).
func (d *DNS) query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	fqdn := dns.Fqdn(name)
	if _, ok := dns.IsDomainName(fqdn); !ok || len(fqdn) > 255 {
		return nil, fmt.Errorf("locate: bad domain name %q", name)
	}
	key := cacheKey{fqdn, qtype}
	if rrs, ok := d.cache.get(key); ok {
		d.stats.cacheHits.Add(1)
		return rrs, nil
	}
	m := new(dns.Msg)
	m.SetQuestion(fqdn, qtype)
	m.RecursionDesired = true
	m.SetEdns0(1232, false)
	var lastErr error
	for _, srv := range d.servers {
		if err := ctxErr(ctx); err != nil {
			return nil, err
		}
		r, err := d.exchange(ctx, m, srv)
		if err != nil {
			lastErr = err
			continue
		}
		switch r.Rcode {
		case dns.RcodeSuccess:
			rrs, ttl := answerRecords(r, fqdn, qtype)
			if len(rrs) == 0 {
				d.cache.putNegative(key, negativeTTL(r))
				return nil, nil
			}
			d.cache.put(key, rrs, ttl)
			return rrs, nil
		case dns.RcodeNameError:
			d.cache.putNegative(key, negativeTTL(r))
			return nil, nil
		default:
			lastErr = fmt.Errorf("%w: %s for %s %s from %s", errServerFailure,
				dns.RcodeToString[r.Rcode], fqdn, dns.TypeToString[qtype], srv)
		}
	}
	d.stats.failures.Add(1)
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	return nil, lastErr
}

// exchange sends one question to one server over UDP, and again over TCP
// when the answer comes truncated.
func (d *DNS) exchange(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error) {
	qctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	d.stats.queries.Add(1)
	c := &dns.Client{Net: "udp", Timeout: d.timeout, UDPSize: 1232}
	r, _, err := c.ExchangeContext(qctx, m, server)
	if err == nil && r.Truncated {
		d.stats.queries.Add(1)
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(qctx, m, server)
	}
	if err != nil {
		return nil, fmt.Errorf("locate: %s: %w", server, err)
	}
	if len(r.Question) > 0 && (r.Question[0].Qtype != m.Question[0].Qtype || !strings.EqualFold(r.Question[0].Name, m.Question[0].Name)) {
		return nil, fmt.Errorf("locate: %s answered another question (%s)", server, r.Question[0].Name)
	}
	return r, nil
}

// answerRecords picks the records that answer (fqdn, qtype) out of an
// answer section, following a CNAME chain (bounded), and the smallest
// TTL among them.
func answerRecords(r *dns.Msg, fqdn string, qtype uint16) ([]dns.RR, uint32) {
	name := fqdn
	var ttl uint32
	first := true
	note := func(t uint32) {
		if first || t < ttl {
			ttl, first = t, false
		}
	}
	for range 8 {
		var next string
		for _, rr := range r.Answer {
			h := rr.Header()
			if h.Rrtype == dns.TypeCNAME && qtype != dns.TypeCNAME && strings.EqualFold(h.Name, name) {
				next = rr.(*dns.CNAME).Target
				note(h.Ttl)
			}
		}
		if next == "" {
			break
		}
		name = next
	}
	var out []dns.RR
	for _, rr := range r.Answer {
		h := rr.Header()
		if h.Rrtype == qtype && strings.EqualFold(h.Name, name) {
			out = append(out, rr)
			note(h.Ttl)
		}
	}
	return out, ttl
}

// negativeTTL is RFC 2308 §5: the SOA's minimum (bounded by its TTL).
func negativeTTL(r *dns.Msg) time.Duration {
	for _, rr := range r.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			t := min(soa.Minttl, soa.Hdr.Ttl)
			return time.Duration(t) * time.Second
		}
	}
	return -1 // cache for the configured NegativeTTL
}

func (d *DNS) naptr(ctx context.Context, name string) ([]naptr, error) {
	rrs, err := d.query(ctx, name, dns.TypeNAPTR)
	return naptrsFrom(rrs), err
}

func (d *DNS) srv(ctx context.Context, name string) ([]srv, error) {
	rrs, err := d.query(ctx, name, dns.TypeSRV)
	return srvsFrom(rrs), err
}

// addrs asks for A and AAAA, in that order, at the same time.
func (d *DNS) addrs(ctx context.Context, name string) ([]netip.Addr, error) {
	type result struct {
		rrs []dns.RR
		err error
	}
	var r6 result
	var a4 []dns.RR
	var err4 error
	if rrs, ok := d.cache.get(cacheKey{dns.Fqdn(name), dns.TypeAAAA}); ok {
		// Warm cache: no goroutine for what costs no wait.
		d.stats.cacheHits.Add(1)
		r6.rrs = rrs
		a4, err4 = d.query(ctx, name, dns.TypeA)
	} else {
		aaaa := make(chan result, 1)
		go func() {
			rrs, err := d.query(ctx, name, dns.TypeAAAA)
			aaaa <- result{rrs, err}
		}()
		a4, err4 = d.query(ctx, name, dns.TypeA)
		r6 = <-aaaa
	}
	out := addrsFrom(a4, r6.rrs)
	if len(out) == 0 {
		if err4 != nil {
			return nil, err4
		}
		return nil, r6.err
	}
	return out, nil
}

// naptrsFrom keeps the NAPTR records a SIP client can use.
func naptrsFrom(rrs []dns.RR) []naptr {
	var out []naptr
	for _, rr := range rrs {
		n, ok := rr.(*dns.NAPTR)
		if !ok || n.Regexp != "" {
			continue // §4.1: SIP NAPTR records use the replacement only
		}
		out = append(out, naptr{order: n.Order, pref: n.Preference, flags: n.Flags, service: n.Service, replacement: n.Replacement})
	}
	return out
}

func srvsFrom(rrs []dns.RR) []srv {
	var out []srv
	for _, rr := range rrs {
		if s, ok := rr.(*dns.SRV); ok {
			out = append(out, srv{priority: s.Priority, weight: s.Weight, port: s.Port, target: s.Target})
		}
	}
	return out
}

// addrsFrom is the addresses of A records, then of AAAA records.
func addrsFrom(a4, a6 []dns.RR) []netip.Addr {
	var out []netip.Addr
	for _, rr := range a4 {
		if a, ok := rr.(*dns.A); ok {
			if ip, ok := netip.AddrFromSlice(a.A.To4()); ok {
				out = append(out, ip)
			}
		}
	}
	for _, rr := range a6 {
		if a, ok := rr.(*dns.AAAA); ok {
			if ip, ok := netip.AddrFromSlice(a.AAAA.To16()); ok && ip.Is6() {
				out = append(out, ip)
			}
		}
	}
	return out
}
