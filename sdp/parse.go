package sdp

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors wrapped by [ParseError]; test with errors.Is.
var (
	// ErrSyntax: a line is malformed (bad number, missing field, bad byte).
	ErrSyntax = errors.New("sdp: syntax error")
	// ErrMissing: a required line (v=, o=) is absent.
	ErrMissing = errors.New("sdp: required line missing")
	// ErrDuplicate: a line that may appear once per section appears twice.
	ErrDuplicate = errors.New("sdp: line repeated")
	// ErrMisplaced: a line appears in a section where it is not allowed,
	// e.g. t= after m= or r= before any t=.
	ErrMisplaced = errors.New("sdp: line not allowed here")
)

// ParseError reports why a description was refused and on which line.
type ParseError struct {
	Line int    // 1-based line number; 0 when the problem is the whole description
	Text string // the offending line, cut to 80 bytes
	Msg  string // what is wrong with it
	Err  error  // ErrSyntax, ErrMissing, ErrDuplicate or ErrMisplaced
}

func (e *ParseError) Error() string {
	if e.Line == 0 {
		return "sdp: " + e.Msg
	}
	return "sdp: line " + strconv.Itoa(e.Line) + " " + strconv.Quote(e.Text) + ": " + e.Msg
}

func (e *ParseError) Unwrap() error { return e.Err }

// maxErrText bounds how much of a hostile line ends up in logs.
const maxErrText = 80

// Parse parses a session description. It never panics; any refusal is a
// *ParseError. The returned Session refers to a single copy of b, so b may be
// reused afterwards.
func Parse(b []byte) (*Session, error) {
	p := parser{src: string(b)}
	return p.parse()
}

type parser struct {
	src    string
	lineNo int
	line   string
}

func (p *parser) fail(err error, msg string) error {
	t := p.line
	if len(t) > maxErrText {
		t = t[:maxErrText]
	}
	return &ParseError{Line: p.lineNo, Text: t, Msg: msg, Err: err}
}

// seen marks a type letter in a bit set, for the "at most once" rules.
func seen(set *uint32, c byte) bool {
	bit := uint32(1) << (c - 'a')
	if *set&bit != 0 {
		return true
	}
	*set |= bit
	return false
}

func (p *parser) parse() (*Session, error) {
	s := &Session{}
	var m *Media
	var sessSeen, mediaSeen uint32
	src := p.src
	for len(src) > 0 {
		var line string
		if i := strings.IndexByte(src, '\n'); i >= 0 {
			line, src = src[:i], src[i+1:]
		} else {
			line, src = src, ""
		}
		p.lineNo++
		line = trimRight(line)
		p.line = line
		if line == "" {
			continue // blank lines, e.g. a body ending in an extra CRLF
		}
		if len(line) < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z' {
			return nil, p.fail(ErrSyntax, "expected <letter>=<value>")
		}
		if strings.IndexByte(line, 0) >= 0 || strings.IndexByte(line, '\r') >= 0 {
			// A bare CR would end the line for some receivers and not for
			// others; refusing it keeps what we relay unambiguous.
			return nil, p.fail(ErrSyntax, "NUL or bare CR in line")
		}
		typ, val := line[0], line[2:]
		if sessSeen&(1<<('v'-'a')) == 0 && typ != 'v' {
			return nil, p.fail(ErrMissing, "description must start with v=")
		}

		if m != nil {
			if err := p.mediaLine(m, &mediaSeen, typ, val); err != nil {
				return nil, err
			}
			if typ != 'm' {
				continue
			}
		}
		if typ == 'm' {
			nm, err := p.parseMedia(val)
			if err != nil {
				return nil, err
			}
			s.Media = append(s.Media, nm)
			m, mediaSeen = nm, 0
			continue
		}
		if err := p.sessionLine(s, &sessSeen, typ, val); err != nil {
			return nil, err
		}
	}
	p.lineNo, p.line = 0, ""
	if sessSeen&(1<<('v'-'a')) == 0 {
		return nil, p.fail(ErrMissing, "no v= line")
	}
	if sessSeen&(1<<('o'-'a')) == 0 {
		return nil, p.fail(ErrMissing, "no o= line")
	}
	if len(s.Timings) == 0 {
		// Several phones omit t=; RFC 8866 requires it and calls always
		// mean "t=0 0", so we fill it in (and Marshal writes it).
		s.Timings = []Timing{{}}
	}
	return s, nil
}

func (p *parser) sessionLine(s *Session, set *uint32, typ byte, val string) error {
	switch typ {
	case 'v', 'o', 's', 'i', 'u', 'c', 'z', 'k':
		if seen(set, typ) {
			return p.fail(ErrDuplicate, string(typ)+"= may appear only once per section")
		}
	}
	switch typ {
	case 'v':
		if val != "0" {
			return p.fail(ErrSyntax, "unsupported protocol version")
		}
	case 'o':
		return p.parseOrigin(&s.Origin, val)
	case 's':
		s.Name = val
	case 'i':
		s.Info = val
	case 'u':
		s.URI = val
	case 'e':
		s.Emails = append(s.Emails, val)
	case 'p':
		s.Phones = append(s.Phones, val)
	case 'c':
		c, err := p.parseConnection(val)
		if err != nil {
			return err
		}
		s.Connection = c
	case 'b':
		b, err := p.parseBandwidth(val)
		if err != nil {
			return err
		}
		s.Bandwidths = append(s.Bandwidths, b)
	case 't':
		f := fields(val)
		if len(f) != 2 {
			return p.fail(ErrSyntax, "t= needs <start> <stop>")
		}
		start, err1 := strconv.ParseUint(f[0], 10, 64)
		stop, err2 := strconv.ParseUint(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			return p.fail(ErrSyntax, "t= times must be decimal numbers")
		}
		s.Timings = append(s.Timings, Timing{Start: start, Stop: stop})
	case 'r':
		if len(s.Timings) == 0 {
			return p.fail(ErrMisplaced, "r= before any t=")
		}
		t := &s.Timings[len(s.Timings)-1]
		t.Repeats = append(t.Repeats, val)
	case 'z':
		s.TimeZones = val
	case 'k':
		s.Key = val
	case 'a':
		a, err := p.parseAttribute(val)
		if err != nil {
			return err
		}
		s.Attributes = append(s.Attributes, a)
	default:
		s.Extra = append(s.Extra, Line{Type: typ, Value: val})
	}
	return nil
}

// mediaLine handles a line inside a media section; an m= line is left for
// the caller, which starts the next section.
func (p *parser) mediaLine(m *Media, set *uint32, typ byte, val string) error {
	switch typ {
	case 'm':
		return nil
	case 'v', 'o', 's', 'u', 'e', 'p', 't', 'r', 'z':
		return p.fail(ErrMisplaced, string(typ)+"= is a session-level line but appears after m=")
	case 'i', 'c', 'k':
		if seen(set, typ) {
			return p.fail(ErrDuplicate, string(typ)+"= may appear only once per section")
		}
	}
	switch typ {
	case 'i':
		m.Info = val
	case 'c':
		c, err := p.parseConnection(val)
		if err != nil {
			return err
		}
		m.Connection = c
	case 'b':
		b, err := p.parseBandwidth(val)
		if err != nil {
			return err
		}
		m.Bandwidths = append(m.Bandwidths, b)
	case 'k':
		m.Key = val
	case 'a':
		a, err := p.parseAttribute(val)
		if err != nil {
			return err
		}
		m.Attributes = append(m.Attributes, a)
	default:
		m.Extra = append(m.Extra, Line{Type: typ, Value: val})
	}
	return nil
}

func (p *parser) parseOrigin(o *Origin, val string) error {
	f := fields(val)
	if len(f) != 6 {
		return p.fail(ErrSyntax, "o= needs <username> <sess-id> <sess-version> <nettype> <addrtype> <address>")
	}
	id, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return p.fail(ErrSyntax, "o= session id must be a decimal number below 2^64")
	}
	ver, err := strconv.ParseUint(f[2], 10, 64)
	if err != nil {
		return p.fail(ErrSyntax, "o= session version must be a decimal number below 2^64")
	}
	*o = Origin{Username: f[0], SessionID: id, SessionVersion: ver, NetType: f[3], AddrType: f[4], Address: f[5]}
	return nil
}

func (p *parser) parseConnection(val string) (*Connection, error) {
	f := fields(val)
	if len(f) != 3 {
		return nil, p.fail(ErrSyntax, "c= needs <nettype> <addrtype> <address>")
	}
	c := &Connection{NetType: f[0], AddrType: f[1], Address: f[2]}
	var rest []string
	switch {
	case strings.EqualFold(c.AddrType, "IP4"):
		rest = strings.Split(f[2], "/")
		if len(rest) > 3 {
			return nil, p.fail(ErrSyntax, "c= IP4 address takes at most /<ttl>/<count>")
		}
		if len(rest) > 1 {
			ttl, err := strconv.ParseUint(rest[1], 10, 8)
			if err != nil {
				return nil, p.fail(ErrSyntax, "c= TTL must be 0-255")
			}
			c.TTL = int(ttl)
		}
		if len(rest) > 2 {
			n, err := strconv.ParseUint(rest[2], 10, 16)
			if err != nil || n == 0 {
				return nil, p.fail(ErrSyntax, "c= address count must be 1-65535")
			}
			c.Count = int(n)
		}
	case strings.EqualFold(c.AddrType, "IP6"):
		rest = strings.Split(f[2], "/")
		if len(rest) > 2 {
			return nil, p.fail(ErrSyntax, "c= IP6 address takes at most /<count>")
		}
		if len(rest) > 1 {
			n, err := strconv.ParseUint(rest[1], 10, 16)
			if err != nil || n == 0 {
				return nil, p.fail(ErrSyntax, "c= address count must be 1-65535")
			}
			c.Count = int(n)
		}
	default:
		// Unknown address types keep the whole token: we cannot know what
		// a slash means there.
		return c, nil
	}
	c.Address = rest[0]
	if c.Address == "" {
		return nil, p.fail(ErrSyntax, "c= address is empty")
	}
	return c, nil
}

func (p *parser) parseBandwidth(val string) (Bandwidth, error) {
	typ, num, ok := strings.Cut(val, ":")
	if !ok || typ == "" || strings.ContainsAny(typ, " \t") {
		return Bandwidth{}, p.fail(ErrSyntax, "b= needs <bwtype>:<bandwidth>")
	}
	v, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return Bandwidth{}, p.fail(ErrSyntax, "b= bandwidth must be a decimal number")
	}
	return Bandwidth{Type: typ, Value: v}, nil
}

func (p *parser) parseAttribute(val string) (Attribute, error) {
	k, v, _ := strings.Cut(val, ":")
	// "a=ptime :20" happens; the name never really ends in a space, and
	// trimming keeps "a=x :" from turning into a different name on re-parse.
	k = trimRight(k)
	if k == "" {
		return Attribute{}, p.fail(ErrSyntax, "a= has an empty attribute name")
	}
	return Attribute{Key: k, Value: v}, nil
}

func (p *parser) parseMedia(val string) (*Media, error) {
	f := fields(val)
	if len(f) < 3 {
		return nil, p.fail(ErrSyntax, "m= needs <media> <port> <proto> <fmt> ...")
	}
	m := &Media{Type: f[0], Proto: f[2]}
	port, count, hasCount := strings.Cut(f[1], "/")
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, p.fail(ErrSyntax, "m= port must be 0-65535")
	}
	m.Port = int(n)
	if hasCount {
		n, err := strconv.ParseUint(count, 10, 16)
		if err != nil || n == 0 {
			return nil, p.fail(ErrSyntax, "m= port count must be 1-65535")
		}
		m.PortCount = int(n)
	}
	// RFC 8866 requires at least one format, but rejected streams from
	// some phones carry none; an empty list is harmless.
	if len(f) > 3 {
		m.Formats = f[3:]
	}
	return m, nil
}

// fields splits on spaces and tabs only. strings.Fields would also split on
// Unicode spaces, which SDP does not treat as separators.
func fields(s string) []string {
	n := 0
	inField := false
	for i := 0; i < len(s); i++ {
		sp := s[i] == ' ' || s[i] == '\t'
		if !sp && !inField {
			n++
		}
		inField = !sp
	}
	out := make([]string, 0, n)
	start := -1
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' || s[i] == '\t' {
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
		} else if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

// trimRight drops the CR of a CRLF ending and any trailing spaces or tabs,
// which several phones leave after values.
func trimRight(s string) string {
	i := len(s)
	for i > 0 && (s[i-1] == ' ' || s[i-1] == '\t' || s[i-1] == '\r') {
		i--
	}
	return s[:i]
}
