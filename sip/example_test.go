package sip_test

import (
	"fmt"
	"strings"

	"github.com/parley-sip/parley/sip"
)

const exampleInvite = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport\r\n" +
	"Max-Forwards: 70\r\n" +
	"To: Bob <sip:bob@biloxi.example.com>\r\n" +
	"From: \"Alice A.\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n" +
	"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n" +
	"CSeq: 314159 INVITE\r\n" +
	"Contact: <sip:alice@pc33.atlanta.example.com>\r\n" +
	"Content-Length: 0\r\n" +
	"\r\n"

func ExampleParse() {
	msg, err := sip.Parse([]byte(exampleInvite))
	if err != nil {
		// A *sip.StatusError says what to answer, e.g. 400 or 505.
		se, _ := sip.AsStatusError(err)
		fmt.Println(se.Code, se.Reason)
		return
	}
	req := msg.(*sip.Request)
	via, _ := req.TopVia()
	cseq, _ := req.CSeq()
	from, _ := req.From()
	_, rport := via.RPort()
	fmt.Println(req.Method, req.URI.User, req.URI.Host)
	fmt.Println(via.Transport, via.SentBy(), via.Branch(), rport)
	fmt.Println(from.Display, req.FromTag(), req.ToTag() == "")
	fmt.Println(req.CallID(), cseq.Seq, cseq.Method)
	// Output:
	// INVITE bob biloxi.example.com
	// UDP pc33.atlanta.example.com z9hG4bK776asdhds true
	// Alice A. 1928301774 true
	// a84b4c76e66710@pc33.atlanta.example.com 314159 INVITE
}

func ExampleParse_error() {
	_, err := sip.Parse([]byte("INVITE sip:bob@example.com SIP/7.0\r\n\r\n"))
	se, _ := sip.AsStatusError(err)
	fmt.Println(se.Code, se.Reason)
	// Output: 505 Version Not Supported: SIP/7.0
}

func ExampleNewResponse() {
	msg, _ := sip.Parse([]byte(exampleInvite))
	resp := sip.NewResponse(msg.(*sip.Request), sip.StatusRinging, "")
	resp.SetToTag("a6c85cf")
	resp.Add("Contact", "<sip:bob@192.0.2.4>")
	buf := resp.AppendTo(make([]byte, 0, resp.MarshalSize()))
	// The wire form has CRLF line ends; print it with LF only.
	fmt.Print(strings.ReplaceAll(string(buf), "\r\n", "\n"))
	// Output:
	// SIP/2.0 180 Ringing
	// Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport
	// To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf
	// From: "Alice A." <sip:alice@atlanta.example.com>;tag=1928301774
	// Call-ID: a84b4c76e66710@pc33.atlanta.example.com
	// CSeq: 314159 INVITE
	// Contact: <sip:bob@192.0.2.4>
	// Content-Length: 0
}

func ExampleNewRequest() {
	uri, _ := sip.ParseURI("sip:carol@chicago.example.com")
	req := sip.NewRequest(sip.OPTIONS, uri)
	req.Add("Via", "SIP/2.0/UDP pc33.example.com;branch=z9hG4bKnashds8")
	req.Add("Max-Forwards", "70")
	req.Add("To", "<sip:carol@chicago.example.com>")
	req.Add("From", "<sip:alice@atlanta.example.com>;tag=1928301774")
	req.Add("Call-ID", "a84b4c76e66710")
	req.Add("CSeq", "63104 OPTIONS")
	// A proxy puts its own Via on top.
	req.Prepend("Via", "SIP/2.0/TCP proxy.example.com;branch=z9hG4bKprx")
	fmt.Print(strings.ReplaceAll(req.String(), "\r\n", "\n"))
	// Output:
	// OPTIONS sip:carol@chicago.example.com SIP/2.0
	// Via: SIP/2.0/TCP proxy.example.com;branch=z9hG4bKprx
	// Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bKnashds8
	// Max-Forwards: 70
	// To: <sip:carol@chicago.example.com>
	// From: <sip:alice@atlanta.example.com>;tag=1928301774
	// Call-ID: a84b4c76e66710
	// CSeq: 63104 OPTIONS
	// Content-Length: 0
}

func ExampleParseURI() {
	u, _ := sip.ParseURI("sips:%61lice@[2001:db8::1]:5061;transport=tls?subject=hi")
	fmt.Println(u.Scheme, u.User, u.UserUnescaped(), u.Host, u.Port, u.Transport(), u.Headers)
	// Output: sips %61lice alice [2001:db8::1] 5061 tls subject=hi
}

func ExampleURI_Equal() {
	a, _ := sip.ParseURI("sip:%61lice@atlanta.com;transport=TCP")
	b, _ := sip.ParseURI("sip:alice@AtLanTa.CoM;Transport=tcp")
	c, _ := sip.ParseURI("sip:alice@atlanta.com:5060;transport=tcp")
	fmt.Println(a.Equal(&b), a.Equal(&c))
	// Output: true false
}

func ExampleFramer() {
	var f sip.Framer
	// A keep-alive ping, then a message delivered in two reads.
	stream := "\r\n\r\n" + exampleInvite
	f.Write([]byte(stream[:40]))
	f.Write([]byte(stream[40:]))
	for {
		kind, frame, err := f.Next()
		if err != nil {
			fmt.Println("close the connection:", err)
			return
		}
		switch kind {
		case sip.FramePing:
			fmt.Println("ping: answer with CRLF")
		case sip.FrameMessage:
			msg, _ := sip.Parse(frame)
			fmt.Println("message:", msg.(*sip.Request).Method)
		case sip.FrameNone:
			return // read more
		}
	}
	// Output:
	// ping: answer with CRLF
	// message: INVITE
}

// A registered Contact may carry URI headers and a method parameter; as a
// Request-URI it must not (§19.1.1, §16.6 step 2).
func ExampleURI_AsRequestURI() {
	contact, _ := sip.ParseURI("sip:bob@192.0.2.4;transport=tcp;method=INVITE?Route=%3Csip:evil.example%3E")
	ruri := contact.AsRequestURI()
	fmt.Println(ruri.String())
	// Output: sip:bob@192.0.2.4;transport=tcp
}

// RFC 3261's ABNF allows three colons before an embedded IPv4 address;
// RFC 5118 §4.10 asks receivers to tolerate it.
func ExampleHostAddr() {
	a, ok := sip.HostAddr("[2001:db8:::192.0.2.1]")
	fmt.Println(a, ok)
	// Output: 2001:db8::c000:201 true
}
