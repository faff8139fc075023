package sip

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
)

// URI is a SIP, SIPS or tel URI (§19.1, RFC 3966), or any other URI kept
// opaque. Its strings point into the text it was parsed from and keep their
// %-escapes; compare URIs with Equal, which applies §19.1.4.
type URI struct {
	Scheme   string // as written: "sip", "sips", "tel", "mailto", ...
	User     string // user part (sip) or number (tel), still escaped
	Password string // still escaped
	Host     string // host name, IPv4 address, or IPv6 reference with brackets
	Port     int    // 0 when absent
	Params   Params // ";transport=tcp;lr", with the leading ';'
	Headers  string // "a=b&c=d" after '?', still escaped
	Opaque   string // everything after "scheme:" for schemes other than sip, sips, tel
}

// ErrBadURI is the kind of every URI parse error.
var ErrBadURI = errors.New("sip: bad URI")

func uriErr(what string) error { return &uriError{what} }

type uriError struct{ what string }

func (e *uriError) Error() string { return "bad URI: " + e.what }
func (e *uriError) Unwrap() error { return ErrBadURI }

// IsSIP reports whether the scheme is sip or sips.
func (u *URI) IsSIP() bool { return isScheme(u.Scheme, "sip") || isScheme(u.Scheme, "sips") }

// IsSecure reports whether the scheme is sips.
func (u *URI) IsSecure() bool { return isScheme(u.Scheme, "sips") }

// IsTel reports whether the scheme is tel.
func (u *URI) IsTel() bool { return isScheme(u.Scheme, "tel") }

func isScheme(s, want string) bool { return len(s) == len(want) && strings.EqualFold(s, want) }

// Param returns a URI parameter.
func (u *URI) Param(name string) (string, bool) { return u.Params.Get(name) }

// Transport returns the lower-cased transport parameter, or "" when absent.
func (u *URI) Transport() string {
	t, _ := u.Params.Get("transport")
	return strings.ToLower(t)
}

// AsRequestURI returns the URI as it may stand in a Request-URI: without
// the parts the §19.1.1 table forbids there — the method parameter and the
// headers ("?Route=...") — which §16.6 step 2 says a proxy removes from a
// target. maddr, ttl, transport, lr and unknown parameters stay.
func (u URI) AsRequestURI() URI {
	u.Params = u.Params.Without("method")
	u.Headers = ""
	return u
}

// HostPort returns "host:port", or "host" when the port is absent.
func (u *URI) HostPort() string {
	if u.Port == 0 {
		return u.Host
	}
	return u.Host + ":" + strconv.Itoa(u.Port)
}

// Addr returns the host as an IP address when it is one.
func (u *URI) Addr() (netip.Addr, bool) { return HostAddr(u.Host) }

// HostAddr returns a host as written in a URI or Via (an IPv4 address, an
// IPv6 reference with or without its brackets, or a name) as an IP address
// when it is one. IPv6 text follows RFC 4291, and also the three-colon form
// before an embedded IPv4 address that RFC 3261's ABNF allows
// ("2001:db8:::192.0.2.1"), which RFC 5118 §4.10 asks receivers to
// tolerate.
func HostAddr(host string) (netip.Addr, bool) {
	if len(host) > 2 && host[0] == '[' && host[len(host)-1] == ']' {
		return parseIPv6(host[1 : len(host)-1])
	}
	if strings.IndexByte(host, ':') < 0 {
		a, err := netip.ParseAddr(host)
		return a, err == nil && a.Is4()
	}
	return parseIPv6(host)
}

// parseIPv6 parses the text of an IPv6 reference (no zone), tolerating the
// RFC 3261 ABNF's ":::" before an embedded IPv4 address (see HostAddr).
func parseIPv6(s string) (netip.Addr, bool) {
	if strings.IndexByte(s, '%') >= 0 {
		return netip.Addr{}, false
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a, a.Is6()
	}
	// The ABNF's derivation is hexpart "::" then ":" IPv4address: only the
	// first ":::" may be rewritten, and only when an IPv4 address is all
	// that follows it; anything else stays an error.
	i := strings.Index(s, ":::")
	if i < 0 {
		return netip.Addr{}, false
	}
	tail := s[i+3:]
	if v4, err := netip.ParseAddr(tail); err != nil || !v4.Is4() {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s[:i+2] + tail)
	return a, err == nil && a.Is6()
}

// UserUnescaped returns the user part with %-escapes resolved.
func (u *URI) UserUnescaped() string { return unescape(u.User) }

// ParseURI parses a URI. It does not allocate.
func ParseURI(s string) (URI, error) {
	var u URI
	colon := strings.IndexByte(s, ':')
	if colon <= 0 {
		return u, uriErr("no scheme")
	}
	u.Scheme = s[:colon]
	if !isScheme1(u.Scheme) {
		return u, uriErr("bad scheme")
	}
	rest := s[colon+1:]
	switch {
	case isScheme(u.Scheme, "sip") || isScheme(u.Scheme, "sips"):
		return u, parseSIPURI(&u, rest)
	case isScheme(u.Scheme, "tel"):
		return u, parseTelURI(&u, rest)
	}
	if rest == "" {
		return u, uriErr("empty " + u.Scheme + " URI")
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '"' {
			return u, uriErr("bad character in " + u.Scheme + " URI")
		}
	}
	u.Opaque = rest
	return u, nil
}

func isScheme1(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !isDigit(c) && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func parseSIPURI(u *URI, s string) error {
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		// '@' is allowed only as the userinfo separator (§25: it is in
		// neither param nor header characters), so the last one splits.
		// A '?' or ';' may appear inside the user part.
		userinfo := s[:at]
		s = s[at+1:]
		if i := strings.IndexByte(userinfo, ':'); i >= 0 {
			u.User, u.Password = userinfo[:i], userinfo[i+1:]
			if !validURIChars(u.Password, ccPassword) {
				return uriErr("bad password")
			}
		} else {
			u.User = userinfo
		}
		if u.User == "" || !validURIChars(u.User, ccUser) {
			return uriErr("bad user part")
		}
	}
	if q := strings.IndexByte(s, '?'); q >= 0 {
		u.Headers = s[q+1:]
		s = s[:q]
		if !validURIChars(u.Headers, ccHeader) {
			return uriErr("bad headers")
		}
	}
	if p := strings.IndexByte(s, ';'); p >= 0 {
		u.Params = Params(s[p:])
		s = s[:p]
		if !validURIParams(string(u.Params)) {
			return uriErr("bad parameters")
		}
	}
	host, port, err := splitHostPort(s)
	if err != nil {
		return err
	}
	u.Host, u.Port = host, port
	return nil
}

// splitHostPort splits "host[:port]" with IPv6 references in brackets.
func splitHostPort(s string) (string, int, error) {
	var host string
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", 0, uriErr("unclosed IPv6 reference")
		}
		host = s[:end+1]
		if _, ok := parseIPv6(host[1:end]); !ok {
			return "", 0, uriErr("bad IPv6 reference")
		}
		s = s[end+1:]
		if s != "" && s[0] != ':' {
			return "", 0, uriErr("junk after IPv6 reference")
		}
	} else {
		// One pass: the host name's characters and labels (§25 hostname /
		// IPv4address) up to the ':' of the port.
		i, labelLen, ok := 0, 0, true
	scan:
		for ; i < len(s); i++ {
			switch cc := charClass[s[i]]; {
			case cc&ccAlnum != 0:
				labelLen++
			case cc&ccHost != 0: // '-' and '_' (seen in SRV-derived names)
				ok = ok && labelLen > 0
				labelLen++
			case s[i] == '.':
				ok = ok && labelLen > 0
				labelLen = 0
			case s[i] == ':':
				break scan
			default:
				ok = false
			}
		}
		host = s[:i]
		s = s[i:]
		if len(s) > 1 && strings.IndexByte(s[1:], ':') >= 0 {
			return "", 0, uriErr("IPv6 address without brackets")
		}
		if !ok || host == "" || len(host) > 255 {
			return "", 0, uriErr("bad host")
		}
	}
	if s == "" {
		return host, 0, nil
	}
	p, ok := parseUint(s[1:], 1<<20)
	if !ok || p == 0 || p > 65535 {
		return "", 0, uriErr("bad port")
	}
	return host, p, nil
}

func parseTelURI(u *URI, s string) error {
	if p := strings.IndexByte(s, ';'); p >= 0 {
		u.Params = Params(s[p:])
		s = s[:p]
		if !validURIParams(string(u.Params)) {
			return uriErr("bad tel parameters")
		}
	}
	if s == "" {
		return uriErr("empty telephone number")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isDigit(c) || isAlpha(c) || c == '+' || c == '-' || c == '.' || c == '(' || c == ')' || c == '*' || c == '#') {
			return uriErr("bad telephone number")
		}
	}
	u.User = s
	return nil
}

const (
	userChars     = "-_.!~*'()&=+$,;?/"
	passwordChars = "-_.!~*'()&=+$,"
	paramChars    = "-_.!~*'()[]/:&+$"
	headerChars   = "-_.!~*'()[]/?:+$=&"
)

// validURIChars checks a URI component: alphanumerics, %-escapes and the
// characters of class (one of the cc bits).
func validURIChars(s string, class uint8) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if charClass[c]&(ccAlnum|class) != 0 {
			continue
		}
		if c != '%' || i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return false
		}
		i += 2
	}
	return true
}

func validURIParams(s string) bool {
	for s != "" {
		if s[0] != ';' {
			return false
		}
		s = s[1:]
		i := strings.IndexByte(s, ';')
		if i < 0 {
			i = len(s)
		}
		seg := s[:i]
		s = s[i:]
		k, v := seg, ""
		hasEq := false
		if j := strings.IndexByte(seg, '='); j >= 0 {
			k, v, hasEq = seg[:j], seg[j+1:], true
		}
		if k == "" || !validURIChars(k, ccParam) || (hasEq && (v == "" || !validURIChars(v, ccParam))) {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isHex(c byte) bool   { return isDigit(c) || 'a' <= c|0x20 && c|0x20 <= 'f' }

func unhex(c byte) byte {
	if isDigit(c) {
		return c - '0'
	}
	return c | 0x20 - 'a' + 10
}

// unescape resolves %-escapes; it allocates only when there are some.
func unescape(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

// String returns the URI in its wire form.
func (u *URI) String() string { return string(u.AppendTo(nil)) }

// AppendTo appends the wire form of the URI to b.
func (u *URI) AppendTo(b []byte) []byte {
	b = append(b, u.Scheme...)
	b = append(b, ':')
	if u.Opaque != "" {
		return append(b, u.Opaque...)
	}
	if u.User != "" {
		b = append(b, u.User...)
		if u.Password != "" {
			b = append(b, ':')
			b = append(b, u.Password...)
		}
		if !u.IsTel() {
			b = append(b, '@')
		}
	}
	b = append(b, u.Host...)
	if u.Port != 0 {
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(u.Port), 10)
	}
	b = append(b, u.Params...)
	if u.Headers != "" {
		b = append(b, '?')
		b = append(b, u.Headers...)
	}
	return b
}

// Equal compares two URIs by the rules of §19.1.4: scheme, user and password
// case-sensitively after unescaping, host case-insensitively, ports equal
// (absent is not equal to 5060), parameters present in both must match, the
// user, ttl, method, maddr and transport parameters must match if present in
// either, and header components must match as sets. tel URIs compare the
// number without visual separators (RFC 3966 §4); other schemes compare
// their opaque parts exactly after the scheme.
func (u *URI) Equal(o *URI) bool {
	if !strings.EqualFold(u.Scheme, o.Scheme) {
		return false
	}
	if u.IsTel() {
		return telNumber(u.User) == telNumber(o.User) && paramsEqual(u.Params, o.Params, true)
	}
	if !u.IsSIP() {
		return u.Opaque == o.Opaque
	}
	if unescape(u.User) != unescape(o.User) || unescape(u.Password) != unescape(o.Password) {
		return false
	}
	if !hostsEqual(u.Host, o.Host) || u.Port != o.Port {
		return false
	}
	return paramsEqual(u.Params, o.Params, false) && uriHeadersEqual(u.Headers, o.Headers)
}

// hostsEqual compares hosts case-insensitively, and IPv6 references by
// address, so that "[::A]" equals "[0:0::a]".
func hostsEqual(a, b string) bool {
	if strings.EqualFold(a, b) {
		return true
	}
	if len(a) > 2 && a[0] == '[' && len(b) > 2 && b[0] == '[' {
		x, ok1 := parseIPv6(a[1 : len(a)-1])
		y, ok2 := parseIPv6(b[1 : len(b)-1])
		return ok1 && ok2 && x == y
	}
	return false
}

func telNumber(s string) string {
	if strings.ContainsAny(s, "-.()") {
		return strings.Map(func(r rune) rune {
			if r == '-' || r == '.' || r == '(' || r == ')' {
				return -1
			}
			return r
		}, s)
	}
	return s
}

var mustMatchParams = [...]string{"user", "ttl", "method", "maddr", "transport"}

// paramsEqual compares parameter lists; a name given twice counts with its
// first value, as Get sees it.
func paramsEqual(a, b Params, all bool) bool {
	for k := range a.All {
		va, _ := a.Get(k)
		vb, ok := b.Get(k)
		if !ok {
			if all {
				return false
			}
			for _, m := range mustMatchParams {
				if strings.EqualFold(k, m) {
					return false
				}
			}
			continue
		}
		if !strings.EqualFold(unescape(va), unescape(vb)) {
			return false
		}
	}
	for k := range b.All {
		if a.Has(k) {
			continue
		}
		if all {
			return false
		}
		for _, m := range mustMatchParams {
			if strings.EqualFold(k, m) {
				return false
			}
		}
	}
	return true
}

// uriHeadersEqual compares header components as multisets of name=value
// pairs (names case-insensitive, values case-sensitive, both unescaped).
func uriHeadersEqual(a, b string) bool {
	if a == b {
		return true
	}
	count := func(s string) int {
		if s == "" {
			return 0
		}
		return strings.Count(s, "&") + 1
	}
	n := count(a)
	if n != count(b) || n > 64 {
		return false
	}
	var used uint64 // elements of b already matched
	for h := range strings.SplitSeq(a, "&") {
		k, va, _ := strings.Cut(h, "=")
		found := false
		j := 0
		for h2 := range strings.SplitSeq(b, "&") {
			k2, vb, _ := strings.Cut(h2, "=")
			if used&(1<<j) == 0 && strings.EqualFold(unescape(k), unescape(k2)) && unescape(va) == unescape(vb) {
				used |= 1 << j
				found = true
				break
			}
			j++
		}
		if !found {
			return false
		}
	}
	return true
}
