package sipparse

import (
	"bytes"
	"testing"

	sipgo "github.com/emiago/sipgo/sip"
	"github.com/parley-sip/parley/bench"
	"github.com/parley-sip/parley/sip"
)

// Case is one unit of work benchmarked on both stacks.
type Case struct {
	Name string // "invite/parse+access"
	// Target is set on the cases that carry Parley's performance target
	// (at least 2x faster than sipgo, at most half its allocations).
	Target bool
	Parley func(b *testing.B)
	Sipgo  func(b *testing.B)
}

// Cases returns, for each fixture message, parse, parse+access and write,
// then a stream case (four INVITEs coalesced in one TCP read, framed and
// parsed).
func Cases() []Case {
	var cs []Case
	for _, m := range bench.Messages() {
		data := m.Data
		cs = append(cs,
			Case{Name: m.Name + "/parse", Parley: parleyParse(data), Sipgo: sipgoParse(data)},
			Case{Name: m.Name + "/parse+access", Target: true, Parley: parleyParseAccess(data), Sipgo: sipgoParseAccess(data)},
			Case{Name: m.Name + "/write", Parley: parleyWrite(data), Sipgo: sipgoWrite(data)},
		)
	}
	stream := bytes.Repeat(bench.Invite, 4)
	cs = append(cs, Case{Name: "invite-x4/stream", Parley: parleyStream(stream, 4), Sipgo: sipgoStream(stream, 4)})
	return cs
}

func parleyParse(data []byte) func(b *testing.B) {
	return func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := sip.Parse(data); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func sipgoParse(data []byte) func(b *testing.B) {
	return func(b *testing.B) {
		p := sipgo.NewParser()
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.ParseSIP(data); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func parleyParseAccess(data []byte) func(b *testing.B) {
	return func(b *testing.B) {
		var v View
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			m, err := sip.Parse(data)
			if err != nil {
				b.Fatal(err)
			}
			if err := AccessParley(m, &v); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func sipgoParseAccess(data []byte) func(b *testing.B) {
	return func(b *testing.B) {
		p := sipgo.NewParser()
		var v View
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			m, err := p.ParseSIP(data)
			if err != nil {
				b.Fatal(err)
			}
			if err := AccessSipgo(m, &v); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// The write cases marshal a parsed message into a reused buffer, as a
// transport does with a pooled buffer.

func parleyWrite(data []byte) func(b *testing.B) {
	return func(b *testing.B) {
		m, err := sip.Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, 0, 4096)
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			buf = m.AppendTo(buf[:0])
		}
	}
}

func sipgoWrite(data []byte) func(b *testing.B) {
	return func(b *testing.B) {
		p := sipgo.NewParser()
		m, err := p.ParseSIP(data)
		if err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		buf.Grow(4096)
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			m.StringWrite(&buf)
		}
	}
}

// The stream cases frame and parse n messages delivered in one read.

func parleyStream(data []byte, n int) func(b *testing.B) {
	return func(b *testing.B) {
		var f sip.Framer
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			f.Write(data)
			got := 0
			for {
				kind, frame, err := f.Next()
				if err != nil {
					b.Fatal(err)
				}
				if kind == sip.FrameNone {
					break
				}
				if _, err := sip.Parse(frame); err != nil {
					b.Fatal(err)
				}
				got++
			}
			if got != n {
				b.Fatalf("parsed %d messages, want %d", got, n)
			}
		}
	}
}

func sipgoStream(data []byte, n int) func(b *testing.B) {
	return func(b *testing.B) {
		ps := sipgo.NewParser().NewSIPStream()
		defer ps.Close()
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			got := 0
			if err := ps.ParseSIPStream(data, func(sipgo.Message) { got++ }); err != nil {
				b.Fatal(err)
			}
			if got != n {
				b.Fatalf("parsed %d messages, want %d", got, n)
			}
		}
	}
}
