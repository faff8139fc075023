package location

import (
	"fmt"
	"slices"
	"time"

	"github.com/parley-sip/parley/sip"
)

// CheckSet prepares the result of an UpdateFunc for storing, as every
// Store does: each binding must be valid and belong to aor (else
// ErrInvalid), the expired ones (at now) are dropped, at most MaxBindings
// may remain, and they are sorted in Lookup order. It works in place and
// returns bs shortened.
func CheckSet(aor string, bs []Binding, now time.Time) ([]Binding, error) {
	for i := range bs {
		if bs[i].AOR != aor {
			return nil, fmt.Errorf("%w: binding of %q in an update of %q", ErrInvalid, bs[i].AOR, aor)
		}
		if _, err := validate(&bs[i]); err != nil {
			return nil, err
		}
	}
	bs = slices.DeleteFunc(bs, func(b Binding) bool { return !b.Expires.After(now) })
	if len(bs) > MaxBindings {
		return nil, fmt.Errorf("%w: %d bindings for one AOR (max %d)", ErrInvalid, len(bs), MaxBindings)
	}
	SortBindings(bs)
	return bs, nil
}

// Put, Remove and RemoveAll as updates, for stores whose one way to write
// is Update (the shared stores), so that each has the exact meaning the
// Store interface gives it everywhere.

// PutFunc returns the update that Store.Put(b) makes: every binding b
// matches (Binding.Matches) replaced by b, or only removed when b has
// expired. Check b with ValidBinding first.
func PutFunc(b Binding) UpdateFunc {
	return func(current []Binding) ([]Binding, error) {
		current = slices.DeleteFunc(current, func(c Binding) bool { return c.Matches(&b) })
		return append(current, b), nil // an expired b is dropped by CheckSet
	}
}

// RemoveFunc returns the update that Store.Remove(aor, contactURI) makes:
// every binding whose contact URI equals contactURI by §19.1.4 removed (by
// exact text when contactURI does not parse).
func RemoveFunc(contactURI string) UpdateFunc {
	u, err := sip.ParseURI(contactURI)
	parsed := err == nil
	return func(current []Binding) ([]Binding, error) {
		return slices.DeleteFunc(current, func(c Binding) bool {
			if parsed {
				return uriMatches(c.Contact, &u)
			}
			return c.Contact == contactURI
		}), nil
	}
}

// RemoveAllFunc is the update that Store.RemoveAll makes.
func RemoveAllFunc(current []Binding) ([]Binding, error) { return current[:0], nil }

// ValidBinding checks what every store requires of a binding before Put
// (ErrInvalid otherwise): an AOR, a contact URI that parses, a q-value in
// range and fields within MaxFieldLen and MaxPath.
func ValidBinding(b *Binding) error {
	_, err := validate(b)
	return err
}
