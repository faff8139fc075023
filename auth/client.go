package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/parley-sip/parley/sip"
)

// Client errors.
var (
	// ErrNoChallenge: the response carries no Digest challenge we can read.
	ErrNoChallenge = errors.New("auth: no digest challenge")
	// ErrUnsupported: the challenge asks for an algorithm or qop this
	// package does not implement (e.g. SHA-512-256, auth-int without a body).
	ErrUnsupported = errors.New("auth: unsupported digest challenge")
	// ErrRejected: the server challenged again, without stale=true, a
	// request that already carried our credentials for that realm: the
	// username or password is wrong. Retrying would only loop.
	ErrRejected = errors.New("auth: credentials rejected")
)

// challenge is a parsed Digest challenge.
type challenge struct {
	realm  string
	nonce  string
	opaque string
	alg    algorithm
	algSet bool   // the challenge named its algorithm (we echo it then)
	qop    string // chosen qop: "auth", "auth-int" or "" (RFC 2069)
	stale  bool
}

// rank orders algorithms by preference: SHA-256 before MD5 (RFC 8760 §2.4),
// and plain before -sess, which buys nothing for SIP.
func (a algorithm) rank() int {
	r := 0
	if a.sha {
		r += 2
	}
	if !a.sess {
		r++
	}
	return r
}

// parseChallenge reads one WWW-Authenticate or Proxy-Authenticate value.
// allowInt says whether auth-int may be chosen (a body is at hand).
func parseChallenge(c sip.Credentials, allowInt bool) (challenge, error) {
	if !strings.EqualFold(c.Scheme, "Digest") {
		return challenge{}, ErrNoChallenge
	}
	p, err := parseDigest(c.Params)
	if err != nil {
		return challenge{}, err
	}
	if p.nonce == "" {
		return challenge{}, ErrNoChallenge
	}
	alg, ok := parseAlgorithm(p.algorithm)
	if !ok {
		return challenge{}, ErrUnsupported
	}
	ch := challenge{realm: p.realm, nonce: p.nonce, opaque: p.opaque, alg: alg,
		algSet: p.algorithm != "", stale: strings.EqualFold(p.stale, "true")}
	if p.qop != "" {
		// qop in a challenge is a quoted list: "auth,auth-int". Prefer auth.
		hasAuth, hasInt := false, false
		for o := range strings.SplitSeq(p.qop, ",") {
			switch strings.TrimSpace(o) {
			case "auth":
				hasAuth = true
			case "auth-int":
				hasInt = true
			}
		}
		switch {
		case hasAuth:
			ch.qop = "auth"
		case hasInt && allowInt:
			ch.qop = "auth-int"
		default:
			return challenge{}, ErrUnsupported
		}
	} else if alg.sess {
		return challenge{}, ErrUnsupported // -sess needs a cnonce, hence qop
	}
	return ch, nil
}

// answer builds the credentials value for ch. nc and cnonce are ignored
// without qop.
func (ch *challenge) answer(method, uri, user, password string, body []byte, nc uint32, cnonce string) string {
	var h1 [64]byte
	ha1 := appendHA1(h1[:0], ch.alg.sha, user, ch.realm, password)
	ncs := ""
	if ch.qop != "" {
		ncs = formatNC(nc)
	}
	in := digestInput{alg: ch.alg, method: method, uri: uri, nonce: ch.nonce,
		nc: ncs, cnonce: cnonce, qop: ch.qop, body: body}
	var r [64]byte
	resp := appendResponse(r[:0], ha1, &in)
	clear(h1[:])

	var b strings.Builder
	b.Grow(160 + len(user) + len(ch.realm) + len(uri) + len(ch.nonce) + len(ch.opaque))
	b.WriteString("Digest username=")
	b.WriteString(sip.Quote(user))
	b.WriteString(", realm=")
	b.WriteString(sip.Quote(ch.realm))
	b.WriteString(", nonce=")
	b.WriteString(sip.Quote(ch.nonce))
	b.WriteString(", uri=")
	b.WriteString(sip.Quote(uri))
	b.WriteString(", response=\"")
	b.Write(resp)
	b.WriteByte('"')
	if ch.algSet {
		b.WriteString(", algorithm=")
		b.WriteString(ch.alg.String())
	}
	if ch.qop != "" {
		// RFC 7616 §3.4: qop and nc are not quoted in credentials.
		b.WriteString(", qop=")
		b.WriteString(ch.qop)
		b.WriteString(", nc=")
		b.WriteString(ncs)
		b.WriteString(", cnonce=")
		b.WriteString(sip.Quote(cnonce))
	}
	if ch.opaque != "" {
		b.WriteString(", opaque=")
		b.WriteString(sip.Quote(ch.opaque))
	}
	return b.String()
}

func formatNC(nc uint32) string {
	s := strconv.FormatUint(uint64(nc), 16)
	return strings.Repeat("0", 8-len(s)) + s
}

func newCnonce() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Answer returns the Authorization (or Proxy-Authorization) value answering
// one Digest challenge for a request with the given method and Request-URI,
// with nonce-count nc and a random cnonce. It picks qop=auth when offered and
// answers in the RFC 2069 form when no qop is offered. Requests that need
// auth-int (only offered alone) should use Client, which has the body.
func Answer(ch sip.Credentials, method, uri, user, password string, nc uint32) (string, error) {
	c, err := parseChallenge(ch, false)
	if err != nil {
		return "", err
	}
	return c.answer(method, uri, user, password, nil, nc, newCnonce()), nil
}

// Client answers digest challenges for one user agent account: it remembers
// the last challenge per realm (and per header: 401 or 407), counts nc for
// each, and writes Authorization or Proxy-Authorization into requests. It is
// safe for concurrent use.
type Client struct {
	user, password string

	mu    sync.Mutex
	cache map[clientKey]*cached
}

type clientKey struct {
	realm string
	proxy bool
}

type cached struct {
	ch challenge
	nc uint32
}

// NewClient returns a Client that answers as user with password in every
// realm.
func NewClient(user, password string) *Client {
	return &Client{user: user, password: password, cache: make(map[clientKey]*cached)}
}

// Authorize reads the challenges of resp, a 401 or 407 to req, and adds the
// answering credentials to req, replacing any it carried for those realms.
// The caller then sends req again with a new CSeq and branch (RFC 3261
// §22.2, §8.1.3.5). Each realm is answered once, with its best algorithm
// (SHA-256 before MD5); several realms (several proxies) are all answered, as
// §22.3 asks. It returns ErrRejected when a realm challenges again without
// stale=true although req already carried credentials for it.
func (c *Client) Authorize(req *sip.Request, resp *sip.Response) error {
	var proxy bool
	switch resp.StatusCode {
	case 401:
	case 407:
		proxy = true
	default:
		return ErrNoChallenge
	}
	chName, credName, _ := headerNames(proxy)
	best := map[string]challenge{}
	var order []string
	var firstErr error
	for val := range resp.Values(chName) {
		cr, err := sip.ParseCredentials(val)
		if err != nil {
			continue
		}
		ch, err := parseChallenge(cr, true)
		if err != nil {
			if firstErr == nil || errors.Is(err, ErrUnsupported) {
				firstErr = err
			}
			continue
		}
		old, seen := best[ch.realm]
		if !seen {
			order = append(order, ch.realm)
		}
		if !seen || ch.alg.rank() > old.alg.rank() {
			best[ch.realm] = ch
		}
	}
	if len(order) == 0 {
		if firstErr == nil || !errors.Is(firstErr, ErrUnsupported) {
			firstErr = ErrNoChallenge
		}
		return firstErr
	}
	for _, realm := range order {
		if !best[realm].stale && c.carries(req, credName, realm) {
			return ErrRejected
		}
	}
	c.mu.Lock()
	for _, realm := range order {
		c.cache[clientKey{realm, proxy}] = &cached{ch: best[realm]}
	}
	c.mu.Unlock()
	c.apply(req, proxy, order)
	return nil
}

// carries reports whether req has our credentials for realm.
func (c *Client) carries(req *sip.Request, credName, realm string) bool {
	for val := range req.Values(credName) {
		cr, err := sip.ParseCredentials(val)
		if err != nil || !strings.EqualFold(cr.Scheme, "Digest") {
			continue
		}
		if p, err := parseDigest(cr.Params); err == nil && p.realm == realm && p.username == c.user {
			return true
		}
	}
	return false
}

// Apply adds credentials for every remembered challenge to req, with the next
// nc of each, so that a later request (a re-REGISTER, a BYE through the same
// proxy) needs no new round trip. It reports whether it added any. A server
// that has since forgotten the nonce answers stale=true, and Authorize then
// takes the new one.
func (c *Client) Apply(req *sip.Request) bool {
	c.mu.Lock()
	var www, prx []string
	for k := range c.cache {
		if k.proxy {
			prx = append(prx, k.realm)
		} else {
			www = append(www, k.realm)
		}
	}
	c.mu.Unlock()
	c.apply(req, false, www)
	c.apply(req, true, prx)
	return len(www)+len(prx) > 0
}

// Forget drops the remembered challenges, e.g. after the account changed.
func (c *Client) Forget() {
	c.mu.Lock()
	clear(c.cache)
	c.mu.Unlock()
}

// apply writes credentials for realms into req, replacing old ones.
func (c *Client) apply(req *sip.Request, proxy bool, realms []string) {
	if len(realms) == 0 {
		return
	}
	_, credName, _ := headerNames(proxy)
	uri := req.URI.String()
	// Keep credentials for other realms (other proxies on the path).
	var keep []string
	for val := range req.Values(credName) {
		if cr, err := sip.ParseCredentials(val); err == nil {
			if p, err := parseDigest(cr.Params); err == nil && slices.Contains(realms, p.realm) {
				continue
			}
		}
		keep = append(keep, val)
	}
	req.Del(credName)
	for _, v := range keep {
		req.Add(credName, v)
	}
	for _, realm := range realms {
		c.mu.Lock()
		e, ok := c.cache[clientKey{realm, proxy}]
		var ch challenge
		var nc uint32
		if ok {
			e.nc++
			ch, nc = e.ch, e.nc
		}
		c.mu.Unlock()
		if !ok {
			continue
		}
		req.Add(credName, ch.answer(req.Method, uri, c.user, c.password, req.Body, nc, newCnonce()))
	}
}
