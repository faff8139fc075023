package sip

import (
	"iter"
	"strconv"
	"strings"
)

// HeaderField is one header line: its name as received (any case, possibly a
// compact form) and its value without surrounding whitespace.
type HeaderField struct {
	Name  string
	Value string
	id    headerID
}

// Is reports whether the field is the named header, comparing canonically
// (case-insensitive, compact forms equal to long forms).
func (f *HeaderField) Is(name string) bool {
	id := lookupHeaderID(name)
	if id != hUnknown {
		return f.id == id
	}
	return f.id == hUnknown && strings.EqualFold(f.Name, name)
}

// Headers is an ordered list of header fields. It keeps every field, known or
// not, in the order received, and offers typed access to the ones the stack
// uses. The zero value is an empty list ready to use.
type Headers struct {
	fields []HeaderField
	parsed parsedHeaders
}

// parsedHeaders keeps what the parser's validation already parsed — the
// headers every layer reads for every message — so that the accessors do
// not parse them again. Any change to the list clears it; it is never
// filled on read, so concurrent readers of a message do not race.
type parsedHeaders struct {
	ok       bool
	via      Via
	from, to Address
	cseq     CSeq
}

// changed drops the parsed values after any change to the list.
func (h *Headers) changed() { h.parsed.ok = false }

// Len returns the number of header fields (lines, not values).
func (h *Headers) Len() int { return len(h.fields) }

// Field returns the i-th header field.
func (h *Headers) Field(i int) HeaderField { return h.fields[i] }

// Fields iterates over the header fields in order.
func (h *Headers) Fields() iter.Seq2[int, HeaderField] {
	return func(yield func(int, HeaderField) bool) {
		for i, f := range h.fields {
			if !yield(i, f) {
				return
			}
		}
	}
}

func (h *Headers) index(id headerID, name string) int {
	if id != hUnknown {
		for i := range h.fields {
			if h.fields[i].id == id {
				return i
			}
		}
		return -1
	}
	for i := range h.fields {
		if h.fields[i].id == hUnknown && strings.EqualFold(h.fields[i].Name, name) {
			return i
		}
	}
	return -1
}

func (h *Headers) getID(id headerID) (string, bool) {
	for i := range h.fields {
		if h.fields[i].id == id {
			return h.fields[i].Value, true
		}
	}
	return "", false
}

// Get returns the value of the first field with the given name (any case or
// compact form) and whether there is one. For list headers this is the whole
// first line; use Values for single elements.
func (h *Headers) Get(name string) (string, bool) {
	i := h.index(lookupHeaderID(name), name)
	if i < 0 {
		return "", false
	}
	return h.fields[i].Value, true
}

// Has reports whether a field with the name is present.
func (h *Headers) Has(name string) bool {
	return h.index(lookupHeaderID(name), name) >= 0
}

// Values iterates over every value of the named header: for list headers
// (Via, Contact, Route, Supported, ...) each comma-separated element of each
// line, in order; for others each line.
func (h *Headers) Values(name string) iter.Seq[string] {
	return func(yield func(string) bool) {
		c := h.cursor(name)
		for v, ok := c.next(); ok; v, ok = c.next() {
			if !yield(v) {
				return
			}
		}
	}
}

// valueCursor walks the values of one header without closures, so that the
// accessors built on it do not allocate.
type valueCursor struct {
	h    *Headers
	id   headerID
	name string // for unknown headers
	i    int    // next field to look at
	rest string // unread part of the current list line
}

func (h *Headers) cursor(name string) valueCursor {
	return valueCursor{h: h, id: lookupHeaderID(name), name: name}
}

func (c *valueCursor) next() (string, bool) {
	for {
		for c.rest != "" {
			var elem string
			elem, c.rest = nextListElement(c.rest)
			if elem != "" {
				return elem, true
			}
		}
		if c.i >= len(c.h.fields) {
			return "", false
		}
		f := &c.h.fields[c.i]
		c.i++
		if c.id != hUnknown && f.id != c.id || c.id == hUnknown && (f.id != hUnknown || !strings.EqualFold(f.Name, c.name)) {
			continue
		}
		if !listHeaders[c.id] {
			return f.Value, true
		}
		c.rest = f.Value
	}
}

// Add appends a field at the end.
func (h *Headers) Add(name, value string) {
	h.changed()
	h.fields = append(h.fields, HeaderField{Name: name, Value: value, id: lookupHeaderID(name)})
}

// Prepend inserts a field before all others of the same header (or at the
// very top when there is none), as a proxy does with Via and Record-Route.
func (h *Headers) Prepend(name, value string) {
	h.changed()
	id := lookupHeaderID(name)
	at := h.index(id, name)
	if at < 0 {
		at = 0
	}
	h.fields = append(h.fields, HeaderField{})
	copy(h.fields[at+1:], h.fields[at:])
	h.fields[at] = HeaderField{Name: name, Value: value, id: id}
}

// Set replaces the value of the first field with the name and removes the
// other fields with it; it adds the field when absent.
func (h *Headers) Set(name, value string) {
	h.changed()
	id := lookupHeaderID(name)
	i := h.index(id, name)
	if i < 0 {
		h.Add(name, value)
		return
	}
	h.fields[i].Value = value
	h.deleteFrom(i+1, id, name)
}

// Del removes every field with the name.
func (h *Headers) Del(name string) {
	h.deleteFrom(0, lookupHeaderID(name), name)
}

func (h *Headers) deleteFrom(start int, id headerID, name string) {
	h.changed()
	out := h.fields[:start]
	for _, f := range h.fields[start:] {
		if id != hUnknown && f.id == id || id == hUnknown && f.id == hUnknown && strings.EqualFold(f.Name, name) {
			continue
		}
		out = append(out, f)
	}
	clear(h.fields[len(out):])
	h.fields = out
}

// RemoveFirstValue removes the first element of a list header — the top Via
// of a response at a proxy (§16.7), or the first Route (§16.4) — and reports
// whether there was one. A line left empty is removed.
func (h *Headers) RemoveFirstValue(name string) bool {
	h.changed()
	id := lookupHeaderID(name)
	i := h.index(id, name)
	if i < 0 {
		return false
	}
	if !listHeaders[id] {
		h.fields = append(h.fields[:i], h.fields[i+1:]...)
		return true
	}
	v := h.fields[i].Value
	elem, rest := nextListElement(v)
	for elem == "" && rest != "" {
		elem, rest = nextListElement(rest)
	}
	rest = strings.TrimLeft(rest, " \t,")
	if rest == "" {
		h.fields = append(h.fields[:i], h.fields[i+1:]...)
		return true
	}
	h.fields[i].Value = rest
	return true
}

// Clone returns a deep copy of the list (the strings are shared, which is
// safe: they are immutable).
func (h *Headers) Clone() Headers {
	return Headers{fields: append([]HeaderField(nil), h.fields...)}
}

// nextListElement splits the first element off a comma-separated list,
// ignoring commas inside quoted strings and angle brackets.
func nextListElement(s string) (elem, rest string) {
	// Fast paths: most values hold no comma at all, and most commas are
	// not inside quotes or angle brackets.
	comma := strings.IndexByte(s, ',')
	if comma < 0 {
		return trimLWS(s), ""
	}
	if head := s[:comma]; strings.IndexByte(head, '"') < 0 && strings.IndexByte(head, '<') < 0 {
		return trimLWS(head), s[comma+1:]
	}
	inQuote, inAngle := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !inQuote && charClass[c]&ccListStop == 0 {
			continue
		}
		switch {
		case inQuote:
			if c == '\\' {
				i++
			} else if c == '"' {
				inQuote = false
			}
		case c == '"':
			inQuote = true
		case c == '<':
			inAngle = true
		case c == '>':
			inAngle = false
		case c == ',' && !inAngle:
			return trimLWS(s[:i]), s[i+1:]
		}
	}
	return trimLWS(s), ""
}

func isLWS(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func trimLWS(s string) string {
	for len(s) > 0 && isLWS(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isLWS(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// ---- typed access ----

// CallID returns the Call-ID.
func (h *Headers) CallID() string {
	v, _ := h.getID(hCallID)
	return v
}

// From returns the parsed From header.
func (h *Headers) From() (Address, error) {
	if h.parsed.ok {
		return h.parsed.from, nil
	}
	return h.address(hFrom)
}

// To returns the parsed To header.
func (h *Headers) To() (Address, error) {
	if h.parsed.ok {
		return h.parsed.to, nil
	}
	return h.address(hTo)
}

func (h *Headers) address(id headerID) (Address, error) {
	v, ok := h.getID(id)
	if !ok {
		return Address{}, statusErr(400, ErrMissingHeader, "Missing "+canonicalNames[id])
	}
	a, err := ParseAddress(v)
	if err != nil {
		return Address{}, badHeader(canonicalNames[id], err.Error())
	}
	return a, nil
}

// FromTag returns the tag parameter of From ("" when absent or unparsable).
func (h *Headers) FromTag() string { return h.tag(hFrom) }

// ToTag returns the tag parameter of To ("" when absent or unparsable).
func (h *Headers) ToTag() string { return h.tag(hTo) }

func (h *Headers) tag(id headerID) string {
	if h.parsed.ok {
		a := &h.parsed.from
		if id == hTo {
			a = &h.parsed.to
		}
		return a.Tag()
	}
	v, ok := h.getID(id)
	if !ok {
		return ""
	}
	a, err := ParseAddress(v)
	if err != nil {
		return ""
	}
	t, _ := a.Param("tag")
	return t
}

// CSeq returns the parsed CSeq header.
func (h *Headers) CSeq() (CSeq, error) {
	if h.parsed.ok {
		return h.parsed.cseq, nil
	}
	v, ok := h.getID(hCSeq)
	if !ok {
		return CSeq{}, statusErr(400, ErrMissingHeader, "Missing CSeq")
	}
	return ParseCSeq(v)
}

// TopVia returns the first Via value, the one that names the previous hop.
func (h *Headers) TopVia() (Via, error) {
	if h.parsed.ok {
		return h.parsed.via, nil
	}
	if v, ok := h.firstValue(hVia); ok {
		return ParseVia(v)
	}
	return Via{}, statusErr(400, ErrMissingHeader, "Missing Via")
}

// firstValue returns the first element of a list header without the
// iterator machinery, which the hot path cannot afford.
func (h *Headers) firstValue(id headerID) (string, bool) {
	c := valueCursor{h: h, id: id}
	return c.next()
}

// Vias iterates over all Via values, top first, parsed.
func (h *Headers) Vias() iter.Seq2[Via, error] {
	return func(yield func(Via, error) bool) {
		c := valueCursor{h: h, id: hVia}
		for v, ok := c.next(); ok; v, ok = c.next() {
			if !yield(ParseVia(v)) {
				return
			}
		}
	}
}

// ViaCount returns the number of Via values.
func (h *Headers) ViaCount() int {
	n := 0
	c := valueCursor{h: h, id: hVia}
	for _, ok := c.next(); ok; _, ok = c.next() {
		n++
	}
	return n
}

// MaxForwards returns Max-Forwards and whether it is present and valid
// (0–255 per §20.22, though larger values are accepted and clamped).
func (h *Headers) MaxForwards() (int, bool) {
	v, ok := h.getID(hMaxForwards)
	if !ok {
		return 0, false
	}
	n, ok := parseUint(v, 1<<31-1)
	if !ok {
		return 0, false
	}
	return n, true
}

// ContentLength returns the Content-Length value and whether it is present.
func (h *Headers) ContentLength() (int, bool) {
	v, ok := h.getID(hContentLength)
	if !ok {
		return 0, false
	}
	n, ok := parseUint(v, 1<<31-1)
	return n, ok
}

// ContentType returns the Content-Type value ("" when absent).
func (h *Headers) ContentType() string {
	v, _ := h.getID(hContentType)
	return v
}

// Expires returns the Expires header in seconds and whether it is present
// and a number.
func (h *Headers) Expires() (int, bool) { return h.seconds(hExpires) }

// MinExpires returns the Min-Expires header in seconds.
func (h *Headers) MinExpires() (int, bool) { return h.seconds(hMinExpires) }

func (h *Headers) seconds(id headerID) (int, bool) {
	v, ok := h.getID(id)
	if !ok {
		return 0, false
	}
	// Values above 2^32-1 are legal in syntax; clamp like §20.19 suggests.
	n, ok := parseUint(v, 1<<32-1)
	return n, ok
}

// RetryAfter returns the seconds of a Retry-After header (§20.33), ignoring
// its comment and parameters.
func (h *Headers) RetryAfter() (int, bool) {
	v, ok := h.getID(hRetryAfter)
	if !ok {
		return 0, false
	}
	end := 0
	for end < len(v) && '0' <= v[end] && v[end] <= '9' {
		end++
	}
	return parseUint(v[:end], 1<<32-1)
}

// Contacts iterates over the Contact values, parsed. A wildcard "*" yields an
// Address with Wildcard set.
func (h *Headers) Contacts() iter.Seq2[Address, error] { return h.addresses(hContact) }

// Routes iterates over the Route values, parsed.
func (h *Headers) Routes() iter.Seq2[Address, error] { return h.addresses(hRoute) }

// RecordRoutes iterates over the Record-Route values, parsed.
func (h *Headers) RecordRoutes() iter.Seq2[Address, error] { return h.addresses(hRecordRoute) }

// Paths iterates over the Path values (RFC 3327), parsed.
func (h *Headers) Paths() iter.Seq2[Address, error] { return h.addresses(hPath) }

// addresses iterates over the elements of a list header of addresses. It
// walks the fields with a cursor rather than through Values: an iterator
// nested in an iterator makes the loop body escape, and this runs on every
// message.
func (h *Headers) addresses(id headerID) iter.Seq2[Address, error] {
	return func(yield func(Address, error) bool) {
		c := valueCursor{h: h, id: id}
		for v, ok := c.next(); ok; v, ok = c.next() {
			a, err := ParseAddress(v)
			if err != nil {
				err = badHeader(canonicalNames[id], err.Error())
			}
			if !yield(a, err) {
				return
			}
		}
	}
}

// ReferTo returns the parsed Refer-To header (RFC 3515).
func (h *Headers) ReferTo() (Address, error) { return h.address(hReferTo) }

// Event returns the event package of the Event header (RFC 6665), without
// parameters, and whether the header is present.
func (h *Headers) Event() (string, bool) {
	v, ok := h.getID(hEvent)
	if !ok {
		return "", false
	}
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = trimLWS(v[:i])
	}
	return v, true
}

// UserAgent returns the User-Agent header.
func (h *Headers) UserAgent() string {
	v, _ := h.getID(hUserAgent)
	return v
}

// HasOption reports whether a token list header (Allow, Supported, Require,
// Proxy-Require, Unsupported) contains the token, case-insensitively.
func (h *Headers) HasOption(name, token string) bool {
	c := h.cursor(name)
	for v, ok := c.next(); ok; v, ok = c.next() {
		if strings.EqualFold(v, token) {
			return true
		}
	}
	return false
}

// Authorization returns the parsed credentials of the first Authorization
// header.
func (h *Headers) Authorization() (Credentials, bool) { return h.credentials(hAuthorization) }

// ProxyAuthorization returns the parsed credentials of the first
// Proxy-Authorization header.
func (h *Headers) ProxyAuthorization() (Credentials, bool) {
	return h.credentials(hProxyAuthorization)
}

// WWWAuthenticate returns the parsed challenge of the first WWW-Authenticate
// header.
func (h *Headers) WWWAuthenticate() (Credentials, bool) { return h.credentials(hWWWAuthenticate) }

// ProxyAuthenticate returns the parsed challenge of the first
// Proxy-Authenticate header.
func (h *Headers) ProxyAuthenticate() (Credentials, bool) {
	return h.credentials(hProxyAuthenticate)
}

func (h *Headers) credentials(id headerID) (Credentials, bool) {
	v, ok := h.getID(id)
	if !ok {
		return Credentials{}, false
	}
	c, err := ParseCredentials(v)
	return c, err == nil
}

// parseUint parses a decimal without sign, clamping at max. It rejects
// empty strings and anything but digits.
func parseUint(s string, max int) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n <= max {
			n = n*10 + int(c-'0')
		}
	}
	if n > max {
		n = max
	}
	return n, true
}

var _ = strconv.Itoa
