package sip

import "testing"

const smokeInvite = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n" +
	"Max-Forwards: 70\r\n" +
	"To: Bob <sip:bob@biloxi.example.com>\r\n" +
	"From: \"Alice A.\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n" +
	"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n" +
	"CSeq: 314159 INVITE\r\n" +
	"Contact: <sip:alice@pc33.atlanta.example.com>\r\n" +
	"Content-Type: application/sdp\r\n" +
	"Content-Length: 4\r\n" +
	"\r\n" +
	"v=0\n"

func TestSmoke(t *testing.T) {
	m, err := Parse([]byte(smokeInvite))
	if err != nil {
		t.Fatal(err)
	}
	r := m.(*Request)
	v, err := r.TopVia()
	if err != nil || v.Branch() != "z9hG4bK776asdhds" || v.Host != "pc33.atlanta.example.com" {
		t.Fatalf("via %+v %v", v, err)
	}
	if r.FromTag() != "1928301774" || r.ToTag() != "" {
		t.Fatal("tags")
	}
	f, _ := r.From()
	if f.Display != "Alice A." {
		t.Fatalf("display %q", f.Display)
	}
	out := r.String()
	if out != smokeInvite {
		t.Fatalf("round trip:\n%q\n%q", out, smokeInvite)
	}
	if r.MarshalSize() != len(out) {
		t.Fatalf("size %d != %d", r.MarshalSize(), len(out))
	}
	resp := NewResponse(r, 180, "")
	resp.SetToTag("abc")
	if resp.ToTag() != "abc" {
		t.Fatal("to tag")
	}
	if _, err := Parse([]byte(resp.String())); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkSmokeParse(b *testing.B) {
	data := []byte(smokeInvite)
	b.ReportAllocs()
	for b.Loop() {
		m, _ := Parse(data)
		r := m.(*Request)
		v, _ := r.TopVia()
		_ = v.Branch()
		_ = r.FromTag()
		_ = r.ToTag()
		_ = r.CallID()
		_, _ = r.CSeq()
		_, _ = r.MaxForwards()
	}
}
