package auth

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/parley-sip/parley/sip"
)

// Algorithm names as they appear in the algorithm parameter (RFC 7616 §3.3,
// RFC 8760 §2.2). The -sess variants hash the client nonce into HA1.
const (
	MD5        = "MD5"
	MD5Sess    = "MD5-sess"
	SHA256     = "SHA-256"
	SHA256Sess = "SHA-256-sess"
)

// algorithm is a parsed algorithm parameter.
type algorithm struct {
	sha  bool // SHA-256, else MD5
	sess bool
}

// parseAlgorithm maps the parameter to an algorithm; "" is MD5, the default
// of RFC 7616 §3.3. Names compare case-insensitively.
func parseAlgorithm(s string) (algorithm, bool) {
	switch {
	case s == "" || strings.EqualFold(s, MD5):
		return algorithm{}, true
	case strings.EqualFold(s, SHA256):
		return algorithm{sha: true}, true
	case strings.EqualFold(s, MD5Sess):
		return algorithm{sess: true}, true
	case strings.EqualFold(s, SHA256Sess):
		return algorithm{sha: true, sess: true}, true
	}
	return algorithm{}, false
}

func (a algorithm) String() string {
	switch {
	case a.sha && a.sess:
		return SHA256Sess
	case a.sha:
		return SHA256
	case a.sess:
		return MD5Sess
	}
	return MD5
}

// appendHash appends the lower-case hex hash of data.
func appendHash(dst []byte, sha bool, data []byte) []byte {
	if sha {
		s := sha256.Sum256(data)
		return hex.AppendEncode(dst, s[:])
	}
	s := md5.Sum(data)
	return hex.AppendEncode(dst, s[:])
}

// scratch is a stack buffer for hash input; the common case (a SIP URI, a
// 64-digit HA1, nonce and cnonce) fits without touching the heap.
type scratch [384]byte

// appendHA1 appends H(user:realm:password).
func appendHA1(dst []byte, sha bool, user, realm, password string) []byte {
	var s scratch
	b := append(s[:0], user...)
	b = append(b, ':')
	b = append(b, realm...)
	b = append(b, ':')
	b = append(b, password...)
	out := appendHash(dst, sha, b)
	clear(b) // the password should not linger in a buffer
	return out
}

// HA1MD5 returns hex MD5(user:realm:password), the value a StaticStore or a
// configuration file keeps instead of the password for MD5 (RFC 7616 §3.4.2).
func HA1MD5(user, realm, password string) string {
	return string(appendHA1(nil, false, user, realm, password))
}

// HA1SHA256 returns hex SHA-256(user:realm:password), the HA1 for SHA-256
// (RFC 7616 §3.4.2, RFC 8760).
func HA1SHA256(user, realm, password string) string {
	return string(appendHA1(nil, true, user, realm, password))
}

// digestInput is everything besides HA1 that goes into a response.
type digestInput struct {
	alg    algorithm
	method string
	uri    string
	nonce  string
	nc     string // 8 hex digits, as sent; "" in the RFC 2069 form
	cnonce string
	qop    string // "auth", "auth-int" or "" (RFC 2069 form)
	body   []byte // for auth-int
}

// appendResponse appends the hex request-digest of RFC 7616 §3.4.1 given the
// hex HA1 of the user (for -sess, the plain HA1: this turns it into the
// session HA1 of §3.4.2).
func appendResponse(dst []byte, ha1 []byte, in *digestInput) []byte {
	sha := in.alg.sha
	var s scratch
	var h1 [64]byte
	if in.alg.sess {
		b := append(s[:0], ha1...)
		b = append(b, ':')
		b = append(b, in.nonce...)
		b = append(b, ':')
		b = append(b, in.cnonce...)
		ha1 = appendHash(h1[:0], sha, b)
	}
	// HA2 = H(method:uri) or, for auth-int, H(method:uri:H(body)).
	var h2 [64]byte
	b := append(s[:0], in.method...)
	b = append(b, ':')
	b = append(b, in.uri...)
	if in.qop == "auth-int" {
		var hb [64]byte
		b = append(b, ':')
		b = append(b, appendHash(hb[:0], sha, in.body)...)
	}
	ha2 := appendHash(h2[:0], sha, b)
	// response = H(HA1:nonce:nc:cnonce:qop:HA2), or H(HA1:nonce:HA2) without
	// qop (RFC 2069).
	b = append(s[:0], ha1...)
	b = append(b, ':')
	b = append(b, in.nonce...)
	b = append(b, ':')
	if in.qop != "" {
		b = append(b, in.nc...)
		b = append(b, ':')
		b = append(b, in.cnonce...)
		b = append(b, ':')
		b = append(b, in.qop...)
		b = append(b, ':')
	}
	b = append(b, ha2...)
	out := appendHash(dst, sha, b)
	clear(s[:]) // it held HA1
	return out
}

// digestParams are the parameters of a Digest challenge or credentials
// (RFC 7616 §3.3, §3.4), unquoted. Unknown parameters are skipped, as §3.4
// asks.
type digestParams struct {
	username  string
	realm     string
	nonce     string
	uri       string
	response  string
	algorithm string
	cnonce    string
	opaque    string
	qop       string
	nc        string
	userhash  string
	stale     string
	domain    string
}

var (
	errSyntax    = errors.New("auth: bad digest parameter syntax")
	errDuplicate = errors.New("auth: duplicate digest parameter")
)

// parseDigest parses the comma-separated auth-params after the scheme. It
// allocates only for quoted values holding a backslash. A parameter given
// twice is an error: which one would be meant is a guess, and guessing is how
// two parties end up checking different things.
func parseDigest(s string) (digestParams, error) {
	var d digestParams
	for {
		for len(s) > 0 && (s[0] == ',' || isLWS(s[0])) {
			s = s[1:]
		}
		if s == "" {
			return d, nil
		}
		i := 0
		for i < len(s) && isTokenChar(s[i]) {
			i++
		}
		if i == 0 {
			return d, errSyntax
		}
		name := s[:i]
		s = trimLeftLWS(s[i:])
		if s == "" || s[0] != '=' {
			return d, errSyntax
		}
		s = trimLeftLWS(s[1:])
		var val string
		if s != "" && s[0] == '"' {
			end := closingQuote(s)
			if end < 0 {
				return d, errSyntax
			}
			val = sip.Unquote(s[:end+1])
			s = s[end+1:]
		} else {
			// Tokens, and leniently anything up to a comma or space: some
			// phones send uri= or nonce= unquoted.
			j := 0
			for j < len(s) && s[j] != ',' && !isLWS(s[j]) && s[j] != '"' {
				j++
			}
			if j == 0 {
				return d, errSyntax
			}
			val, s = s[:j], s[j:]
		}
		s = trimLeftLWS(s)
		if s != "" && s[0] != ',' {
			return d, errSyntax
		}
		if p := d.field(name); p != nil {
			if *p != "" {
				return d, errDuplicate
			}
			*p = val
		}
	}
}

// field returns the struct field for a parameter name, or nil.
func (d *digestParams) field(name string) *string {
	switch strings.ToLower(name) { // names are short; ToLower allocates only for upper case
	case "username":
		return &d.username
	case "realm":
		return &d.realm
	case "nonce":
		return &d.nonce
	case "uri":
		return &d.uri
	case "response":
		return &d.response
	case "algorithm":
		return &d.algorithm
	case "cnonce":
		return &d.cnonce
	case "opaque":
		return &d.opaque
	case "qop":
		return &d.qop
	case "nc":
		return &d.nc
	case "userhash":
		return &d.userhash
	case "stale":
		return &d.stale
	case "domain":
		return &d.domain
	}
	return nil
}

// closingQuote returns the index of the quote that ends the quoted-string
// starting at s[0], or -1.
func closingQuote(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

func isLWS(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func trimLeftLWS(s string) string {
	for len(s) > 0 && isLWS(s[0]) {
		s = s[1:]
	}
	return s
}

func isTokenChar(c byte) bool { return sip.IsTokenChar(c) }

// parseNC parses the 8 hex digits of a nonce-count (RFC 7616 §3.4).
func parseNC(s string) (uint32, bool) {
	if len(s) != 8 {
		return 0, false
	}
	var n uint32
	for i := 0; i < 8; i++ {
		c := s[i]
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c|0x20 && c|0x20 <= 'f':
			v = c | 0x20 - 'a' + 10
		default:
			return 0, false
		}
		n = n<<4 | uint32(v)
	}
	return n, true
}
