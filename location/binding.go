package location

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parley-sip/parley/sip"
)

// QMax is the q-value 1.0 in the thousandths that Binding.Q counts in. A
// contact without a q parameter ranks as 1.0 (§20.10 leaves the default to
// the registrar; 1.0 is what every common implementation uses).
const QMax = 1000

// Limits on one binding, so that a record always fits the journal's framing
// and one misbehaving client cannot make a binding huge.
const (
	MaxFieldLen = 4096 // longest contact, params, Call-ID, instance, User-Agent or node
	MaxPath     = 32   // most Path values kept per binding

	// MaxBindings is the most bindings one AOR may hold. No user has that
	// many phones; the bound keeps one AOR's update, its record and the
	// 200 OK listing it small whatever a client sends.
	MaxBindings = 256
)

// Binding is one contact address registered for an address-of-record
// (RFC 3261 §10.3), with what the registrar learned about how it arrived.
type Binding struct {
	AOR     string // canonical address-of-record, "sip:user@domain"; see CanonicalAOR
	Contact string // the contact URI as registered, without <>
	Params  string // the Contact header parameters as registered (";q=0.5;+sip.instance=..."), without expires

	Expires time.Time // when the binding expires (absolute)
	Q       int       // q-value in thousandths, 0..QMax
	CallID  string    // Call-ID of the REGISTER that made or last refreshed it
	CSeq    uint32    // its CSeq number

	// Path is the RFC 3327 route vector to reach the contact: the Path
	// header values of the REGISTER, in order, each a name-addr.
	Path []string

	// Source is the address the REGISTER came from (after NAT), Local the
	// listener it arrived on and Transport its transport ("UDP", "TCP",
	// "TLS", "WS", "WSS"). Requests for a contact behind NAT go back to
	// Source from Local over the same connection or flow (RFC 5626 §5.3).
	Source    netip.AddrPort
	Local     netip.AddrPort
	Transport string

	// InstanceID is the +sip.instance value without quotes (RFC 5626 §4.1,
	// e.g. "<urn:uuid:...>") and RegID the reg-id (RFC 5626 §4.2, 0 when
	// absent). With both present the binding is keyed by them.
	InstanceID string
	RegID      uint32

	UserAgent string    // User-Agent of the REGISTER, for listings (an admin page)
	Updated   time.Time // when the binding was last written

	// Node names the server (one `parley serve` of a cluster) that holds
	// the phone's connection or flow, the one the REGISTER arrived on:
	// another node reaches a TCP, TLS or WebSocket phone through it. ""
	// on a single server.
	Node string
}

// Flow reports whether the binding is keyed by instance-id and reg-id
// (an RFC 5626 outbound flow) rather than by its contact URI.
func (b *Binding) Flow() bool { return b.InstanceID != "" && b.RegID != 0 }

// ExpiresIn returns the whole seconds left until the binding expires at
// now, rounded up so that a binding still held never shows 0, and 0 when it
// has expired.
func (b *Binding) ExpiresIn(now time.Time) int {
	d := b.Expires.Sub(now)
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

// Store is a location service: bindings by address-of-record. The registrar
// writes it; the proxy reads it with Lookup. Implementations are safe for
// concurrent use. Expired bindings are never returned.
type Store interface {
	// Lookup returns the unexpired bindings of aor, highest q first and,
	// among equal q, the most recently updated first. No binding is not an
	// error: it returns an empty slice.
	Lookup(ctx context.Context, aor string) ([]Binding, error)

	// Put adds b or refreshes the binding it matches: same AOR and, when
	// both carry instance-id and reg-id, the same pair; otherwise contact
	// URIs equal by §19.1.4. Every binding b matches is replaced. A b
	// that has already expired removes what it matches and adds nothing,
	// which is how a Contact with expires=0 removes exactly its binding.
	Put(ctx context.Context, b Binding) error

	// Remove removes every binding of aor whose contact URI equals
	// contactURI by §19.1.4 (all flows of that contact).
	Remove(ctx context.Context, aor, contactURI string) error

	// RemoveAll removes every binding of aor (Contact: * with Expires: 0).
	RemoveAll(ctx context.Context, aor string) error

	// Update changes the bindings of aor atomically: fn gets the current
	// unexpired bindings (in Lookup order) and returns the set to store in
	// their place, and no other change to aor lands between what fn saw
	// and what is stored, in this process or in any other sharing the
	// store. So two servers registering one user at once never lose a
	// contact. Update returns the set stored, unexpired bindings only, in
	// Lookup order.
	//
	// fn owns the slice it gets and may modify and return it. Every
	// binding it returns must have AOR aor and be valid (else ErrInvalid
	// and nothing changes); expired ones are dropped; more than
	// MaxBindings is ErrInvalid. When fn returns an error nothing changes
	// and Update returns that error. A store may call fn more than once
	// (a shared store that found another writer's change retries with the
	// new bindings), so fn must have no effect but its result; and fn must
	// not call the store, which may hold a lock while fn runs.
	Update(ctx context.Context, aor string, fn UpdateFunc) ([]Binding, error)

	// Count returns the number of unexpired bindings.
	Count(ctx context.Context) (int, error)

	// All iterates over every unexpired binding, grouped by AOR, in no
	// particular order, for listings (an admin page, tools). An error ends
	// the iteration.
	All(ctx context.Context) iter.Seq2[Binding, error]

	// Close releases the store; later calls fail with ErrClosed.
	Close() error
}

// UpdateFunc computes the new bindings of an AOR from its current ones;
// see Store.Update.
type UpdateFunc func(current []Binding) ([]Binding, error)

// Errors returned by stores.
var (
	ErrClosed  = errors.New("location: store closed")
	ErrInvalid = errors.New("location: invalid binding")
	ErrLocked  = errors.New("location: data directory in use by another process")
	ErrCorrupt = errors.New("location: corrupt data file")

	// ErrUnavailable wraps every failure to reach a shared store (Redis,
	// PostgreSQL): refused or lost connection, time-out, pool exhausted,
	// a server error. It is temporary by nature: the registrar answers
	// 503 with Retry-After, and the store reconnects by itself once the
	// server is back.
	ErrUnavailable = errors.New("location: store unavailable")

	// ErrConflict is returned by Update on a shared store when other
	// writers kept changing the AOR between its read and its write, more
	// times than it retries. Temporary as well.
	ErrConflict = errors.New("location: too many concurrent updates of one AOR")
)

// CanonicalAOR returns the address-of-record of a To URI in the canonical
// form of §10.3 step 5: the URI parameters (including user=) and the port
// are removed, escapes in the user part are resolved and the host is
// lower-cased. sips is folded into sip so that a contact registered over TLS
// is found by requests for either scheme. The proxy must use the same
// function for its lookups.
func CanonicalAOR(u *sip.URI) (string, error) {
	if !u.IsSIP() || u.Host == "" {
		return "", fmt.Errorf("%w: AOR must be a sip or sips URI", ErrInvalid)
	}
	user := u.UserUnescaped()
	var b strings.Builder
	b.Grow(5 + len(user) + len(u.Host))
	b.WriteString("sip:")
	if user != "" {
		b.WriteString(user)
		b.WriteByte('@')
	}
	b.WriteString(strings.ToLower(u.Host))
	return b.String(), nil
}

// ParseQ parses a q-value (§25.1: "0" or "1" with up to three decimals,
// "0.5", "1.000") into thousandths.
func ParseQ(s string) (int, error) {
	bad := fmt.Errorf("bad q-value %q", s)
	if s == "" || len(s) > 5 || (s[0] != '0' && s[0] != '1') {
		return 0, bad
	}
	q := int(s[0]-'0') * QMax
	if len(s) == 1 {
		return q, nil
	}
	if s[1] != '.' {
		return 0, bad
	}
	scale := 100
	for i := 2; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, bad
		}
		q += int(c-'0') * scale
		scale /= 10
	}
	if q > QMax {
		return 0, bad
	}
	return q, nil
}

// FormatQ writes thousandths as a q-value: 1000 → "1", 500 → "0.5",
// 123 → "0.123".
func FormatQ(q int) string {
	q = min(max(q, 0), QMax)
	if q == QMax {
		return "1"
	}
	if q == 0 {
		return "0"
	}
	s := strconv.Itoa(q + 1000)[1:] // three digits with leading zeros
	return "0." + strings.TrimRight(s, "0")
}

// SortBindings orders bindings as Lookup returns them: q descending, then
// most recently updated first, then by contact for a stable order.
func SortBindings(bs []Binding) {
	slices.SortFunc(bs, func(a, b Binding) int {
		if c := cmp.Compare(b.Q, a.Q); c != 0 {
			return c
		}
		if c := b.Updated.Compare(a.Updated); c != 0 {
			return c
		}
		return strings.Compare(a.Contact, b.Contact)
	})
}

// validate checks what the stores rely on: an AOR, a parseable contact URI,
// a q-value in range and field lengths within limits.
func validate(b *Binding) (sip.URI, error) {
	if b.AOR == "" {
		return sip.URI{}, fmt.Errorf("%w: empty AOR", ErrInvalid)
	}
	u, err := sip.ParseURI(b.Contact)
	if err != nil {
		return u, fmt.Errorf("%w: contact: %v", ErrInvalid, err)
	}
	if b.Q < 0 || b.Q > QMax {
		return u, fmt.Errorf("%w: q %d out of range", ErrInvalid, b.Q)
	}
	if len(b.Path) > MaxPath {
		return u, fmt.Errorf("%w: %d Path values (max %d)", ErrInvalid, len(b.Path), MaxPath)
	}
	for _, s := range [...]string{b.AOR, b.Contact, b.Params, b.CallID, b.InstanceID, b.UserAgent, b.Transport, b.Node} {
		if len(s) > MaxFieldLen {
			return u, fmt.Errorf("%w: field longer than %d bytes", ErrInvalid, MaxFieldLen)
		}
	}
	for _, p := range b.Path {
		if len(p) > MaxFieldLen || strings.IndexByte(p, '\n') >= 0 {
			return u, fmt.Errorf("%w: bad Path value", ErrInvalid)
		}
	}
	return u, nil
}

// Matches reports whether n, put into the store, would refresh or remove
// b: the same AOR and, when both are flows, the same instance-id and
// reg-id (RFC 5626 §6); otherwise contact URIs equal by §19.1.4. The
// registrar uses it to find the binding whose Call-ID and CSeq a new
// contact is checked against (§10.3 step 7).
func (b *Binding) Matches(n *Binding) bool {
	if b.AOR != n.AOR {
		return false
	}
	if b.Flow() && n.Flow() {
		return b.RegID == n.RegID && strings.EqualFold(b.InstanceID, n.InstanceID)
	}
	u, err := sip.ParseURI(n.Contact)
	if err != nil {
		return b.Contact == n.Contact
	}
	return uriMatches(b.Contact, &u)
}
