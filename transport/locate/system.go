package locate

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// SystemConfig is what a System resolver is built from.
type SystemConfig struct {
	// Resolver is the Go resolver to use (default net.DefaultResolver).
	Resolver *net.Resolver
	// Transports: as DNSConfig.Transports.
	Transports []string
	// Seed: as DNSConfig.Seed.
	Seed uint64
}

// System is RFC 3263 §4 on the Go resolver, without NAPTR (see the
// package comment).
type System struct {
	e *engine
	r *net.Resolver
}

// NewSystem builds a System resolver.
func NewSystem(cfg SystemConfig) *System {
	s := &System{r: cfg.Resolver}
	if s.r == nil {
		s.r = net.DefaultResolver
	}
	s.e = newEngine(s, cfg.Transports, cfg.Seed, cfg.Seed != 0)
	return s
}

// Lookup implements Resolver.
func (s *System) Lookup(ctx context.Context, uri sip.URI) ([]transport.Addr, error) {
	return s.e.lookup(ctx, uri)
}

func (s *System) naptr(context.Context, string) ([]naptr, error) { return nil, nil }

func (s *System) srv(ctx context.Context, name string) ([]srv, error) {
	_, recs, err := s.r.LookupSRV(ctx, "", "", name)
	if notFound(err) {
		return nil, nil
	}
	var out []srv
	for _, r := range recs {
		out = append(out, srv{priority: r.Priority, weight: r.Weight, port: r.Port, target: r.Target})
	}
	if len(out) > 0 {
		err = nil // some records parsed: use them
	}
	return out, err
}

func (s *System) addrs(ctx context.Context, name string) ([]netip.Addr, error) {
	as, err := s.r.LookupNetIP(ctx, "ip", name)
	if notFound(err) {
		return nil, nil
	}
	// A first, then AAAA, as DNS does.
	var v4, v6 []netip.Addr
	for _, a := range as {
		if a = a.Unmap(); a.Is4() {
			v4 = append(v4, a)
		} else {
			v6 = append(v6, a)
		}
	}
	return append(v4, v6...), err
}

func notFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound || err != nil && strings.Contains(err.Error(), "no such host")
}
