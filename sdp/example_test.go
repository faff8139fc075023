package sdp_test

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/parley-sip/parley/sdp"
)

const offerBody = "v=0\r\n" +
	"o=- 1997305588 1997305588 IN IP4 10.0.0.5\r\n" +
	"s=Asterisk\r\n" +
	"c=IN IP4 10.0.0.5\r\n" +
	"t=0 0\r\n" +
	"m=audio 17274 RTP/AVP 9 0 8 101\r\n" +
	"a=rtpmap:101 telephone-event/8000\r\n" +
	"a=fmtp:101 0-16\r\n" +
	"a=ptime:20\r\n" +
	"a=sendrecv\r\n"

func ExampleParse() {
	s, err := sdp.Parse([]byte(offerBody))
	if err != nil {
		fmt.Println(err)
		return
	}
	m := s.Media[0]
	fmt.Println(m.Type, m.Port, m.Proto, m.Formats)
	for _, c := range m.Codecs() {
		fmt.Println(c.PayloadType, c)
	}
	fmt.Println(s.ConnectionAddress(m), s.Direction(m))
	// Output:
	// audio 17274 RTP/AVP [9 0 8 101]
	// 9 G722/8000
	// 0 PCMU/8000
	// 8 PCMA/8000
	// 101 telephone-event/8000
	// 10.0.0.5 sendrecv
}

func ExampleParse_error() {
	_, err := sdp.Parse([]byte("v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\nm=audio 99999 RTP/AVP 0\r\n"))
	fmt.Println(err)
	fmt.Println(errors.Is(err, sdp.ErrSyntax))
	// Output:
	// sdp: line 3 "m=audio 99999 RTP/AVP 0": m= port must be 0-65535
	// true
}

func ExampleBuildAnswer() {
	offer, err := sdp.Parse([]byte(offerBody))
	if err != nil {
		fmt.Println(err)
		return
	}
	local := &sdp.Local{
		SessionID: 42, SessionVersion: 1, // normally left 0 to generate
		Address: netip.MustParseAddr("192.0.2.10"),
		Media: []sdp.LocalMedia{{
			Type: "audio", Port: 30000,
			Codecs: []sdp.Codec{
				{PayloadType: 0, Name: "PCMU", ClockRate: 8000},
				{PayloadType: 8, Name: "PCMA", ClockRate: 8000},
			},
			TelephoneEvent: true,
			Ptime:          20 * time.Millisecond,
		}},
	}
	answer, streams, err := sdp.BuildAnswer(offer, local)
	var ne *sdp.NegotiationError
	if errors.As(err, &ne) {
		fmt.Println("respond", ne.Code, ne.Reason) // e.g. 488 Not Acceptable Here
		return
	}
	fmt.Print(strings.ReplaceAll(answer.String(), "\r\n", "\n")) // CRLF on the wire; LF for this listing
	st := streams[0]
	fmt.Println("send", st.Codec, "to", st.RemoteAddr, "every", st.Ptime, "dtmf pt", st.TelephoneEvent.PayloadType)
	// Output:
	// v=0
	// o=- 42 1 IN IP4 192.0.2.10
	// s=-
	// c=IN IP4 192.0.2.10
	// t=0 0
	// m=audio 30000 RTP/AVP 0 8 101
	// a=rtpmap:0 PCMU/8000
	// a=rtpmap:8 PCMA/8000
	// a=rtpmap:101 telephone-event/8000
	// a=fmtp:101 0-16
	// a=ptime:20
	// a=sendrecv
	// send PCMU/8000 to 10.0.0.5:17274 every 20ms dtmf pt 101
}

func ExampleBuildOffer() {
	local := &sdp.Local{
		SessionID: 7, SessionVersion: 7,
		Address: netip.MustParseAddr("192.0.2.10"),
		Media: []sdp.LocalMedia{{
			Type: "audio", Port: 30000,
			Codecs:         []sdp.Codec{{PayloadType: 8, Name: "PCMA", ClockRate: 8000}},
			TelephoneEvent: true,
		}},
	}
	offer, _ := sdp.BuildOffer(local)

	// Later: put the call on hold with a re-offer (o= version 8).
	hold := offer.Reoffer()
	hold.Hold()
	fmt.Print(strings.ReplaceAll(hold.String(), "\r\n", "\n"))

	// The far end's answer tells the media layer what to do.
	answer, _ := sdp.Parse([]byte("v=0\r\no=- 5 6 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n" +
		"m=audio 40000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=recvonly\r\n"))
	streams, err := sdp.ProcessAnswer(hold, answer)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(streams[0].Codec, streams[0].RemoteAddr, streams[0].Direction)
	// Output:
	// v=0
	// o=- 7 8 IN IP4 192.0.2.10
	// s=-
	// c=IN IP4 192.0.2.10
	// t=0 0
	// m=audio 30000 RTP/AVP 8 101
	// a=rtpmap:8 PCMA/8000
	// a=rtpmap:101 telephone-event/8000
	// a=fmtp:101 0-16
	// a=sendonly
	// PCMA/8000 198.51.100.7:40000 sendonly
}
