package sip

import (
	"errors"
	"strconv"
	"strings"
)

// Address is a name-addr or addr-spec with header parameters, the value of
// From, To, Contact, Route, Record-Route, Path, Refer-To and Reply-To (§20.10).
type Address struct {
	Display  string // display name, unquoted ("" when absent)
	URI      URI
	Params   Params // header parameters after the URI (";tag=...;expires=...")
	Wildcard bool   // the Contact "*" of a REGISTER that removes all bindings
}

// Param returns a header parameter, e.g. "tag", "expires" or "q".
func (a *Address) Param(name string) (string, bool) { return a.Params.Get(name) }

// Tag returns the tag parameter.
func (a *Address) Tag() string {
	t, _ := a.Params.Get("tag")
	return t
}

// ParseAddress parses a name-addr or addr-spec with parameters. It allocates
// only when the display name holds escapes.
func ParseAddress(s string) (Address, error) {
	var a Address
	s = trimLWS(s)
	if s == "*" {
		a.Wildcard = true
		return a, nil
	}
	if s == "" {
		return a, errors.New("empty address")
	}
	lt := -1
	switch {
	case s[0] == '"':
		end := closingQuote(s)
		if end < 0 {
			return a, errors.New("unterminated display name")
		}
		a.Display = Unquote(s[:end+1])
		s = trimLWS(s[end+1:])
		if s == "" || s[0] != '<' {
			return a, errors.New("display name without <URI>")
		}
		lt = 0
	default:
		lt = strings.IndexByte(s, '<')
		if lt > 0 {
			// An unquoted display name is a sequence of tokens (§25.1).
			disp := trimLWS(s[:lt])
			for i := 0; i < len(disp); i++ {
				if c := disp[i]; !isTokenChar(c) && !isLWS(c) {
					return a, errors.New("bad display name")
				}
			}
			a.Display = disp
		}
	}
	if lt >= 0 {
		gt := strings.IndexByte(s[lt:], '>')
		if gt < 0 {
			return a, errors.New("missing '>'")
		}
		u, err := ParseURI(trimLWS(s[lt+1 : lt+gt]))
		if err != nil {
			return a, err
		}
		a.URI = u
		s = trimLWS(s[lt+gt+1:])
	} else {
		// addr-spec: parameters after the URI belong to the header (§20).
		end := strings.IndexByte(s, ';')
		if end < 0 {
			end = len(s)
		}
		uriText := trimLWS(s[:end])
		if strings.ContainsAny(uriText, " \t,?") {
			return a, errors.New("URI with ',', '?' or spaces needs <>")
		}
		u, err := ParseURI(uriText)
		if err != nil {
			return a, err
		}
		a.URI = u
		s = s[end:]
	}
	if s != "" {
		if s[0] != ';' || !validParams(s) {
			return a, errors.New("bad parameters")
		}
		a.Params = Params(s)
	}
	return a, nil
}

// closingQuote returns the index of the quote that closes the quoted string
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

// String returns the wire form of the address, always as a name-addr.
func (a *Address) String() string { return string(a.AppendTo(nil)) }

// AppendTo appends the wire form of the address to b.
func (a *Address) AppendTo(b []byte) []byte {
	if a.Wildcard {
		return append(b, '*')
	}
	if a.Display != "" {
		// Always quoted: valid for any display name, and what most
		// implementations write.
		b = appendQuoted(b, a.Display)
		b = append(b, ' ')
	}
	b = append(b, '<')
	b = a.URI.AppendTo(b)
	b = append(b, '>')
	return append(b, a.Params...)
}

// Via is one Via value (§20.42): the transport and sent-by of a hop and its
// parameters.
type Via struct {
	Protocol  string // "SIP/2.0"
	Transport string // "UDP", "TCP", "TLS", "SCTP", "WS", "WSS", as written
	Host      string // sent-by host (IPv6 with brackets)
	Port      int    // 0 when absent
	Params    Params
}

// MagicCookie starts every RFC 3261 branch (§8.1.1.7).
const MagicCookie = "z9hG4bK"

// Branch returns the branch parameter.
func (v *Via) Branch() string {
	b, _ := v.Params.Get("branch")
	return b
}

// Received returns the received parameter (§18.2.1).
func (v *Via) Received() string {
	r, _ := v.Params.Get("received")
	return r
}

// RPort returns the rport parameter (RFC 3581): its value, and whether the
// parameter is present at all (a bare ";rport" asks for the value).
func (v *Via) RPort() (int, bool) {
	r, ok := v.Params.Get("rport")
	if !ok || r == "" {
		return 0, ok
	}
	p, _ := parseUint(r, 65535)
	return p, true
}

// SentBy returns "host:port" or "host".
func (v *Via) SentBy() string {
	if v.Port == 0 {
		return v.Host
	}
	return v.Host + ":" + strconv.Itoa(v.Port)
}

// ParseVia parses one Via value. It does not allocate.
func ParseVia(s string) (Via, error) {
	var v Via
	var ok bool
	// sent-protocol = protocol-name SLASH protocol-version SLASH transport,
	// with LWS allowed around the slashes (RFC 4475 §3.1.1.1).
	name, s, ok := cutToken(s, '/')
	if !ok {
		return v, badHeader("Via", "no protocol")
	}
	version, s, ok := cutToken(s, '/')
	if !ok {
		return v, badHeader("Via", "no protocol version")
	}
	if !strings.EqualFold(name, "SIP") {
		return v, badHeader("Via", "protocol is not SIP/2.0")
	}
	if version != "2.0" {
		// A SIP version we do not speak: 505, as for the Request-Line
		// (§8.2.2 names no code for the Via, but the fault is the same).
		if len(version) > 8 {
			version = version[:8] + "..." // the reason echoes it: keep it short
		}
		return v, statusErr(505, ErrVersion, "Version Not Supported: Via SIP/"+version)
	}
	v.Protocol = "SIP/2.0"
	s = trimLWS(s)
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	v.Transport = s[:i]
	if v.Transport == "" {
		return v, badHeader("Via", "no transport")
	}
	s = trimLWS(s[i:])
	end := strings.IndexByte(s, ';')
	if end < 0 {
		end = len(s)
	}
	hostport := trimLWS(s[:end])
	// LWS is allowed around the ':' of sent-by.
	if strings.ContainsAny(hostport, " \t") {
		if c := strings.LastIndexByte(hostport, ':'); c > 0 && !strings.HasSuffix(hostport, "]") {
			hostport = trimLWS(hostport[:c]) + ":" + trimLWS(hostport[c+1:])
		}
	}
	host, port, err := splitHostPort(hostport)
	if err != nil {
		return v, badHeader("Via", "bad sent-by")
	}
	v.Host, v.Port = host, port
	if params := s[end:]; params != "" {
		if !validParams(params) {
			return v, badHeader("Via", "bad parameters")
		}
		v.Params = Params(params)
	}
	return v, nil
}

// cutToken returns the trimmed text before sep and the rest after it.
func cutToken(s string, sep byte) (before, after string, ok bool) {
	i := strings.IndexByte(s, sep)
	if i < 0 {
		return "", s, false
	}
	return trimLWS(s[:i]), s[i+1:], true
}

// String returns the wire form of the Via value.
func (v *Via) String() string { return string(v.AppendTo(nil)) }

// AppendTo appends the wire form of the Via value to b.
func (v *Via) AppendTo(b []byte) []byte {
	b = append(b, "SIP/2.0/"...)
	b = append(b, v.Transport...)
	b = append(b, ' ')
	b = append(b, v.Host...)
	if v.Port != 0 {
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(v.Port), 10)
	}
	return append(b, v.Params...)
}

// CSeq is the command sequence of a request (§20.16).
type CSeq struct {
	Seq    uint32
	Method string
}

// ParseCSeq parses "4711 INVITE". The number must be below 2^31 (§8.1.1.5).
func ParseCSeq(s string) (CSeq, error) {
	s = trimLWS(s)
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == 0 {
		return CSeq{}, badHeader("CSeq", "no sequence number")
	}
	digits := s[:i]
	for len(digits) > 1 && digits[0] == '0' {
		digits = digits[1:]
	}
	if len(digits) > 10 {
		return CSeq{}, badHeader("CSeq", "sequence number too large")
	}
	n, _ := strconv.ParseUint(digits, 10, 64)
	if n >= 1<<31 {
		return CSeq{}, badHeader("CSeq", "sequence number too large")
	}
	m := trimLWS(s[i:])
	if m == "" || len(m) == len(s[i:]) || !isToken(m) {
		return CSeq{}, badHeader("CSeq", "bad method")
	}
	return CSeq{Seq: uint32(n), Method: m}, nil
}

// String returns "4711 INVITE".
func (c CSeq) String() string { return strconv.FormatUint(uint64(c.Seq), 10) + " " + c.Method }

// Credentials holds an auth-scheme and its comma-separated parameters: the
// value of Authorization, Proxy-Authorization, WWW-Authenticate and
// Proxy-Authenticate (§20.7, RFC 7616).
type Credentials struct {
	Scheme string // "Digest"
	Params string // raw `username="bob", realm="x", ...`
}

// ParseCredentials splits the scheme from the parameters.
func ParseCredentials(s string) (Credentials, error) {
	s = trimLWS(s)
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	if i == 0 {
		return Credentials{}, errors.New("no auth scheme")
	}
	return Credentials{Scheme: s[:i], Params: trimLWS(s[i:])}, nil
}

// Param returns a parameter's value with quotes removed.
func (c *Credentials) Param(name string) (string, bool) {
	s := c.Params
	for s != "" {
		var seg string
		seg, s = nextListElement(s)
		k, v, ok := strings.Cut(seg, "=")
		if !ok {
			continue
		}
		if strings.EqualFold(trimLWS(k), name) {
			return Unquote(trimLWS(v)), true
		}
	}
	return "", false
}

// ---- character classes (§25.1) ----

var tokenChars = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-.!%*_+`'~" {
		t[c] = true
	}
	return t
}()

func isTokenChar(c byte) bool { return tokenChars[c] }

// IsTokenChar reports whether c may appear in a token (§25.1), for other
// packages that scan SIP grammar (digest parameters, for one).
func IsTokenChar(c byte) bool { return tokenChars[c] }

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenChars[s[i]] {
			return false
		}
	}
	return true
}
