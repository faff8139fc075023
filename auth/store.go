package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
)

// ErrUnknownUser is what a CredentialStore returns when it has no such user
// in the realm. The Verifier maps it to Failed, exactly like a wrong
// password; any other store error maps to Unavailable.
var ErrUnknownUser = errors.New("auth: unknown user")

// Secret is what a store knows about one user in one realm: a plain password
// or precomputed HA1 values, so that a configuration need not hold plain
// passwords. A Secret with only HA1 can answer only the algorithms it has an
// HA1 for; give both HA1 and HA1SHA256 when the Verifier offers both.
//
// Secret redacts itself in fmt and slog output, so logging one by mistake
// leaks nothing.
type Secret struct {
	Password  string // plain password; may be empty when an HA1 is given
	HA1       string // hex MD5(user ":" realm ":" password)
	HA1SHA256 string // hex SHA-256(user ":" realm ":" password)
}

// String redacts the secret.
func (Secret) String() string { return "auth.Secret{redacted}" }

// GoString redacts the secret for %#v.
func (Secret) GoString() string { return "auth.Secret{redacted}" }

// LogValue redacts the secret for log/slog.
func (Secret) LogValue() slog.Value { return slog.StringValue("redacted") }

// Format redacts the secret for every fmt verb, %+v and %d included, which
// would otherwise print the fields.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// ha1 appends the hex HA1 of the given hash for user@realm to dst and
// reports whether the secret can produce it.
func (s *Secret) ha1(dst []byte, sha bool, user, realm string) ([]byte, bool) {
	if s.Password != "" {
		return appendHA1(dst, sha, user, realm, s.Password), true
	}
	h := s.HA1
	if sha {
		h = s.HA1SHA256
	}
	if h == "" {
		return dst, false
	}
	return append(dst, h...), true
}

// CredentialStore looks up a user's secret for a realm. Implementations must
// be safe for concurrent use. Lookup returns ErrUnknownUser (possibly
// wrapped) when there is no such user; other errors mean the store could not
// answer and the request should get a 500, not a challenge.
type CredentialStore interface {
	Lookup(ctx context.Context, user, realm string) (Secret, error)
}

// User is one configured user of a StaticStore.
type User struct {
	Name string
	// Realm limits the entry to one realm; "" matches any realm. An HA1 is
	// only right for the realm it was computed with, so give the Realm with
	// HA1-only entries.
	Realm     string
	Password  string
	HA1       string // hex MD5(Name:Realm:Password), 32 hex digits
	HA1SHA256 string // hex SHA-256(Name:Realm:Password), 64 hex digits
}

// StaticStore is a map-backed CredentialStore for users defined in the
// configuration. Lookups take no lock: Replace swaps in a whole new map, so a
// configuration reload never shows a half-written store.
type StaticStore struct {
	users atomic.Pointer[map[storeKey]Secret]
}

type storeKey struct{ user, realm string }

// NewStaticStore builds a store from users; see Replace for the checks.
func NewStaticStore(users []User) (*StaticStore, error) {
	s := &StaticStore{}
	if err := s.Replace(users); err != nil {
		return nil, err
	}
	return s, nil
}

// Replace swaps the whole user list, for a configuration reload. It checks
// every entry first and changes nothing on error: each user needs a name and
// a password or an HA1, HA1 values must be hex of the right length, and a
// (name, realm) pair may appear once. Errors name the user, never a secret.
func (s *StaticStore) Replace(users []User) error {
	m := make(map[storeKey]Secret, len(users))
	for i, u := range users {
		if u.Name == "" {
			return fmt.Errorf("auth: user %d: empty name", i+1)
		}
		if u.Password == "" && u.HA1 == "" && u.HA1SHA256 == "" {
			return fmt.Errorf("auth: user %q: needs a password, ha1 or ha1_sha256", u.Name)
		}
		if u.HA1 != "" && !isHex(u.HA1, 32) {
			return fmt.Errorf("auth: user %q: ha1 must be 32 hex digits", u.Name)
		}
		if u.HA1SHA256 != "" && !isHex(u.HA1SHA256, 64) {
			return fmt.Errorf("auth: user %q: ha1_sha256 must be 64 hex digits", u.Name)
		}
		k := storeKey{u.Name, u.Realm}
		if _, dup := m[k]; dup {
			return fmt.Errorf("auth: user %q realm %q: defined twice", u.Name, u.Realm)
		}
		// Responses are compared as lower-case hex, so store HA1s that way.
		m[k] = Secret{Password: u.Password, HA1: strings.ToLower(u.HA1), HA1SHA256: strings.ToLower(u.HA1SHA256)}
	}
	s.users.Store(&m)
	return nil
}

// Lookup returns the entry for user in realm, or else the entry for user
// with no realm, or ErrUnknownUser.
func (s *StaticStore) Lookup(_ context.Context, user, realm string) (Secret, error) {
	p := s.users.Load()
	if p == nil {
		return Secret{}, ErrUnknownUser
	}
	if sec, ok := (*p)[storeKey{user, realm}]; ok {
		return sec, nil
	}
	if sec, ok := (*p)[storeKey{user, ""}]; ok {
		return sec, nil
	}
	return Secret{}, ErrUnknownUser
}

// Len returns the number of configured entries.
func (s *StaticStore) Len() int {
	if p := s.users.Load(); p != nil {
		return len(*p)
	}
	return 0
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isHexDigit(s[i]) {
			return false
		}
	}
	return true
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'f'
}
