package sip

import (
	"bytes"
	"strconv"
	"strings"
	"unsafe"
)

// Limits bound what the parser accepts, so that a peer cannot make the
// server hold or scan unbounded input. Zero fields take the defaults.
type Limits struct {
	MaxMessageSize int // whole message, bytes (default 65535, a UDP datagram)
	MaxHeaders     int // header lines (default 256)
	MaxLineLength  int // one header line after unfolding, bytes (default 8192)
}

// Default limits.
const (
	DefaultMaxMessageSize = 65535
	DefaultMaxHeaders     = 256
	DefaultMaxLineLength  = 8192
)

func (l Limits) withDefaults() Limits {
	if l.MaxMessageSize <= 0 {
		l.MaxMessageSize = DefaultMaxMessageSize
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = DefaultMaxHeaders
	}
	if l.MaxLineLength <= 0 {
		l.MaxLineLength = DefaultMaxLineLength
	}
	return l
}

// Parser parses messages under limits. The zero value uses the defaults and
// is safe for concurrent use.
type Parser struct {
	Limits Limits
}

// Parse parses one datagram-framed message with the default limits.
func Parse(data []byte) (Message, error) {
	var p Parser
	return p.Parse(data)
}

// inlineFields is how many header fields are allocated together with the
// message; typical requests have 8–16.
const inlineFields = 20

type requestBlock struct {
	req    Request
	fields [inlineFields]HeaderField
}

type responseBlock struct {
	resp   Response
	fields [inlineFields]HeaderField
}

// Parse parses one message from a datagram (§18.3): the body is what follows
// the header section, cut to Content-Length when that is smaller; a
// Content-Length larger than the body is an error. The message copies data,
// so the caller may reuse its buffer.
//
// On error the result is nil, or — when the start line and headers could be
// read — the message as far as it was understood, so that a server can send
// the status the *StatusError names.
func (p *Parser) Parse(data []byte) (Message, error) {
	lim := p.Limits.withDefaults()
	if len(data) > lim.MaxMessageSize {
		return nil, statusErr(513, ErrTooLarge, "Message Too Large")
	}
	// Line ends before the start line are ignored (§7.5), also in datagrams.
	for len(data) > 0 && (data[0] == '\r' || data[0] == '\n') {
		data = data[1:]
	}
	if len(data) == 0 {
		return nil, badRequest("Empty message")
	}
	// Copy first, then find the header section's end while splitting its
	// lines: one pass over the header bytes, not two.
	buf := make([]byte, len(data))
	copy(buf, data)
	msg, bodyStart, err := parseHead(unsafe.String(&buf[0], len(buf)), lim)
	if msg == nil {
		return nil, err
	}
	body := buf[bodyStart:len(buf):len(buf)]
	h := msg.Hdr()
	if cl, ok := h.getID(hContentLength); ok {
		n, valid := parseUint(cl, 1<<31-1)
		switch {
		case !valid:
			return msg, orErr(err, statusErr(400, ErrContentLength, "Bad Content-Length: not a number"))
		case n > len(body):
			return msg, orErr(err, statusErr(400, ErrContentLength, "Bad Content-Length: larger than the body"))
		}
		body = body[:n:n]
	}
	if len(body) == 0 {
		body = nil
	}
	switch m := msg.(type) {
	case *Request:
		m.Body = body
	case *Response:
		m.Body = body
	}
	return msg, err
}

func orErr(first, second error) error {
	if first != nil {
		return first
	}
	return second
}

// headerEndFrom finds the empty line ending the header section, searching
// for line ends from index from: it returns the index where the header
// section ends (before the final line break) and the index where the body
// starts, or -1, -1. Both CRLF and bare LF line ends are accepted. The
// Framer uses it; Parse finds the end while splitting lines.
func headerEndFrom(data []byte, from int) (int, int) {
	for i := from; ; {
		j := bytes.IndexByte(data[i:], '\n')
		if j < 0 {
			return -1, -1
		}
		i += j + 1
		if i < len(data) && data[i] == '\n' {
			return i, i + 1
		}
		if i+1 < len(data) && data[i] == '\r' && data[i+1] == '\n' {
			return i, i + 2
		}
	}
}

// parseHead parses the start line and header fields. head is owned by the
// message: strings made from it share its memory.
func parseHead(s string, lim Limits) (Message, int, error) {
	whole := len(s)
	line, rest := nextLine(s)
	if len(line) > lim.MaxLineLength {
		return nil, 0, statusErr(414, ErrTooLarge, "Request-URI Too Long")
	}
	var msg Message
	var h *Headers
	var startErr error
	if len(line) >= 4 && strings.EqualFold(line[:4], "SIP/") {
		blk := &responseBlock{}
		blk.resp.fields = blk.fields[:0]
		if err := parseStatusLine(line, &blk.resp); err != nil {
			return nil, 0, err
		}
		msg, h = &blk.resp, &blk.resp.Headers
	} else {
		blk := &requestBlock{}
		blk.req.fields = blk.fields[:0]
		if err := parseRequestLine(line, &blk.req); err != nil {
			se, ok := err.(*StatusError)
			if !ok || se.Code == 400 && blk.req.Method == "" {
				return nil, 0, err
			}
			startErr = err // e.g. 505: still read the headers to answer it
		}
		msg, h = &blk.req, &blk.req.Headers
	}
	used, err := parseFields(rest, h, lim)
	bodyStart := whole - len(rest) + used
	if err != nil {
		if startErr != nil {
			return msg, bodyStart, startErr
		}
		return msg, bodyStart, err
	}
	if startErr != nil {
		return msg, bodyStart, startErr
	}
	return msg, bodyStart, validate(msg)
}

// nextLine returns the first line without its line end, and the rest.
func nextLine(s string) (line, rest string) {
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		return strings.TrimSuffix(s, "\r"), ""
	}
	line = s[:i]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, s[i+1:]
}

func parseRequestLine(line string, r *Request) error {
	sp1 := strings.IndexByte(line, ' ')
	if sp1 <= 0 {
		return badRequest("Malformed request line")
	}
	method := line[:sp1]
	if !isToken(method) {
		return badRequest("Malformed method")
	}
	rest := line[sp1+1:]
	sp2 := strings.LastIndexByte(rest, ' ')
	if sp2 <= 0 {
		return badRequest("Malformed request line")
	}
	uriText, version := rest[:sp2], rest[sp2+1:]
	r.Method = method // known from here on, so that the error can be answered
	if strings.ContainsAny(uriText, " \t") {
		// §7.1: single spaces only; an escaped-looking URI with spaces
		// (RFC 4475 "baddn", "lwsruri") is refused.
		return badRequest("Malformed Request-URI: contains whitespace")
	}
	u, err := ParseURI(uriText)
	if err != nil {
		return badRequest("Malformed Request-URI: " + err.Error()[len("bad URI: "):])
	}
	r.URI = u
	if version != "SIP/2.0" {
		if strings.EqualFold(version, "SIP/2.0") {
			return nil // version is case-insensitive in the ABNF (§25.1)
		}
		if strings.HasPrefix(strings.ToUpper(version), "SIP/") {
			return statusErr(505, ErrVersion, "Version Not Supported: "+version)
		}
		return badRequest("Malformed SIP version")
	}
	return nil
}

func parseStatusLine(line string, r *Response) error {
	// "SIP/2.0 200 OK"
	sp1 := strings.IndexByte(line, ' ')
	if sp1 < 0 || !strings.EqualFold(line[:sp1], "SIP/2.0") {
		return statusErr(505, ErrVersion, "Version Not Supported")
	}
	rest := line[sp1+1:]
	if len(rest) < 3 {
		return badRequest("Malformed status line")
	}
	code, ok := parseUint(rest[:3], 999)
	if !ok || code < 100 || code > 699 || len(rest) > 3 && rest[3] != ' ' {
		return badRequest("Malformed status code")
	}
	r.StatusCode = code
	if len(rest) > 4 {
		r.Reason = rest[4:]
	}
	return nil
}

// parseFields splits header lines, unfolding continuation lines (§7.3.1).
func parseFields(s string, h *Headers, lim Limits) (used int, err error) {
	whole := s
	for s != "" {
		line, rest := nextLine(s)
		s = rest
		if line == "" {
			break // the empty line ending the header section
		}
		// Continuation lines start with whitespace; join them with a space.
		if len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
			parts := []string{line}
			for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
				var cont string
				cont, s = nextLine(s)
				parts = append(parts, trimLWS(cont))
			}
			line = strings.Join(parts, " ")
		}
		if len(line) > lim.MaxLineLength {
			return len(whole) - len(s), statusErr(513, ErrTooLarge, "Message Too Large: header line too long")
		}
		if len(h.fields) >= lim.MaxHeaders {
			return len(whole) - len(s), statusErr(513, ErrTooLarge, "Message Too Large: too many headers")
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 {
			return len(whole) - len(s), badRequest("Malformed header line: no colon")
		}
		name := trimLWS(line[:colon])
		if !isToken(name) {
			return len(whole) - len(s), badRequest("Malformed header name")
		}
		h.fields = append(h.fields, HeaderField{Name: name, Value: trimLWS(line[colon+1:]), id: lookupHeaderID(name)})
	}
	used = len(whole) - len(s)
	// One scan for NUL over the header section (a body may hold any
	// bytes); the rest is the slow path. A NUL is legal only escaped in a
	// quoted-string (quoted-pair = "\" %x00-09 / ..., §25.1), e.g. in a
	// display name; anywhere else the header is refused, naming it.
	if strings.IndexByte(whole[:used], 0) >= 0 {
		found := false
		for i := range h.fields {
			if v := h.fields[i].Value; strings.IndexByte(v, 0) >= 0 {
				if !nulOnlyQuoted(v) {
					return used, badRequest("NUL byte in " + CanonicalName(h.fields[i].Name))
				}
				found = true
			}
		}
		if !found {
			return used, badRequest("NUL byte in the header section")
		}
	}
	return used, nil
}

// nulOnlyQuoted reports whether every NUL byte of a header value is the
// second byte of a quoted-pair inside a quoted-string.
func nulOnlyQuoted(v string) bool {
	inQuote := false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == 0:
			return false
		case c == '"':
			inQuote = !inQuote
		case c == '\\' && inQuote:
			i++ // the escaped byte, NUL included
		}
	}
	return true
}

// validate checks what every message needs (§8.1.1, §8.2.2, §20): the
// mandatory headers, a CSeq whose method matches, single-valued headers that
// appear once, and readable numbers.
func validate(msg Message) error {
	h := msg.Hdr()
	var seen [numHeaderIDs]uint8
	for i := range h.fields {
		if id := h.fields[i].id; seen[id] < 255 {
			seen[id]++
		}
	}
	for _, id := range [...]headerID{hVia, hFrom, hTo, hCallID, hCSeq} {
		if seen[id] == 0 {
			return statusErr(400, ErrMissingHeader, "Missing "+canonicalNames[id])
		}
	}
	for _, id := range [...]headerID{hFrom, hTo, hCallID, hCSeq, hMaxForwards, hContentLength, hContentType, hExpires} {
		if seen[id] > 1 {
			return badHeader(canonicalNames[id], "appears more than once")
		}
	}
	// Parse straight into the kept values (see parsedHeaders); they become
	// visible only when everything is valid.
	p := &h.parsed
	var err error
	if p.cseq, err = h.CSeq(); err != nil {
		return err
	}
	if req, ok := msg.(*Request); ok && p.cseq.Method != req.Method {
		return badHeader("CSeq", "method "+p.cseq.Method+" does not match "+req.Method)
	}
	if p.from, err = h.From(); err != nil {
		return err
	}
	if p.to, err = h.To(); err != nil {
		return err
	}
	if h.CallID() == "" {
		return badHeader("Call-ID", "empty")
	}
	if p.via, err = h.TopVia(); err != nil {
		return err
	}
	if seen[hMaxForwards] > 0 {
		if _, ok := h.MaxForwards(); !ok {
			return badHeader("Max-Forwards", "not a number")
		}
	}
	if seen[hExpires] > 0 {
		if _, ok := h.Expires(); !ok {
			return badHeader("Expires", "not a number")
		}
	}
	p.ok = true
	return nil
}

// StatusText formats "code reason" for logs.
func StatusText(code int, reason string) string { return strconv.Itoa(code) + " " + reason }
