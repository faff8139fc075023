package sip

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func golden(t *testing.T, name string, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\ngot:\n%q\nwant:\n%q", name, got, want)
	}
}

func mustURI(t testing.TB, s string) URI {
	t.Helper()
	u, err := ParseURI(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func buildInvite(t *testing.T) *Request {
	req := NewRequest(INVITE, mustURI(t, "sip:bob@biloxi.example.com"))
	req.Add("Via", "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds")
	req.Add("Max-Forwards", "70")
	req.Add("t", "Bob <sip:bob@biloxi.example.com>") // compact: written long
	req.Add("From", `"Alice A." <sip:alice@atlanta.example.com>;tag=1928301774`)
	req.Add("call-id", "a84b4c76e66710@pc33.atlanta.example.com")
	req.Add("CSeq", "314159 INVITE")
	req.Add("Timestamp", "54")
	req.Add("Contact", "<sip:alice@pc33.atlanta.example.com>")
	req.Add("X-Unknown-Case", "kept as given")
	req.Add("Content-Type", "application/sdp")
	req.Add("Content-Length", "999") // the writer writes the body length
	req.Body = []byte("v=0\r\n")
	// A proxy's additions: its Via above the others, a Record-Route at the
	// top (there is none yet), a second Record-Route above the first.
	req.Prepend("Via", "SIP/2.0/TCP proxy.example.net:5060;branch=z9hG4bKprx1")
	req.Prepend("Record-Route", "<sip:p2.example.net;lr>")
	req.Prepend("Record-Route", "<sip:p1.example.net;lr>")
	return req
}

func TestGoldenRequest(t *testing.T) {
	req := buildInvite(t)
	out := req.String()
	golden(t, "request-invite.golden", out)
	if req.MarshalSize() != len(out) || len(req.AppendTo(nil)) != len(out) {
		t.Errorf("MarshalSize %d, AppendTo %d", req.MarshalSize(), len(out))
	}
	// AppendTo appends.
	if b := req.AppendTo([]byte("xx")); string(b[:2]) != "xx" || string(b[2:]) != out {
		t.Error("AppendTo does not append")
	}
	m, err := Parse([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := m.Hdr().ContentLength(); n != 5 {
		t.Errorf("Content-Length %d", n)
	}
}

func TestGoldenResponse(t *testing.T) {
	req := buildInvite(t)
	resp := NewResponse(req, StatusRinging, "")
	resp.SetToTag("a6c85cf")
	resp.SetToTag("second") // a tag is set once
	resp.Add("Contact", "<sip:bob@192.0.2.4>")
	out := resp.String()
	golden(t, "response-180.golden", out)
	if resp.MarshalSize() != len(out) {
		t.Errorf("MarshalSize %d, wrote %d", resp.MarshalSize(), len(out))
	}
	if resp.ToTag() != "a6c85cf" || resp.Reason != "Ringing" || resp.Has("Timestamp") || resp.Has("Record-Route") {
		t.Errorf("response %+v", resp)
	}
	if _, err := Parse([]byte(out)); err != nil {
		t.Fatal(err)
	}
	// The request is untouched.
	if req.ToTag() != "" {
		t.Error("SetToTag changed the request")
	}

	trying := NewResponse(req, StatusTrying, "Trying Hard")
	if v, ok := trying.Get("Timestamp"); !ok || v != "54" || trying.Reason != "Trying Hard" {
		t.Errorf("100 Trying: Timestamp %q %v, reason %q", v, ok, trying.Reason)
	}
	if vias := slices.Collect(trying.Values("Via")); len(vias) != 2 || vias[0] != "SIP/2.0/TCP proxy.example.net:5060;branch=z9hG4bKprx1" {
		t.Errorf("vias %q", vias)
	}
	golden(t, "response-100.golden", trying.String())
}

func TestResponseSizes(t *testing.T) {
	for _, code := range []int{100, 200, 699, 1000, 7, -5} {
		r := &Response{StatusCode: code, Reason: "X"}
		r.Add("Via", "SIP/2.0/UDP h")
		if s := r.String(); len(s) != r.MarshalSize() {
			t.Errorf("code %d: MarshalSize %d, wrote %d", code, r.MarshalSize(), len(s))
		}
	}
	for _, s := range []string{"sip:a:pw@h:1;x?y=z", "tel:+1;a=b", "urn:x:y", "sips:[::1]:65535"} {
		r := NewRequest("OPTIONS", mustURI(t, s))
		r.Body = make([]byte, 12345)
		if out := r.String(); len(out) != r.MarshalSize() {
			t.Errorf("%s: MarshalSize %d, wrote %d", s, r.MarshalSize(), len(out))
		}
	}
}

func fieldsOf(h *Headers) []string {
	var out []string
	for _, f := range h.Fields() {
		out = append(out, f.Name+": "+f.Value)
	}
	return out
}

func TestHeaderEditing(t *testing.T) {
	var h Headers
	h.Add("Via", "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2")
	h.Add("Subject", "one")
	h.Add("v", "SIP/2.0/UDP c;branch=z9hG4bK3")
	h.Add("Route", `<sip:r1;lr>, "x, y" <sip:r2;lr>`)
	h.Add("subject", "two")

	if !h.RemoveFirstValue("VIA") {
		t.Fatal("RemoveFirstValue Via")
	}
	if v, _ := h.TopVia(); v.Host != "b" || h.ViaCount() != 2 {
		t.Errorf("after one removal: top %q, %d vias", v.Host, h.ViaCount())
	}
	h.RemoveFirstValue("Via")
	if v, _ := h.TopVia(); v.Host != "c" || h.Len() != 4 {
		t.Errorf("after two removals: top %q, %d fields: %q", v.Host, h.Len(), fieldsOf(&h))
	}
	h.RemoveFirstValue("Route")
	if r := slices.Collect(h.Values("Route")); !slices.Equal(r, []string{`"x, y" <sip:r2;lr>`}) {
		t.Errorf("routes %q", r)
	}
	h.RemoveFirstValue("Subject") // not a list: the whole line
	if s, _ := h.Get("Subject"); s != "two" {
		t.Errorf("subject %q", s)
	}
	if h.RemoveFirstValue("Record-Route") {
		t.Error("removed an absent header")
	}

	h.Set("SUBJECT", "three")
	h.Add("Subject", "four")
	h.Set("Subject", "five") // replaces the first, removes the rest
	if s := slices.Collect(h.Values("Subject")); !slices.Equal(s, []string{"five"}) {
		t.Errorf("subjects %q", s)
	}
	h.Set("X-New", "added")
	if f := h.Field(h.Len() - 1); f.Name != "X-New" || f.Value != "added" {
		t.Errorf("Set of an absent header: %+v", f)
	}
	h.Prepend("x-new", "first")
	if s := slices.Collect(h.Values("X-NEW")); !slices.Equal(s, []string{"first", "added"}) {
		t.Errorf("Prepend: %q", s)
	}
	h.Prepend("Max-Forwards", "70") // none yet: at the top
	if f := h.Field(0); !f.Is("max-forwards") {
		t.Errorf("Prepend of an absent header went to %q", fieldsOf(&h))
	}
	h.Del("v")
	h.Del("x-NEW")
	want := []string{"Max-Forwards: 70", "Route: \"x, y\" <sip:r2;lr>", "subject: five"}
	if got := fieldsOf(&h); !slices.Equal(got, want) {
		t.Errorf("fields %q, want %q", got, want)
	}
	if h.Has("Via") || !h.Has("s") {
		t.Error("Has")
	}
	h.RemoveFirstValue("Route")
	if h.Has("Route") {
		t.Error("empty Route line kept")
	}

	// Clone is independent of the original.
	c := h.Clone()
	c.Set("Subject", "changed")
	c.Prepend("Via", "SIP/2.0/UDP d")
	if s, _ := h.Get("Subject"); s != "five" || h.Has("Via") {
		t.Error("Clone shares fields")
	}
}

func TestRequestClone(t *testing.T) {
	req := buildInvite(t)
	before := req.String()
	c := req.Clone()
	c.Prepend("Via", "SIP/2.0/UDP fork;branch=z9hG4bKfork")
	c.Body[0] = 'X'
	c.URI.Host = "elsewhere"
	if req.String() != before {
		t.Error("changing the clone changed the original")
	}
}

func TestCanonicalName(t *testing.T) {
	for in, want := range map[string]string{"v": "Via", "VIA": "Via", "i": "Call-ID", "cseq": "CSeq", "X-Foo": "X-Foo",
		"WWW-authenticate": "WWW-Authenticate", "l": "Content-Length", "m": "Contact", "q": "q", "?": "?"} {
		if got := CanonicalName(in); got != want {
			t.Errorf("CanonicalName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAccessorAllocs(t *testing.T) {
	m, err := Parse([]byte(smokeInvite))
	if err != nil {
		t.Fatal(err)
	}
	r := m.(*Request)
	n := testing.AllocsPerRun(100, func() {
		v, _ := r.TopVia()
		_ = v.Branch()
		_ = r.FromTag()
		_ = r.ToTag()
		_ = r.CallID()
		_, _ = r.CSeq()
		_, _ = r.MaxForwards()
		_, _ = r.From()
		_, _ = r.To()
		_, _ = r.ContentLength()
		_ = r.ViaCount()
		for v, err := range r.Vias() {
			_, _ = v, err
		}
		for a, err := range r.Contacts() {
			_, _ = a, err
		}
		for a, err := range r.Routes() {
			_, _ = a, err
		}
		for a, err := range r.RecordRoutes() {
			_, _ = a, err
		}
		_ = r.HasOption("Supported", "timer")
	})
	if n != 0 {
		t.Errorf("typed accessors allocate %v times", n)
	}
	data := []byte(smokeInvite)
	if n := testing.AllocsPerRun(100, func() { _, _ = Parse(data) }); n != 2 {
		t.Errorf("Parse allocates %v times, want 2", n)
	}
}
