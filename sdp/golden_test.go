package sdp

import (
	"bytes"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden answer files in testdata/answers")

// Local capabilities used by the golden tests. Fixed o= numbers keep the
// answers byte-stable.
func localVoice() *Local {
	return &Local{
		SessionID:      1234,
		SessionVersion: 1,
		Address:        netip.MustParseAddr("203.0.113.1"),
		Media: []LocalMedia{{
			Type: "audio", Port: 40000,
			Codecs: []Codec{
				{PayloadType: 0, Name: "PCMU", ClockRate: 8000},
				{PayloadType: 8, Name: "PCMA", ClockRate: 8000},
			},
			TelephoneEvent: true,
			Ptime:          20 * time.Millisecond,
		}},
	}
}

func localG722() *Local {
	l := localVoice()
	l.Media[0].Codecs = append([]Codec{{PayloadType: 9, Name: "G722", ClockRate: 8000}}, l.Media[0].Codecs...)
	return l
}

func localVideo() *Local {
	l := localVoice()
	l.Media = append(l.Media, LocalMedia{
		Type: "video", Port: 40002,
		Address: netip.MustParseAddr("203.0.113.2"),
		Codecs:  []Codec{{PayloadType: 96, Name: "H264", ClockRate: 90000, Fmtp: "profile-level-id=42801f;packetization-mode=1"}},
	})
	return l
}

func localHold() *Local {
	l := localVoice()
	l.Direction = SendOnly
	return l
}

var goldenCases = []struct {
	offer  string // testdata/offers/<offer>.sdp
	local  string
	golden string // testdata/answers/<golden>.sdp or .err
}{
	{"baresip", "voice", "baresip"},
	{"baresip", "g722", "baresip-g722"},
	{"linphone", "voice", "linphone"},
	{"linphone", "video", "linphone-video"},
	{"asterisk", "voice", "asterisk"},
	{"asterisk", "hold", "asterisk-localhold"},
	{"freeswitch", "voice", "freeswitch"},
	{"freeswitch", "g722", "freeswitch-g722"},
	{"webrtc", "voice", "webrtc"},
	{"polycom", "voice", "polycom"},
	{"polycom", "g722", "polycom-g722"},
	{"cisco", "voice", "cisco"},
	{"video", "voice", "video"},
	{"video", "video", "video-video"},
	{"hold", "voice", "hold"},
	{"hold", "hold", "hold-localhold"},
	{"hold-rfc2543", "voice", "hold-rfc2543"},
	{"inactive", "voice", "inactive"},
	{"recvonly", "voice", "recvonly"},
	{"minimal", "voice", "minimal"},
	{"no-common-codec", "voice", "no-common-codec"},
	{"srtp-and-rtp", "voice", "srtp-and-rtp"},
	{"gb28181", "voice", "gb28181"},
}

func locals(name string) *Local {
	switch name {
	case "voice":
		return localVoice()
	case "g722":
		return localG722()
	case "video":
		return localVideo()
	case "hold":
		return localHold()
	}
	panic("unknown local " + name)
}

func TestGoldenAnswers(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.golden, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", "offers", tc.offer+".sdp"))
			if err != nil {
				t.Fatal(err)
			}
			offer, err := Parse(in)
			if err != nil {
				t.Fatalf("parse offer: %v", err)
			}
			checkRoundTrip(t, in)

			var got []byte
			ext := ".sdp"
			ans, streams, err := BuildAnswer(offer, locals(tc.local))
			if err != nil {
				var ne *NegotiationError
				if !errors.As(err, &ne) {
					t.Fatalf("BuildAnswer error is %T, want *NegotiationError: %v", err, err)
				}
				if ne.Code != 488 {
					t.Errorf("code = %d, want 488", ne.Code)
				}
				got, ext = []byte(err.Error()+"\n"), ".err"
			} else {
				got = ans.Marshal()
				if len(ans.Media) != len(offer.Media) || len(streams) != len(offer.Media) {
					t.Fatalf("answer has %d m-lines and %d streams for %d offered", len(ans.Media), len(streams), len(offer.Media))
				}
				// The offerer must be able to take our answer.
				theirs, err := ProcessAnswer(offer, ans)
				if err != nil {
					t.Fatalf("ProcessAnswer(offer, our answer): %v", err)
				}
				for i := range streams {
					if streams[i].Rejected != theirs[i].Rejected {
						t.Errorf("m=%d rejected: ours %v, theirs %v", i, streams[i].Rejected, theirs[i].Rejected)
					}
					if !streams[i].Rejected && streams[i].Direction.Reverse() != theirs[i].Direction {
						t.Errorf("m=%d: our direction %v does not mirror theirs %v", i, streams[i].Direction, theirs[i].Direction)
					}
				}
			}
			path := filepath.Join("testdata", "answers", tc.golden+ext)
			if *update {
				os.Remove(filepath.Join("testdata", "answers", tc.golden+".sdp"))
				os.Remove(filepath.Join("testdata", "answers", tc.golden+".err"))
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("answer differs from %s\n--- got\n%s\n--- want\n%s", path, got, want)
			}
		})
	}
}

// checkRoundTrip asserts parse → marshal → parse gives an equal Session.
func checkRoundTrip(t *testing.T, in []byte) {
	t.Helper()
	s1, err := Parse(in)
	if err != nil {
		return
	}
	out := s1.Marshal()
	s2, err := Parse(out)
	if err != nil {
		t.Fatalf("re-parse of marshalled description failed: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(s1, s2) {
		t.Fatalf("round trip changed the session\nfirst:  %#v\nsecond: %#v\nwire:\n%s", s1, s2, out)
	}
	if out2 := s2.Marshal(); !bytes.Equal(out, out2) {
		t.Fatalf("marshal not stable:\n%q\n%q", out, out2)
	}
}

func TestGoldenOffersKeepUnknownLines(t *testing.T) {
	in, err := os.ReadFile("testdata/offers/webrtc.sdp")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	// Every line of a CRLF file we do not reorder must come back byte-exact.
	if got := s.Marshal(); !bytes.Equal(got, in) {
		t.Errorf("webrtc offer not reproduced byte-exact:\n%s", got)
	}
	g, _ := os.ReadFile("testdata/offers/gb28181.sdp")
	s, err = Parse(g)
	if err != nil {
		t.Fatal(err)
	}
	want := []Line{{'y', "0100000001"}, {'f', ""}}
	if !reflect.DeepEqual(s.Media[0].Extra, want) {
		t.Errorf("extra lines = %q, want %q", s.Media[0].Extra, want)
	}
	if !strings.Contains(s.String(), "\r\ny=0100000001\r\n") {
		t.Errorf("y= line lost:\n%s", s)
	}
}
