package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/parley-sip/parley/sip"
)

// Result is the outcome of Verify. Only OK authenticates; every other value
// tells the caller which answer to send (see Verifier.Reject).
type Result uint8

const (
	_ Result = iota // the zero Result is not OK: an unset Result fails closed
	// OK: the credentials are valid; the user is authenticated.
	OK
	// Missing: no credentials for our realm; answer with a challenge.
	Missing
	// Stale: the password was right but the nonce is expired, not ours
	// (another key, a restarted node) or its nc was already used; answer
	// with a challenge carrying stale=true so the client retries at once
	// without asking its user (RFC 7616 §3.3).
	Stale
	// Failed: wrong password, unknown user, uri that does not match the
	// Request-URI, an algorithm not configured, or a qop other than auth
	// and auth-int (auth-int is accepted though only auth is offered: it
	// protects more, and costs one body hash). Answer with a
	// fresh challenge (or, after too many, 403). Wrong password and unknown
	// user are deliberately indistinguishable.
	Failed
	// Malformed: the credentials for our realm cannot be parsed or lack a
	// required field; answer 400.
	Malformed
	// Unavailable: the credential store failed; answer 500. Nothing about the
	// credentials was decided.
	Unavailable
)

var resultNames = [...]string{"Result(0)", "OK", "Missing", "Stale", "Failed", "Malformed", "Unavailable"}

func (r Result) String() string {
	if int(r) < len(resultNames) {
		return resultNames[r]
	}
	return "Result(" + strconv.Itoa(int(r)) + ")"
}

// Config configures a Verifier.
type Config struct {
	// Realm is the protection domain shown to users and hashed into HA1
	// (RFC 3261 §22.1), usually the domain name. Required.
	Realm string
	// Store looks up users. Required.
	Store CredentialStore
	// NonceTTL is how long a nonce is accepted; an older one gets Stale.
	// Default 5 minutes.
	NonceTTL time.Duration
	// Clock returns the current time; tests inject a fake. Default time.Now.
	Clock func() time.Time
	// Key is the HMAC key for nonces. Nodes that share it accept each
	// other's nonces. When empty a random key is made, which is right for a
	// single node (after a restart clients get one stale=true round trip).
	Key []byte
	// Algorithms are offered in this order, one challenge each (RFC 8760
	// §2.4: the preferred first) and answers are accepted with these or
	// their -sess variants. Default [MD5]: common phones fail on a SHA-256
	// challenge instead of answering the MD5 one beside it (baresip 1.0
	// gives up when any is present, SIPp 3.6.1 answers only the first), and
	// offering both gains no protection from an attacker on the path, who
	// removes the SHA-256 challenge. [SHA-256] alone is the stronger choice
	// when every client answers it; the store then needs passwords or
	// SHA-256 HA1 values.
	Algorithms []string
	// MaxNonces bounds the replay table (nonces with their highest nc).
	// Default 65536.
	MaxNonces int
	// RequireQop refuses the RFC 2069 form without qop, nc and cnonce, which
	// cannot be protected against replay within the nonce lifetime. Off by
	// default because some old phones still answer that way.
	RequireQop bool
}

// Defaults for Config.
const (
	DefaultNonceTTL  = 5 * time.Minute
	DefaultMaxNonces = 1 << 16
)

// Verifier challenges requests and verifies digest credentials for one
// realm. It is safe for concurrent use.
type Verifier struct {
	realm      string
	store      CredentialStore
	ttl        time.Duration
	clock      func() time.Time
	nonces     *noncer
	nc         *ncTable
	requireQop bool
	acceptMD5  bool
	acceptSHA  bool
	offered    []algorithm
	// prefix[i] is a whole challenge for offered[i] up to the nonce value,
	// built once: `Digest realm="x", qop="auth", algorithm=SHA-256, opaque="o", nonce="`.
	prefix []string
	// dummy stands in for the password of an unknown user, so that an
	// unknown user costs the same hashing as a known one.
	dummy string
}

// NewVerifier checks cfg, fills in defaults and returns a Verifier.
func NewVerifier(cfg Config) (*Verifier, error) {
	if cfg.Realm == "" {
		return nil, errors.New("auth: Config.Realm is empty")
	}
	if cfg.Store == nil {
		return nil, errors.New("auth: Config.Store is nil")
	}
	if cfg.NonceTTL < 0 {
		return nil, errors.New("auth: Config.NonceTTL is negative")
	}
	if cfg.NonceTTL == 0 {
		cfg.NonceTTL = DefaultNonceTTL
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.MaxNonces <= 0 {
		cfg.MaxNonces = DefaultMaxNonces
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = []string{MD5}
	}
	key := cfg.Key
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	v := &Verifier{
		realm:      cfg.Realm,
		store:      cfg.Store,
		ttl:        cfg.NonceTTL,
		clock:      cfg.Clock,
		nonces:     newNoncer(key, cfg.Realm, cfg.NonceTTL),
		nc:         newNCTable(cfg.MaxNonces),
		requireQop: cfg.RequireQop,
	}
	// The opaque value carries no state here (the nonce does); RFC 7616 says
	// clients return it, so it is sent, derived from the key so that sibling
	// nodes send the same one, and not checked.
	m := hmac.New(sha256.New, key)
	m.Write([]byte("opaque\x00" + cfg.Realm))
	opaque := hex.EncodeToString(m.Sum(nil)[:8])
	var d [16]byte
	_, _ = rand.Read(d[:])
	v.dummy = base64.RawStdEncoding.EncodeToString(d[:])

	for _, name := range cfg.Algorithms {
		a, ok := parseAlgorithm(name)
		if !ok || name == "" || a.sess {
			return nil, fmt.Errorf("auth: Config.Algorithms: %q is not MD5 or SHA-256", name)
		}
		if a.sha && v.acceptSHA || !a.sha && v.acceptMD5 {
			return nil, fmt.Errorf("auth: Config.Algorithms: %q listed twice", name)
		}
		if a.sha {
			v.acceptSHA = true
		} else {
			v.acceptMD5 = true
		}
		v.offered = append(v.offered, a)
		v.prefix = append(v.prefix, "Digest realm="+sip.Quote(cfg.Realm)+`, qop="auth", algorithm=`+a.String()+
			`, opaque="`+opaque+`", nonce="`)
	}
	return v, nil
}

// Realm returns the realm the Verifier protects.
func (v *Verifier) Realm() string { return v.realm }

func headerNames(proxy bool) (challenge, credentials string, code int) {
	if proxy {
		return "Proxy-Authenticate", "Proxy-Authorization", 407
	}
	return "WWW-Authenticate", "Authorization", 401
}

// Challenge returns a 401 with WWW-Authenticate (a registrar or UAS,
// RFC 3261 §22.2) or, with proxy, a 407 with Proxy-Authenticate (§22.3). It
// offers one challenge per configured algorithm, in the configured order
// (RFC 8760 §2.4: the preferred first), sharing one fresh nonce, with qop="auth" and stale=true when
// stale. The response gets a To tag when the request had none, as §8.2.6.2
// asks of every locally generated final response: the stateless one of
// sip.StatelessTag, since a challenge commits nothing (its retransmissions
// get the same tag, and the ACK of an INVITE's is known as such).
func (v *Verifier) Challenge(req *sip.Request, proxy bool, stale bool) *sip.Response {
	hdr, _, code := headerNames(proxy)
	resp := sip.NewResponse(req, code, "")
	if req.ToTag() == "" {
		resp.SetToTag(sip.StatelessTag(req.CallID(), req.FromTag()))
	}
	nonce := v.nonces.make(v.clock().UnixNano())
	suffix := `"`
	if stale {
		suffix = `", stale=true`
	}
	for _, p := range v.prefix {
		resp.Add(hdr, p+nonce+suffix)
	}
	return resp
}

// Reject turns a non-OK Result into the response to send: a challenge for
// Missing and Failed, a challenge with stale=true for Stale, 400 for
// Malformed, 500 for Unavailable. It returns nil for OK.
func (v *Verifier) Reject(req *sip.Request, proxy bool, r Result) *sip.Response {
	_, cred, _ := headerNames(proxy)
	switch r {
	case OK:
		return nil
	case Stale:
		return v.Challenge(req, proxy, true)
	case Malformed:
		resp := sip.NewResponse(req, 400, "Malformed "+cred+" Header")
		resp.SetToTag(sip.StatelessTag(req.CallID(), req.FromTag()))
		return resp
	case Unavailable:
		resp := sip.NewResponse(req, 500, "Credential Store Unavailable")
		resp.SetToTag(sip.StatelessTag(req.CallID(), req.FromTag()))
		return resp
	}
	return v.Challenge(req, proxy, false)
}

// Verify checks the request's Authorization header (Proxy-Authorization with
// proxy) whose realm is ours; see VerifyContext.
func (v *Verifier) Verify(req *sip.Request, proxy bool) (user string, result Result) {
	return v.VerifyContext(context.Background(), req, proxy)
}

// VerifyContext checks the request's Authorization header (Proxy-Authorization
// with proxy) whose realm is ours, passing ctx to the store. Headers for other
// realms belong to other servers on the path and are ignored (§22.3).
//
// user is the username the credentials claim. It is authenticated only when
// result is OK; for other results it is what the client sent, for logs and
// rate limits, and must not be trusted.
//
// The checks, in order: a Digest header for our realm (else Missing); its
// syntax and the fields RFC 7616 §3.4 requires (else Malformed); a configured
// algorithm, qop auth or auth-int (or none, unless RequireQop), and a uri
// equal to the Request-URI as §22.4 requires
// (else Failed); then the response digest, compared in constant time against
// the stored secret, or a dummy one for an unknown user (else Failed); then
// the nonce: made with our key, younger than NonceTTL, and with an nc higher
// than any seen before with it (else Stale). The nonce is judged after the
// digest so that Stale, which lets a client retry without asking its user,
// is only ever said to someone who knows the password (RFC 7616 §3.3).
func (v *Verifier) VerifyContext(ctx context.Context, req *sip.Request, proxy bool) (user string, result Result) {
	_, credName, _ := headerNames(proxy)
	var d digestParams
	found, malformed := false, false
	// An index loop rather than range over req.Values: the iterator's
	// closure would move d to the heap on every request.
	for i := range req.Len() {
		f := req.Field(i)
		if !f.Is(credName) {
			continue
		}
		c, err := sip.ParseCredentials(f.Value)
		if err != nil {
			malformed = true
			continue
		}
		if !strings.EqualFold(c.Scheme, "Digest") {
			continue // Basic and friends are not for SIP (§22.1)
		}
		p, err := parseDigest(c.Params)
		if err != nil {
			// We cannot tell whose it is; if nothing else is ours, say 400.
			malformed = true
			continue
		}
		if p.realm == v.realm {
			d, found = p, true
			break
		}
	}
	if !found {
		if malformed {
			return "", Malformed
		}
		return "", Missing
	}
	user = d.username
	if d.username == "" || d.nonce == "" || d.uri == "" || d.response == "" {
		return user, Malformed
	}
	alg, ok := parseAlgorithm(d.algorithm)
	if !ok || alg.sha && !v.acceptSHA || !alg.sha && !v.acceptMD5 {
		return user, Failed
	}
	var nc uint32
	switch d.qop {
	case "":
		if v.requireQop {
			return user, Failed
		}
		if alg.sess {
			return user, Malformed // -sess hashes the cnonce: it needs qop
		}
	case "auth", "auth-int":
		if nc, ok = parseNC(d.nc); !ok || nc == 0 || d.cnonce == "" {
			return user, Malformed
		}
	default:
		return user, Failed
	}
	if d.userhash != "" && !strings.EqualFold(d.userhash, "false") {
		// RFC 7616 §3.4.4 username hashing was not offered; a client that
		// uses it anyway cannot be matched to a user.
		return user, Failed
	}
	if !uriMatches(&req.URI, d.uri) {
		return user, Failed
	}

	sec, err := v.store.Lookup(ctx, d.username, v.realm)
	known := err == nil
	if err != nil && !errors.Is(err, ErrUnknownUser) {
		return user, Unavailable
	}
	var h1 [64]byte
	ha1, ok := sec.ha1(h1[:0], alg.sha, d.username, v.realm)
	if ok && sec.Password == "" {
		// A stored HA1 skips the hash a password or a dummy costs; spend
		// it anyway so that HA1 users and unknown users take alike.
		var sink [64]byte
		appendHA1(sink[:0], alg.sha, d.username, v.realm, v.dummy)
	}
	if !ok {
		// Unknown user, or no HA1 for this algorithm: hash a dummy
		// password so that the time taken does not say which.
		known = false
		ha1 = appendHA1(h1[:0], alg.sha, d.username, v.realm, v.dummy)
	}
	in := digestInput{alg: alg, method: req.Method, uri: d.uri, nonce: d.nonce,
		nc: d.nc, cnonce: d.cnonce, qop: d.qop, body: req.Body}
	var want, got [64]byte
	expected := appendResponse(want[:0], ha1, &in)
	clear(h1[:])
	match := subtle.ConstantTimeCompare(expected, lowerHex(got[:0], d.response)) == 1
	if !match || !known {
		return user, Failed
	}

	now := v.clock().UnixNano()
	st, issued, id := v.nonces.check(d.nonce, now)
	if st != nonceValid {
		return user, Stale
	}
	if d.qop != "" && !v.nc.advance(id, issued, nc, now, int64(v.ttl)) {
		// A replay, or a nonce the bounded table had to forget. A fresh
		// nonce costs an honest client one round trip and stops a replay.
		return user, Stale
	}
	return user, OK
}

// lowerHex appends s in lower case when it is short enough to be a digest
// (some phones send upper-case hex); longer strings cannot match anyway.
func lowerHex(dst []byte, s string) []byte {
	if len(s) > cap(dst) {
		return dst
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'F' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// uriMatches applies RFC 3261 §22.4: the uri parameter must name the
// Request-URI. The same string is the rule; a URI that differs only in ways
// §19.1.4 calls equal (case of the host, order of parameters) is accepted too,
// since the digest is computed over the uri parameter as sent and so stays
// bound to what the client signed.
func uriMatches(ru *sip.URI, uri string) bool {
	uri = strings.TrimSpace(uri)
	var buf [256]byte
	if string(ru.AppendTo(buf[:0])) == uri {
		return true
	}
	u, err := sip.ParseURI(uri)
	return err == nil && u.Equal(ru)
}

// Consume removes from req the credentials for our realm (Authorization, or
// Proxy-Authorization with proxy), as a proxy does after accepting them so
// that they are not sent on. Values for other realms stay: §20.28 and §22.3
// forbid a proxy to consume credentials of a realm not its own.
func (v *Verifier) Consume(req *sip.Request, proxy bool) {
	_, credName, _ := headerNames(proxy)
	var keep []string
	removed := false
	for val := range req.Values(credName) {
		if c, err := sip.ParseCredentials(val); err == nil && strings.EqualFold(c.Scheme, "Digest") {
			if p, err := parseDigest(c.Params); err == nil && p.realm == v.realm {
				removed = true
				continue
			}
		}
		keep = append(keep, val)
	}
	if !removed {
		return
	}
	req.Del(credName)
	for _, val := range keep {
		req.Add(credName, val)
	}
}
