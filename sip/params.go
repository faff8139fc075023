package sip

import "strings"

// Params is a raw parameter list as it appears on the wire, each parameter
// introduced by ';' (";tag=1928;lr"). Lookups scan it without allocating;
// quoted values keep their quotes.
type Params string

// Get returns the value of the named parameter (case-insensitive name) and
// whether it is present. A parameter without '=' has value "".
func (p Params) Get(name string) (string, bool) {
	s := string(p)
	for s != "" {
		var seg string
		seg, s = nextParam(s)
		k, v := seg, ""
		if i := strings.IndexByte(seg, '='); i >= 0 {
			k, v = trimLWS(seg[:i]), trimLWS(seg[i+1:])
		}
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// Has reports whether the named parameter is present.
func (p Params) Has(name string) bool {
	_, ok := p.Get(name)
	return ok
}

// All iterates over the parameters as name/value pairs in order.
func (p Params) All(yield func(name, value string) bool) {
	s := string(p)
	for s != "" {
		var seg string
		seg, s = nextParam(s)
		if seg == "" {
			continue
		}
		k, v := seg, ""
		if i := strings.IndexByte(seg, '='); i >= 0 {
			k, v = trimLWS(seg[:i]), trimLWS(seg[i+1:])
		}
		if !yield(k, v) {
			return
		}
	}
}

// With returns the list with the parameter set to value (added at the end
// when absent). An empty value writes a flag parameter (";lr").
func (p Params) With(name, value string) Params {
	var b strings.Builder
	found := false
	for k, v := range p.All {
		b.WriteByte(';')
		if strings.EqualFold(k, name) {
			found = true
			v = value
		}
		b.WriteString(k)
		if v != "" {
			b.WriteByte('=')
			b.WriteString(v)
		}
	}
	if !found {
		b.WriteByte(';')
		b.WriteString(name)
		if value != "" {
			b.WriteByte('=')
			b.WriteString(value)
		}
	}
	return Params(b.String())
}

// Without returns the list without the named parameter.
func (p Params) Without(name string) Params {
	if !p.Has(name) {
		return p
	}
	var b strings.Builder
	for k, v := range p.All {
		if strings.EqualFold(k, name) {
			continue
		}
		b.WriteByte(';')
		b.WriteString(k)
		if v != "" {
			b.WriteByte('=')
			b.WriteString(v)
		}
	}
	return Params(b.String())
}

// nextParam returns the parameter after a leading ';' (or at the start) up to
// the next ';' outside a quoted string, trimmed, and the rest from that ';'.
func nextParam(s string) (seg, rest string) {
	for len(s) > 0 && (s[0] == ';' || isLWS(s[0])) {
		s = s[1:]
	}
	// Fast path: no quoted string before the next ';'.
	semi := strings.IndexByte(s, ';')
	if semi < 0 {
		semi = len(s)
	}
	if strings.IndexByte(s[:semi], '"') < 0 {
		return trimLWS(s[:semi]), s[semi:]
	}
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote:
			if c == '\\' {
				i++
			} else if c == '"' {
				inQuote = false
			}
		case c == '"':
			inQuote = true
		case c == ';':
			return trimLWS(s[:i]), s[i:]
		}
	}
	return trimLWS(s), ""
}

// Unquote removes the quotes of a quoted-string and resolves its quoted-pairs
// (§25.1). A string without quotes is returned as it is. It allocates only
// when the string holds a backslash.
func Unquote(s string) string {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s
	}
	s = s[1 : len(s)-1]
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b = append(b, s[i])
	}
	return string(b)
}

// Quote makes a quoted-string of s, escaping '"', '\' and the control
// bytes a quoted-pair may carry (NUL included, §25.1). CR and LF cannot be
// escaped and become spaces, so that a value never breaks a header line.
func Quote(s string) string { return string(appendQuoted(make([]byte, 0, len(s)+2), s)) }

func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\r' || c == '\n':
			b = append(b, ' ')
			continue
		case c == '"' || c == '\\' || c < 0x20 && c != '\t' || c == 0x7f:
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// validParams checks a raw parameter list: each parameter a token name, an
// optional '=' and a token, host or quoted-string value.
func validParams(s string) bool {
	for s != "" {
		if s[0] != ';' {
			return false
		}
		s = s[1:]
		i := 0
		inQuote := false
		for ; i < len(s); i++ {
			c := s[i]
			if inQuote {
				if c == '\\' {
					i++
				} else if c == '"' {
					inQuote = false
				}
				continue
			}
			if c == '"' {
				inQuote = true
				continue
			}
			if c == ';' {
				break
			}
		}
		if inQuote {
			return false
		}
		seg := trimLWS(s[:i])
		s = s[i:]
		k := seg
		if j := strings.IndexByte(seg, '='); j >= 0 {
			k = trimLWS(seg[:j])
			if trimLWS(seg[j+1:]) == "" {
				return false
			}
		}
		if !isToken(k) {
			return false
		}
	}
	return true
}
