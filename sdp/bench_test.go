package sdp

import (
	"os"
	"testing"
)

func benchOffer(b *testing.B, name string) []byte {
	in, err := os.ReadFile("testdata/offers/" + name + ".sdp")
	if err != nil {
		b.Fatal(err)
	}
	return in
}

func BenchmarkParse(b *testing.B) {
	for _, name := range []string{"asterisk", "webrtc"} {
		in := benchOffer(b, name)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if _, err := Parse(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMarshal(b *testing.B) {
	for _, name := range []string{"asterisk", "webrtc"} {
		s, err := Parse(benchOffer(b, name))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 4096) // a pooled buffer, as the transport would use
			for b.Loop() {
				buf = s.AppendTo(buf[:0])
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

func BenchmarkBuildAnswer(b *testing.B) {
	offer, err := Parse(benchOffer(b, "freeswitch"))
	if err != nil {
		b.Fatal(err)
	}
	local := localG722()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := BuildAnswer(offer, local); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAnswerRoundTrip is what the user agent does per INVITE: parse the
// offer, answer it, marshal the answer.
func BenchmarkAnswerRoundTrip(b *testing.B) {
	in := benchOffer(b, "asterisk")
	local := localVoice()
	b.ReportAllocs()
	buf := make([]byte, 0, 1024)
	for b.Loop() {
		offer, err := Parse(in)
		if err != nil {
			b.Fatal(err)
		}
		ans, _, err := BuildAnswer(offer, local)
		if err != nil {
			b.Fatal(err)
		}
		buf = ans.AppendTo(buf[:0])
	}
}
