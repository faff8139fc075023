package sdp

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// addOfferSeeds seeds a fuzz target with every golden offer, so the fuzzer
// starts from real phones' descriptions.
func addOfferSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "offers", "*.sdp"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzParse checks that Parse never panics and that whatever it accepts
// marshals into something that parses to an equal Session and marshals to
// the same bytes.
func FuzzParse(f *testing.F) {
	addOfferSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		s1, err := Parse(in)
		if err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("error is %T, want *ParseError: %v", err, err)
			}
			return
		}
		out := s1.Marshal()
		s2, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse failed: %v\ninput: %q\nmarshalled: %q", err, in, out)
		}
		if !reflect.DeepEqual(s1, s2) {
			t.Fatalf("round trip differs\ninput: %q\nmarshalled: %q\nfirst:  %#v\nsecond: %#v", in, out, s1, s2)
		}
		if out2 := s2.Marshal(); string(out2) != string(out) {
			t.Fatalf("marshal not stable\n%q\n%q", out, out2)
		}
		if n := s1.MarshalSize(); n < len(out) {
			t.Fatalf("MarshalSize %d < %d", n, len(out))
		}
		// Helpers must not panic on anything Parse accepts.
		for _, m := range s1.Media {
			m.Codecs()
			m.Ptime()
			s1.Direction(m)
			s1.RTPAddr(m)
		}
		c := s1.Clone()
		c.Hold()
		if !reflect.DeepEqual(s1, s2) {
			t.Fatal("Hold on a clone changed the original")
		}
	})
}

// FuzzAnswer feeds arbitrary offers to the answer builder: it must never
// panic, must answer every m-line, and the offerer must accept what we build.
func FuzzAnswer(f *testing.F) {
	addOfferSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		offer, err := Parse(in)
		if err != nil {
			return
		}
		for _, local := range []*Local{localVoice(), localVideo(), localHold()} {
			ans, streams, err := BuildAnswer(offer, local)
			if err != nil {
				if _, ok := err.(*NegotiationError); !ok {
					t.Fatalf("error %T %v", err, err)
				}
				continue
			}
			if len(ans.Media) != len(offer.Media) || len(streams) != len(offer.Media) {
				t.Fatalf("m-line count: offer %d answer %d streams %d", len(offer.Media), len(ans.Media), len(streams))
			}
			wire := ans.Marshal()
			back, err := Parse(wire)
			if err != nil {
				t.Fatalf("our answer does not parse: %v\n%q", err, wire)
			}
			if _, err := ProcessAnswer(offer, back); err != nil {
				t.Fatalf("offerer would refuse our answer: %v\noffer: %q\nanswer: %q", err, in, wire)
			}
		}
	})
}
