package proxy

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// ErrNotFound is what a Locator returns for a user that does not exist: the
// proxy answers 404. A user that exists but has no registered contact is an
// empty target list and no error: the proxy answers 480.
var ErrNotFound = errors.New("proxy: no such user")

// Target is one place a request is forwarded to (§16.5).
type Target struct {
	// URI becomes the Request-URI of the forwarded request.
	URI sip.URI
	// Q is the q-value in thousandths (0..1000). Targets of the highest q
	// are tried in parallel, lower ones only when all higher ones failed.
	Q int
	// Path is pre-loaded as Route values, first value on top (RFC 3327):
	// the request goes to Path[0] first.
	Path []string
	// Flow, when set and Path is empty, is where the request is sent
	// instead of resolving URI: the address and transport a registration
	// came from, so that a phone behind NAT, which registered a private
	// contact address, is reached through its NAT binding or its
	// connection (RFC 5626 §5.3, RFC 3581).
	Flow transport.Addr
}

// Locator finds the targets of a request addressed to one of the proxy's
// domains (the location service of §10 and §16.5).
type Locator interface {
	// Locate returns where a request for uri (one of our domains) should
	// go: ErrNotFound for an unknown user (404), an empty list for a known
	// user with no registration (480). Targets need not be sorted.
	Locate(ctx context.Context, uri sip.URI) ([]Target, error)
}

// LocatorFunc adapts a function to Locator.
type LocatorFunc func(ctx context.Context, uri sip.URI) ([]Target, error)

// Locate calls f(ctx, uri).
func (f LocatorFunc) Locate(ctx context.Context, uri sip.URI) ([]Target, error) { return f(ctx, uri) }

// LocationLocator is a Locator over a location.Store: the bindings the
// registrar wrote for the address-of-record of the Request-URI.
type LocationLocator struct {
	Store location.Store
	// UserExists says whether a user (the unescaped user part of the
	// Request-URI) is known, so that an unknown user gets 404 and a known
	// one without a registration 480. Nil treats every user as known.
	UserExists func(user string) bool
	// Domain and Aliases: a Request-URI whose host Aliases reports (the
	// server's own addresses) is looked up under Domain, as the
	// registrar keeps such registrations (registrar.Config.Aliases).
	Domain  string
	Aliases func(host string) bool
}

// Locate looks the canonical AOR of uri up (the registrar's
// location.CanonicalAOR, so both sides agree on the key) and turns each
// binding into a Target: the contact as Request-URI, the Path as pre-loaded
// Route, and the source address and transport of the REGISTER as the flow
// to send on.
func (l *LocationLocator) Locate(ctx context.Context, uri sip.URI) ([]Target, error) {
	if l.Aliases != nil && l.Domain != "" && l.Aliases(uri.Host) {
		uri.Host = l.Domain
	}
	aor, err := location.CanonicalAOR(&uri)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	if l.UserExists != nil && !l.UserExists(uri.UserUnescaped()) {
		return nil, ErrNotFound
	}
	bs, err := l.Store.Lookup(ctx, aor)
	if err != nil {
		return nil, err
	}
	out := make([]Target, 0, len(bs))
	for i := range bs {
		t, ok := bindingTarget(&bs[i])
		if ok {
			out = append(out, t)
		}
	}
	return out, nil
}

// bindingTarget turns a binding into a target; a contact that no longer
// parses is skipped rather than failing the whole lookup.
func bindingTarget(b *location.Binding) (Target, bool) {
	u, err := sip.ParseURI(b.Contact)
	if err != nil {
		return Target{}, false
	}
	t := Target{URI: u, Q: b.Q, Path: b.Path}
	// The source of the REGISTER is where the phone can be reached: the
	// same address when it is not behind NAT, its NAT binding or its
	// connection when it is. The contact's own address may be private.
	if b.Source.IsValid() && b.Transport != "" {
		t.Flow = transport.Addr{Transport: b.Transport, AddrPort: b.Source}
	}
	return t, true
}

// sortTargets orders targets by q, highest first, keeping the Locator's
// order among equal q (LocationLocator's is most recently registered
// first).
func sortTargets(ts []Target) {
	slices.SortStableFunc(ts, func(a, b Target) int { return b.Q - a.Q })
}

// groups splits sorted targets into runs of equal q: each run is forked
// in parallel, the runs one after the other.
func groups(ts []Target) [][]Target {
	var out [][]Target
	for i := 0; i < len(ts); {
		j := i + 1
		for j < len(ts) && ts[j].Q == ts[i].Q {
			j++
		}
		out = append(out, ts[i:j])
		i = j
	}
	return out
}
