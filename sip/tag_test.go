package sip

import (
	"strings"
	"testing"
)

func TestStatelessTag(t *testing.T) {
	a := StatelessTag("call-1@host", "ft1")
	if a != StatelessTag("call-1@host", "ft1") {
		t.Fatal("not deterministic")
	}
	if !strings.HasPrefix(a, StatelessTagPrefix) {
		t.Fatalf("%q lacks the prefix", a)
	}
	for _, other := range []string{StatelessTag("call-1@hos", "tft1"), StatelessTag("call-2@host", "ft1"), StatelessTag("call-1@host", "ft2")} {
		if other == a {
			t.Fatalf("different requests share the tag %q", a)
		}
	}
	ack := func(tag string) *Request {
		m, err := Parse([]byte("ACK sip:bob@example.test SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa\r\n" +
			"Max-Forwards: 70\r\nFrom: <sip:a@example.test>;tag=ft1\r\nTo: <sip:bob@example.test>;tag=" + tag + "\r\n" +
			"Call-ID: call-1@host\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		return m.(*Request)
	}
	if !IsStatelessAck(ack(a)) {
		t.Error("the ACK of a stateless answer not recognised")
	}
	for _, tag := range []string{"sl0", "slzzzz", "abc", a + "x"} {
		if IsStatelessAck(ack(tag)) {
			t.Errorf("ACK with To tag %q taken for a stateless answer's", tag)
		}
	}
}

func TestCopyRecordRoute(t *testing.T) {
	m, err := Parse([]byte("INVITE sip:bob@192.0.2.4 SIP/2.0\r\nVia: SIP/2.0/UDP p1.example;branch=z9hG4bKb\r\n" +
		"Record-Route: <sip:p2.example;lr>, <sip:p1.example;lr;x=1>\r\nrecord-route: <sip:p0.example;lr>\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:a@example.test>;tag=ft1\r\nTo: <sip:bob@example.test>\r\n" +
		"Call-ID: c@h\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	req := m.(*Request)
	resp := NewResponse(req, 200, "")
	resp.SetToTag("tt")
	resp.CopyRecordRoute(req)
	want := "Record-Route: <sip:p2.example;lr>, <sip:p1.example;lr;x=1>\r\nRecord-Route: <sip:p0.example;lr>\r\n"
	if got := resp.String(); !strings.Contains(got, want) {
		t.Fatalf("response:\n%s\nwant the values in order:\n%s", got, want)
	}
}
