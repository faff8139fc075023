package sip

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// addMessageSeeds adds every message of testdata/valid and testdata/invalid
// as a seed, besides the corpus committed under testdata/fuzz.
func addMessageSeeds(f *testing.F) {
	for _, dir := range []string{"valid", "invalid"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.sip"))
		for _, name := range files {
			data, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
}

// relaxed limits for re-parsing what the writer produced: writing expands
// compact names, LF line ends and Content-Length, so a message just under
// the limits may be written just over them; that is not a round-trip fault.
func relaxedParser(n int) *Parser {
	return &Parser{Limits: Limits{MaxMessageSize: 4*n + 1024, MaxHeaders: DefaultMaxHeaders, MaxLineLength: 4*n + 1024}}
}

// exercise calls the typed accessors on a message; they must not panic.
func exercise(h *Headers) {
	_, _ = h.TopVia()
	_, _ = h.From()
	_, _ = h.To()
	_, _ = h.CSeq()
	_ = h.FromTag()
	_ = h.ToTag()
	_ = h.CallID()
	_, _ = h.MaxForwards()
	_, _ = h.ContentLength()
	_, _ = h.Expires()
	_, _ = h.RetryAfter()
	_, _ = h.Event()
	_, _ = h.Authorization()
	_ = h.ViaCount()
	for v, err := range h.Vias() {
		if err == nil {
			_ = v.Branch()
			_, _ = v.RPort()
			_ = v.String()
		}
	}
	for a, err := range h.Contacts() {
		if err == nil {
			_ = a.String()
		}
	}
	for range h.RecordRoutes() {
	}
	c := h.Clone()
	c.RemoveFirstValue("Via")
	c.RemoveFirstValue("Route")
	c.SetToTag("x")
}

func FuzzParse(f *testing.F) {
	addMessageSeeds(f)
	f.Add([]byte(smokeInvite))
	f.Fuzz(func(t *testing.T, data []byte) {
		m1, err := Parse(data)
		if m1 != nil {
			exercise(m1.Hdr())
			if s := m1.String(); len(s) != m1.MarshalSize() {
				t.Fatalf("MarshalSize %d, wrote %d", m1.MarshalSize(), len(s))
			}
		}
		if err != nil {
			if _, ok := AsStatusError(err); !ok {
				t.Fatalf("error is not a *StatusError: %v", err)
			}
			return
		}
		out := m1.String()
		m2, err := relaxedParser(len(out)).Parse([]byte(out))
		if err != nil {
			t.Fatalf("re-parse of\n%q\nfrom\n%q\nfailed: %v", out, data, err)
		}
		if diff := messageDiff(m1, m2); diff != "" {
			t.Fatalf("round trip of %q: %s\nwritten: %q", data, diff, out)
		}
		if out2 := m2.String(); out2 != out {
			t.Fatalf("writing is not stable:\n%q\n%q", out, out2)
		}
	})
}

func fieldsWithoutCL(h *Headers) []HeaderField {
	var out []HeaderField
	for _, f := range h.Fields() {
		if !f.Is("Content-Length") {
			out = append(out, f)
		}
	}
	return out
}

// messageDiff describes how two messages differ, or returns "".
func messageDiff(a, b Message) string {
	switch x := a.(type) {
	case *Request:
		y, ok := b.(*Request)
		if !ok {
			return "request became a response"
		}
		if x.Method != y.Method {
			return "method " + x.Method + " != " + y.Method
		}
		if x.URI.String() != y.URI.String() {
			return "URI " + x.URI.String() + " != " + y.URI.String()
		}
		if x.URI != y.URI {
			return "URI fields differ for " + x.URI.String()
		}
	case *Response:
		y, ok := b.(*Response)
		if !ok {
			return "response became a request"
		}
		if x.StatusCode != y.StatusCode || x.Reason != y.Reason {
			return "status line " + StatusText(x.StatusCode, x.Reason) + " != " + StatusText(y.StatusCode, y.Reason)
		}
	}
	// The writer always writes one Content-Length equal to the body
	// length, so Content-Length fields are left out of the comparison.
	fa, fb := fieldsWithoutCL(a.Hdr()), fieldsWithoutCL(b.Hdr())
	if len(fa) != len(fb) {
		return "header count differs"
	}
	for i := range fa {
		if !strings.EqualFold(CanonicalName(fa[i].Name), CanonicalName(fb[i].Name)) {
			return "header name " + fa[i].Name + " != " + fb[i].Name
		}
		if fa[i].Value != fb[i].Value {
			return "header " + fa[i].Name + " value " + fa[i].Value + " != " + fb[i].Value
		}
	}
	if n, ok := b.Hdr().ContentLength(); !ok || n != len(b.MessageBody()) {
		return "Content-Length does not match the body"
	}
	if !bytes.Equal(a.MessageBody(), b.MessageBody()) {
		return "body differs"
	}
	return ""
}

func FuzzParseURI(f *testing.F) {
	for _, s := range uriSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURI(s)
		if err != nil {
			return
		}
		if !u.Equal(&u) {
			t.Fatalf("%q not Equal to itself", s)
		}
		out := u.String()
		u2, err := ParseURI(out)
		if err != nil {
			t.Fatalf("re-parse of %q (from %q): %v", out, s, err)
		}
		if u2 != u {
			t.Fatalf("round trip of %q: %+v != %+v", s, u, u2)
		}
		if !u.Equal(&u2) || !u2.Equal(&u) {
			t.Fatalf("%q not Equal to its round trip", s)
		}
		if u2.String() != out {
			t.Fatalf("writing is not stable: %q, %q", out, u2.String())
		}
		_ = u.UserUnescaped()
		_, _ = u.Addr()
		_ = u.Transport()
	})
}

func FuzzParseAddress(f *testing.F) {
	for _, s := range addressSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			return
		}
		out := a.String()
		b, err := ParseAddress(out)
		if err != nil {
			t.Fatalf("re-parse of %q (from %q): %v", out, s, err)
		}
		if a != b {
			t.Fatalf("round trip of %q: %+v != %+v", s, a, b)
		}
		if b.String() != out {
			t.Fatalf("writing is not stable: %q, %q", out, b.String())
		}
		_ = a.Tag()
	})
}

func FuzzParseVia(f *testing.F) {
	for _, s := range viaSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVia(s)
		if err != nil {
			return
		}
		out := v.String()
		w, err := ParseVia(out)
		if err != nil {
			t.Fatalf("re-parse of %q (from %q): %v", out, s, err)
		}
		if v != w {
			t.Fatalf("round trip of %q: %+v != %+v", s, v, w)
		}
		_ = v.Branch()
		_, _ = v.RPort()
		_ = v.Received()
		_ = v.SentBy()
	})
}

// frameEvent is what a Framer reported, for comparing runs.
type frameEvent struct {
	crlfs int    // keep-alive CRLFs before the message
	msg   string // the message; "" for a trailing run of keep-alives
}

type frameResult struct {
	events  []frameEvent
	errCode int
}

// runFramer feeds chunks to a Framer and collects what Next reports.
func runFramer(t testing.TB, lim Limits, chunks [][]byte) frameResult {
	t.Helper()
	var fr Framer
	fr.Limits = lim
	max := lim.withDefaults().MaxMessageSize
	var res frameResult
	crlfs := 0
	for _, c := range chunks {
		fr.Write(c)
		for {
			kind, frame, err := fr.Next()
			if err != nil {
				se, ok := AsStatusError(err)
				if !ok {
					t.Fatalf("framer error is not a *StatusError: %v", err)
				}
				res.errCode = se.Code
				res.events = append(res.events, frameEvent{crlfs: crlfs})
				return res
			}
			if kind == FrameNone {
				if fr.Buffered() > max {
					t.Fatalf("framer holds %d bytes, limit %d", fr.Buffered(), max)
				}
				break
			}
			switch kind {
			case FramePing:
				crlfs += 2
			case FramePong:
				crlfs++
			case FrameMessage:
				if len(frame) > max {
					t.Fatalf("frame of %d bytes, limit %d", len(frame), max)
				}
				res.events = append(res.events, frameEvent{crlfs: crlfs, msg: string(frame)})
				crlfs = 0
			}
		}
	}
	res.events = append(res.events, frameEvent{crlfs: crlfs})
	return res
}

func FuzzFramer(f *testing.F) {
	for _, s := range streamSeeds {
		f.Add([]byte(s), []byte{1, 7, 30})
	}
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		lim := Limits{MaxMessageSize: 2048}
		whole := runFramer(t, lim, [][]byte{data})
		var chunks [][]byte
		rest := data
		for _, c := range cuts {
			n := int(c)
			if n > len(rest) {
				break
			}
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
		}
		chunks = append(chunks, rest)
		split := runFramer(t, lim, chunks)
		if whole.errCode != split.errCode {
			t.Fatalf("error %d whole, %d split", whole.errCode, split.errCode)
		}
		if len(whole.events) != len(split.events) {
			t.Fatalf("%d events whole, %d split\n%+v\n%+v", len(whole.events), len(split.events), whole.events, split.events)
		}
		for i := range whole.events {
			if whole.events[i] != split.events[i] {
				t.Fatalf("event %d: %+v whole, %+v split", i, whole.events[i], split.events[i])
			}
		}
		for _, e := range whole.events {
			if e.msg != "" {
				m, err := Parse([]byte(e.msg))
				if m != nil {
					exercise(m.Hdr())
				}
				_ = err
			}
		}
	})
}

var uriSeeds = []string{
	"sip:alice@atlanta.example.com",
	"sips:alice:secret@[2001:db8::10]:5061;transport=tls;lr?subject=hi&priority=urgent",
	"sip:%61lice@atlanta.com;transport=TCP",
	"sip:user;par=u%40example.net@example.com",
	"sip:+1-212-555-1212:1234@gateway.com;user=phone",
	"tel:+1-201-555-0123;phone-context=example.com",
	"mailto:alice@example.com",
	"urn:service:sos",
	"sip:[::1]",
	"sip:host:5060;maddr=239.255.255.1;ttl=15",
	"sip:h;a=1;a=2",
	"sip:h?a=1&a=1",
}

var addressSeeds = []string{
	`"Alice A." <sip:alice@atlanta.example.com>;tag=1928301774`,
	`Bob <sip:bob@biloxi.example.com>`,
	`sip:carol@chicago.example.com;tag=887s`,
	`*`,
	`"\"quoted\\" <sip:q@example.com>`,
	`" " <sip:x@y>`,
	`<tel:+1234>;expires=0`,
	`"J Rosenberg \\\"" <sip:jdrosen@example.com>;tag=98asjd8`,
}

var viaSeeds = []string{
	"SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds",
	"SIP / 2.0 / TCP host.example.com : 5060 ; branch=z9hG4bK1;rport",
	"SIP/2.0/UDP [2001:db8::9:1]:5070;branch=z9hG4bKas3-111;received=2001:db8::9:255;rport=5070",
	"SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKhjhs8ass877",
}

var streamSeeds = []string{
	smokeInvite + smokeInvite,
	"\r\n\r\n" + smokeInvite + "\r\n",
	"\r\n",
	"\r\n\r\n\r\n",
	"OPTIONS sip:x SIP/2.0\r\nl: 2\r\n\r\nab\r\n\r\nOPTIONS sip:y SIP/2.0\r\nContent-Length:\r\n 0\r\n\r\n",
	"INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n",
}
