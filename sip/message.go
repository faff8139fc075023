package sip

import (
	"net/netip"
	"strconv"
)

// Well-known methods (RFC 3261 and extensions). Methods are case-sensitive.
const (
	INVITE    = "INVITE"
	ACK       = "ACK"
	BYE       = "BYE"
	CANCEL    = "CANCEL"
	OPTIONS   = "OPTIONS"
	REGISTER  = "REGISTER"
	PRACK     = "PRACK"
	SUBSCRIBE = "SUBSCRIBE"
	NOTIFY    = "NOTIFY"
	PUBLISH   = "PUBLISH"
	INFO      = "INFO"
	REFER     = "REFER"
	MESSAGE   = "MESSAGE"
	UPDATE    = "UPDATE"
)

// Message is a Request or a Response.
type Message interface {
	// Hdr returns the message's header list.
	Hdr() *Headers
	// MessageBody returns the body.
	MessageBody() []byte
	// MarshalSize returns the exact length AppendTo will write.
	MarshalSize() int
	// AppendTo appends the wire form to b and returns the extended slice.
	AppendTo(b []byte) []byte
	// String returns the wire form.
	String() string
	isMessage()
}

// Origin says where a received message came from; the transport fills it in
// so that responses and bindings can use the real source (§18.2.1, RFC 3581).
type Origin struct {
	Source    netip.AddrPort // the packet's source address
	Local     netip.AddrPort // the local address it arrived on
	Transport string         // "UDP", "TCP", "TLS", "WS", "WSS", "SCTP"
}

// Request is a SIP request (§7.1).
type Request struct {
	Method string
	URI    URI
	Headers
	Body []byte
	Origin
}

// Response is a SIP response (§7.2).
type Response struct {
	StatusCode int
	Reason     string
	Headers
	Body []byte
	Origin
}

func (*Request) isMessage()  {}
func (*Response) isMessage() {}

// Hdr returns the header list.
func (r *Request) Hdr() *Headers { return &r.Headers }

// Hdr returns the header list.
func (r *Response) Hdr() *Headers { return &r.Headers }

// MessageBody returns the body.
func (r *Request) MessageBody() []byte { return r.Body }

// MessageBody returns the body.
func (r *Response) MessageBody() []byte { return r.Body }

// IsProvisional reports a 1xx response.
func (r *Response) IsProvisional() bool { return r.StatusCode < 200 }

// IsSuccess reports a 2xx response.
func (r *Response) IsSuccess() bool { return r.StatusCode >= 200 && r.StatusCode < 300 }

// ---- writer ----

const crlf = "\r\n"

// MarshalSize returns the exact length of the wire form.
func (r *Request) MarshalSize() int {
	n := len(r.Method) + 1 + uriSize(&r.URI) + len(" SIP/2.0\r\n")
	return n + headersSize(&r.Headers, len(r.Body)) + len(r.Body)
}

// MarshalSize returns the exact length of the wire form.
func (r *Response) MarshalSize() int {
	n := len("SIP/2.0 ") + decimalLen(r.StatusCode) + 1 + len(r.Reason) + 2
	return n + headersSize(&r.Headers, len(r.Body)) + len(r.Body)
}

func uriSize(u *URI) int {
	n := len(u.Scheme) + 1
	if u.Opaque != "" {
		return n + len(u.Opaque)
	}
	if u.User != "" {
		n += len(u.User)
		if u.Password != "" {
			n += 1 + len(u.Password)
		}
		if !u.IsTel() {
			n++
		}
	}
	n += len(u.Host)
	if u.Port != 0 {
		n += 1 + decimalLen(u.Port)
	}
	n += len(u.Params)
	if u.Headers != "" {
		n += 1 + len(u.Headers)
	}
	return n
}

func headersSize(h *Headers, bodyLen int) int {
	n := 0
	hasCL := false
	for i := range h.fields {
		f := &h.fields[i]
		if f.id == hContentLength {
			if hasCL {
				continue
			}
			hasCL = true
			n += len("Content-Length: ") + decimalLen(bodyLen) + 2
			continue
		}
		n += len(fieldName(f)) + 2 + len(f.Value) + 2
	}
	if !hasCL {
		n += len("Content-Length: ") + decimalLen(bodyLen) + 2
	}
	return n + 2
}

// decimalLen is the length of strconv.Itoa(n).
func decimalLen(n int) int {
	l := 1
	if n < 0 {
		l++
		if n == -n { // the smallest int
			return len(strconv.Itoa(n))
		}
		n = -n
	}
	for n >= 10 {
		n /= 10
		l++
	}
	return l
}

// fieldName is the name the writer uses: the canonical long form for known
// headers (so compact forms are expanded), the received name otherwise.
func fieldName(f *HeaderField) string {
	if f.id != hUnknown {
		return canonicalNames[f.id]
	}
	return f.Name
}

// AppendTo appends the wire form of the request to b. Header fields are
// written in order with canonical names; Content-Length is always written
// and always equals the body length.
func (r *Request) AppendTo(b []byte) []byte {
	b = append(b, r.Method...)
	b = append(b, ' ')
	b = r.URI.AppendTo(b)
	b = append(b, " SIP/2.0\r\n"...)
	b = appendHeaders(b, &r.Headers, len(r.Body))
	return append(b, r.Body...)
}

// AppendTo appends the wire form of the response to b.
func (r *Response) AppendTo(b []byte) []byte {
	b = append(b, "SIP/2.0 "...)
	b = strconv.AppendInt(b, int64(r.StatusCode), 10)
	b = append(b, ' ')
	b = append(b, r.Reason...)
	b = append(b, crlf...)
	b = appendHeaders(b, &r.Headers, len(r.Body))
	return append(b, r.Body...)
}

func appendHeaders(b []byte, h *Headers, bodyLen int) []byte {
	hasCL := false
	for i := range h.fields {
		f := &h.fields[i]
		if f.id == hContentLength {
			if hasCL {
				continue
			}
			hasCL = true
			b = append(b, "Content-Length: "...)
			b = strconv.AppendInt(b, int64(bodyLen), 10)
			b = append(b, crlf...)
			continue
		}
		b = append(b, fieldName(f)...)
		b = append(b, ": "...)
		b = append(b, f.Value...)
		b = append(b, crlf...)
	}
	if !hasCL {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(bodyLen), 10)
		b = append(b, crlf...)
	}
	return append(b, crlf...)
}

// String returns the wire form.
func (r *Request) String() string { return string(r.AppendTo(make([]byte, 0, r.MarshalSize()))) }

// String returns the wire form.
func (r *Response) String() string { return string(r.AppendTo(make([]byte, 0, r.MarshalSize()))) }

// Clone returns a deep copy of the request whose headers can be changed
// without touching the original (a proxy forks this way, §16.6 step 1).
func (r *Request) Clone() *Request {
	c := *r
	c.Headers = r.Headers.Clone()
	if r.Body != nil {
		c.Body = append([]byte(nil), r.Body...)
	}
	return &c
}

// Clone returns a deep copy of the response.
func (r *Response) Clone() *Response {
	c := *r
	c.Headers = r.Headers.Clone()
	if r.Body != nil {
		c.Body = append([]byte(nil), r.Body...)
	}
	return &c
}

// ---- builders ----

// NewRequest makes a request with the given method and Request-URI and no
// headers; the caller adds Via, From, To, Call-ID, CSeq, Max-Forwards.
func NewRequest(method string, uri URI) *Request {
	return &Request{Method: method, URI: uri}
}

// NewResponse makes a response to req as §8.2.6 says: Via (all values, in
// order), From, To, Call-ID and CSeq are copied, and Timestamp for a 100
// (§8.2.6.1). reason "" means the standard phrase. The caller adds a To tag
// (see SetToTag) on responses that establish or belong to a dialog.
func NewResponse(req *Request, code int, reason string) *Response {
	if reason == "" {
		reason = ReasonPhrase(code)
	}
	resp := &Response{StatusCode: code, Reason: reason}
	n := 0
	for i := range req.fields {
		switch req.fields[i].id {
		case hVia, hFrom, hTo, hCallID, hCSeq:
			n++
		}
	}
	resp.fields = make([]HeaderField, 0, n+4)
	for i := range req.fields {
		f := req.fields[i]
		switch f.id {
		case hVia, hFrom, hTo, hCallID, hCSeq:
			f.Name = canonicalNames[f.id]
			resp.fields = append(resp.fields, f)
		case hTimestamp:
			if code == 100 {
				resp.fields = append(resp.fields, f)
			}
		}
	}
	return resp
}

// CopyRecordRoute copies the request's Record-Route values into a
// response, in order: a UAS must do so in every response that establishes
// a dialog — a 2xx or a 1xx with a To tag to a dialog-creating request
// (§12.1.1) — or the caller's route set misses the proxies that asked to
// stay on the path.
func (r *Response) CopyRecordRoute(req *Request) {
	for i := range req.fields {
		if f := req.fields[i]; f.id == hRecordRoute {
			f.Name = canonicalNames[hRecordRoute]
			r.fields = append(r.fields, f)
		}
	}
	r.changed()
}

// SetToTag adds a tag parameter to the To header when it has none.
func (h *Headers) SetToTag(tag string) {
	i := h.index(hTo, "")
	if i < 0 {
		return
	}
	a, err := ParseAddress(h.fields[i].Value)
	if err != nil || a.Params.Has("tag") {
		return
	}
	h.fields[i].Value += ";tag=" + tag
	h.changed()
}
