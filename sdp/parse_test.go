package sdp

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

const asteriskOffer = `v=0
o=- 1997305588 1997305588 IN IP4 10.0.0.5
s=Asterisk
c=IN IP4 10.0.0.5
t=0 0
m=audio 17274 RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=maxptime:150
a=sendrecv
`

func TestParseFields(t *testing.T) {
	in := `v=0
o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5
s=SDP Seminar
i=A Seminar on the session description protocol
u=http://www.example.com/seminars/sdp.pdf
e=j.doe@example.com (Jane Doe)
p=+1 617 555-6011
c=IN IP4 224.2.17.12/127
b=CT:1000
t=2873397496 2873404696
r=7d 1h 0 25h
z=2882844526 -1h 2898848070 0
k=prompt
a=recvonly
m=audio 49170 RTP/AVP 0
m=video 51372/2 RTP/AVP 99
i=the video
c=IN IP6 FF15::101/3
b=AS:512
k=clear:secret
a=rtpmap:99 h263-1998/90000
x=private line
`
	s, err := Parse(crlf(in))
	if err != nil {
		t.Fatal(err)
	}
	want := &Session{
		Origin:     Origin{"jdoe", 2890844526, 2890842807, "IN", "IP4", "10.47.16.5"},
		Name:       "SDP Seminar",
		Info:       "A Seminar on the session description protocol",
		URI:        "http://www.example.com/seminars/sdp.pdf",
		Emails:     []string{"j.doe@example.com (Jane Doe)"},
		Phones:     []string{"+1 617 555-6011"},
		Connection: &Connection{"IN", "IP4", "224.2.17.12", 127, 0},
		Bandwidths: []Bandwidth{{"CT", 1000}},
		Timings:    []Timing{{2873397496, 2873404696, []string{"7d 1h 0 25h"}}},
		TimeZones:  "2882844526 -1h 2898848070 0",
		Key:        "prompt",
		Attributes: Attributes{{"recvonly", ""}},
		Media: []*Media{
			{Type: "audio", Port: 49170, Proto: "RTP/AVP", Formats: []string{"0"}},
			{
				Type: "video", Port: 51372, PortCount: 2, Proto: "RTP/AVP", Formats: []string{"99"},
				Info: "the video", Connection: &Connection{"IN", "IP6", "FF15::101", 0, 3},
				Bandwidths: []Bandwidth{{"AS", 512}}, Key: "clear:secret",
				Attributes: Attributes{{"rtpmap", "99 h263-1998/90000"}},
				Extra:      []Line{{'x', "private line"}},
			},
		},
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("got  %+v\nwant %+v", s, want)
	}
	// Everything is in RFC order already, so the output is the input.
	if got := string(s.Marshal()); got != string(crlf(in)) {
		t.Errorf("marshal:\n%s\nwant:\n%s", got, crlf(in))
	}
	if d := s.Direction(s.Media[0]); d != RecvOnly {
		t.Errorf("session-level direction not inherited: %v", d)
	}
	if got := s.ConnectionAddress(s.Media[1]); got != "FF15::101" {
		t.Errorf("media c= must override session c=, got %q", got)
	}
	if got := s.ConnectionAddress(s.Media[0]); got != "224.2.17.12" {
		t.Errorf("session c= not used, got %q", got)
	}
}

func TestParseTolerance(t *testing.T) {
	// LF-only, trailing whitespace, blank lines, a= before c= in media,
	// missing s= and t=, and an unknown attribute.
	in := "v=0\no=- 1 2 IN IP4 192.0.2.1   \n\nm=audio  4000   RTP/AVP 0\t8\na=x-vendor:  keep  this\na=sendonly \t\nc=IN IP4 192.0.2.1\n\n\n"
	s, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	m := s.Media[0]
	if !reflect.DeepEqual(m.Formats, []string{"0", "8"}) {
		t.Errorf("formats %q", m.Formats)
	}
	if v, _ := m.Attributes.Get("x-vendor"); v != "  keep  this" {
		t.Errorf("unknown attribute value not kept byte-exact: %q", v)
	}
	if s.Direction(m) != SendOnly {
		t.Errorf("direction %v", s.Direction(m))
	}
	if len(s.Timings) != 1 || s.Timings[0].Start != 0 {
		t.Errorf("missing t= not defaulted: %+v", s.Timings)
	}
	out := string(s.Marshal())
	want := "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns= \r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8\r\nc=IN IP4 192.0.2.1\r\na=x-vendor:  keep  this\r\na=sendonly\r\n"
	if out != want {
		t.Errorf("marshal:\n%q\nwant\n%q", out, want)
	}
	checkRoundTrip(t, []byte(in))
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		line int
		err  error
		msg  string
	}{
		{"empty", "", 0, ErrMissing, "no v= line"},
		{"only blank lines", "\r\n\r\n", 0, ErrMissing, "no v= line"},
		{"not sdp", "hello world", 1, ErrSyntax, "expected <letter>=<value>"},
		{"uppercase type", "v=0\nO=- 1 1 IN IP4 1.2.3.4\n", 2, ErrSyntax, "expected"},
		{"no v first", "o=- 1 1 IN IP4 1.2.3.4\nv=0\n", 1, ErrMissing, "must start with v="},
		{"bad version", "v=1\n", 1, ErrSyntax, "unsupported protocol version"},
		{"no o", "v=0\ns=-\nt=0 0\n", 0, ErrMissing, "no o= line"},
		{"short o", "v=0\no=- 1 1 IN IP4\n", 2, ErrSyntax, "o= needs"},
		{"o id not number", "v=0\no=- abc 1 IN IP4 1.2.3.4\n", 2, ErrSyntax, "session id"},
		{"o version overflow", "v=0\no=- 1 18446744073709551616 IN IP4 1.2.3.4\n", 2, ErrSyntax, "session version"},
		{"duplicate o", "v=0\no=- 1 1 IN IP4 1.2.3.4\no=- 1 1 IN IP4 1.2.3.4\n", 3, ErrDuplicate, "once"},
		{"duplicate v", "v=0\nv=0\n", 2, ErrDuplicate, "once"},
		{"duplicate media c", "v=0\no=- 1 1 IN IP4 1.2.3.4\nm=audio 1 RTP/AVP 0\nc=IN IP4 1.2.3.4\nc=IN IP4 1.2.3.5\n", 5, ErrDuplicate, "once"},
		{"bad c", "v=0\no=- 1 1 IN IP4 1.2.3.4\nc=IN IP4\n", 3, ErrSyntax, "c= needs"},
		{"bad ttl", "v=0\no=- 1 1 IN IP4 1.2.3.4\nc=IN IP4 224.0.0.1/300\n", 3, ErrSyntax, "TTL"},
		{"ip6 ttl", "v=0\no=- 1 1 IN IP4 1.2.3.4\nc=IN IP6 ff15::1/3/4\n", 3, ErrSyntax, "IP6"},
		{"empty c address", "v=0\no=- 1 1 IN IP4 1.2.3.4\nc=IN IP4 /3\n", 3, ErrSyntax, "empty"},
		{"bad b", "v=0\no=- 1 1 IN IP4 1.2.3.4\nb=AS\n", 3, ErrSyntax, "b= needs"},
		{"bad b value", "v=0\no=- 1 1 IN IP4 1.2.3.4\nb=AS:lots\n", 3, ErrSyntax, "decimal"},
		{"bad t", "v=0\no=- 1 1 IN IP4 1.2.3.4\nt=0\n", 3, ErrSyntax, "t= needs"},
		{"r before t", "v=0\no=- 1 1 IN IP4 1.2.3.4\nr=7d 1h 0 25h\n", 3, ErrMisplaced, "r= before"},
		{"t after m", "v=0\no=- 1 1 IN IP4 1.2.3.4\nm=audio 1 RTP/AVP 0\nt=0 0\n", 4, ErrMisplaced, "session-level"},
		{"short m", "v=0\no=- 1 1 IN IP4 1.2.3.4\nm=audio 1\n", 3, ErrSyntax, "m= needs"},
		{"m port", "v=0\no=- 1 1 IN IP4 1.2.3.4\nm=audio 70000 RTP/AVP 0\n", 3, ErrSyntax, "port"},
		{"m port negative", "v=0\no=- 1 1 IN IP4 1.2.3.4\nm=audio -1 RTP/AVP 0\n", 3, ErrSyntax, "port"},
		{"m port count 0", "v=0\no=- 1 1 IN IP4 1.2.3.4\nm=audio 5000/0 RTP/AVP 0\n", 3, ErrSyntax, "port count"},
		{"empty attribute", "v=0\no=- 1 1 IN IP4 1.2.3.4\na=:x\n", 3, ErrSyntax, "empty attribute"},
		{"NUL byte", "v=0\no=- 1 1 IN IP4 1.2.3.4\na=x\x00y\n", 3, ErrSyntax, "NUL"},
		{"bare CR", "v=0\no=- 1 1 IN IP4 1.2.3.4\ns=a\rb\n", 3, ErrSyntax, "bare CR"},
		{"no equals", "v=0\no=- 1 1 IN IP4 1.2.3.4\nm:audio\n", 3, ErrSyntax, "expected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse([]byte(tc.in))
			if err == nil {
				t.Fatalf("parsed: %+v", s)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not *ParseError", err, err)
			}
			if pe.Line != tc.line {
				t.Errorf("line %d, want %d (%v)", pe.Line, tc.line, err)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("error %v does not wrap %v", err, tc.err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
		})
	}
}

func TestParseErrorNamesLine(t *testing.T) {
	_, err := Parse([]byte("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio x RTP/AVP 0\r\n"))
	want := `sdp: line 3 "m=audio x RTP/AVP 0": m= port must be 0-65535`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	long := "v=0\na=" + strings.Repeat("x", 500) + "\x00\n"
	_, err = Parse([]byte(long))
	if pe := (*ParseError)(nil); !errors.As(err, &pe) || len(pe.Text) > maxErrText {
		t.Errorf("long line not truncated in error: %v", err)
	}
}

func TestMediaHelpers(t *testing.T) {
	s, err := Parse([]byte(`v=0
o=- 1 1 IN IP4 192.0.2.1
c=IN IP4 192.0.2.1
m=audio 5000 RTP/AVP 96 0 18 101 13 77 abc
a=rtpmap:96 opus/48000/2
a=fmtp:96 useinbandfec=1; stereo=1
a=fmtp:18 annexb=no
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=rtpmap:bad
a=ptime:20.0
`))
	if err != nil {
		t.Fatal(err)
	}
	m := s.Media[0]
	got := m.Codecs()
	want := []Codec{
		{96, "opus", 48000, 2, "useinbandfec=1; stereo=1"},
		{0, "PCMU", 8000, 0, ""},
		{18, "G729", 8000, 0, "annexb=no"},
		{101, "telephone-event", 8000, 0, "0-15"},
		{13, "CN", 8000, 0, ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("codecs\n got %+v\nwant %+v", got, want)
	}
	if _, ok := m.RTPMap(0); ok {
		t.Error("RTPMap must not invent static mappings")
	}
	if c, ok := m.Codec(0); !ok || c.String() != "PCMU/8000" {
		t.Errorf("static PT 0: %v %v", c, ok)
	}
	if c, _ := m.Codec(96); c.String() != "opus/48000/2" {
		t.Errorf("opus String %q", c.String())
	}
	if p, ok := m.Ptime(); !ok || p != 20*time.Millisecond {
		t.Errorf("ptime %v %v", p, ok)
	}
	if f, ok := m.Fmtp(101); !ok || f != "0-15" {
		t.Errorf("fmtp %q", f)
	}
	if _, ok := m.Fmtp(0); ok {
		t.Error("fmtp for 0 should be absent")
	}
	if a, ok := s.RTPAddr(m); !ok || a != netip.MustParseAddrPort("192.0.2.1:5000") {
		t.Errorf("RTPAddr %v %v", a, ok)
	}
	for pt, want := range map[uint8]string{0: "PCMU/8000", 8: "PCMA/8000", 9: "G722/8000", 18: "G729/8000", 10: "L16/44100/2"} {
		if c, ok := StaticCodec(pt); !ok || c.String() != want {
			t.Errorf("StaticCodec(%d) = %v", pt, c)
		}
	}
	if _, ok := StaticCodec(96); ok {
		t.Error("96 is dynamic")
	}
}

func TestSetDirectionAndHold(t *testing.T) {
	s, err := Parse([]byte("v=0\no=- 1 1 IN IP4 192.0.2.1\nc=IN IP4 192.0.2.1\na=recvonly\nm=audio 5000 RTP/AVP 0\na=rtpmap:0 PCMU/8000\nm=video 5002 RTP/AVP 96\na=sendrecv\na=rtpmap:96 H264/90000\nm=text 0 RTP/AVP 98\n"))
	if err != nil {
		t.Fatal(err)
	}
	h := s.Reoffer()
	h.Hold()
	if h.Origin.SessionVersion != 2 || s.Origin.SessionVersion != 1 {
		t.Errorf("Reoffer versions: new %d old %d", h.Origin.SessionVersion, s.Origin.SessionVersion)
	}
	if s.Direction(s.Media[0]) != RecvOnly || s.Attributes.Has("sendonly") {
		t.Error("Hold changed the original")
	}
	if h.Attributes.Has("recvonly") {
		t.Error("session-level direction not moved to media")
	}
	if got := []Direction{h.Direction(h.Media[0]), h.Direction(h.Media[1])}; got[0] != Inactive || got[1] != SendOnly {
		t.Errorf("hold directions %v", got)
	}
	if h.Media[2].Attributes.Has("inactive") || h.Media[2].Attributes.Has("sendonly") {
		t.Error("rejected stream got a direction")
	}
	// The direction stays where it was among the attributes.
	if h.Media[1].Attributes[0].Key != "sendonly" {
		t.Errorf("attributes %v", h.Media[1].Attributes)
	}
	h.SetDirection(SendRecv)
	for _, m := range h.Media[:2] {
		if h.Direction(m) != SendRecv || len(m.Attributes.All("sendrecv")) != 1 {
			t.Errorf("resume: %v", m.Attributes)
		}
	}
}

func TestDirectionAlgebra(t *testing.T) {
	for _, d := range []Direction{SendRecv, SendOnly, RecvOnly, Inactive} {
		if got, ok := ParseDirection(d.String()); !ok || got != d {
			t.Errorf("ParseDirection(%q) = %v", d, got)
		}
		if d.Reverse().Reverse() != d {
			t.Errorf("Reverse not an involution for %v", d)
		}
	}
	// RFC 3264 §6.1 table, answering with sendrecv preference.
	for offer, answer := range map[Direction]Direction{SendRecv: SendRecv, SendOnly: RecvOnly, RecvOnly: SendOnly, Inactive: Inactive} {
		if got := intersect(SendRecv, offer.Reverse()); got != answer {
			t.Errorf("offer %v: answer %v, want %v", offer, got, answer)
		}
	}
}
