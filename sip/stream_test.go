package sip

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// streamMessages returns the valid testdata messages as written by String(),
// which always carries Content-Length, as a stream needs.
func streamMessages(t *testing.T) []string {
	t.Helper()
	var out []string
	names := make([]string, 0, len(validCases))
	for name := range validCases {
		names = append(names, name)
	}
	slices.Sort(names)
	cases := readCases(t, "valid")
	for _, name := range names {
		m, err := Parse(cases[name])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m.String())
		if len(out) == 6 {
			break
		}
	}
	return out
}

func TestFramerWholeSplitCoalesced(t *testing.T) {
	msgs := streamMessages(t)
	// A ping before the first message, a pong between two others.
	stream := "\r\n\r\n" + msgs[0] + msgs[1] + "\r\n" + strings.Join(msgs[2:], "")
	want := frameResult{events: []frameEvent{{crlfs: 2, msg: msgs[0]}, {msg: msgs[1]}, {crlfs: 1, msg: msgs[2]}}}
	for _, m := range msgs[3:] {
		want.events = append(want.events, frameEvent{msg: m})
	}
	want.events = append(want.events, frameEvent{})

	check := func(name string, got frameResult) {
		t.Helper()
		if got.errCode != 0 || !slices.Equal(got.events, want.events) {
			t.Errorf("%s: got %+v", name, got)
		}
	}
	check("whole", runFramer(t, Limits{}, [][]byte{[]byte(stream)}))
	for i := 1; i < len(stream); i++ {
		got := runFramer(t, Limits{}, [][]byte{[]byte(stream[:i]), []byte(stream[i:])})
		// A cut inside the leading ping reports two pongs: the same CRLFs.
		check("split", got)
		if t.Failed() {
			t.Fatalf("split at %d", i)
		}
	}
	var bytewise [][]byte
	for i := range len(stream) {
		bytewise = append(bytewise, []byte{stream[i]})
	}
	check("byte by byte", runFramer(t, Limits{}, bytewise))

	// Each frame parses as a datagram would.
	var f Framer
	f.Write([]byte(stream))
	n := 0
	for {
		kind, frame, err := f.Next()
		if err != nil {
			t.Fatal(err)
		}
		if kind == FrameNone {
			break
		}
		if kind == FrameMessage {
			if _, err := Parse(frame); err != nil {
				t.Errorf("frame %d: %v", n, err)
			}
			n++
		}
	}
	if n != len(msgs) || f.Buffered() != 0 {
		t.Errorf("%d frames, %d bytes left", n, f.Buffered())
	}
}

func TestFramerKeepAlive(t *testing.T) {
	var f Framer
	next := func() FrameKind {
		t.Helper()
		k, _, err := f.Next()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	f.Write([]byte("\r\n\r\n"))
	if k := next(); k != FramePing {
		t.Errorf("CRLFCRLF: %v", k)
	}
	if k := next(); k != FrameNone {
		t.Errorf("after ping: %v", k)
	}
	f.Write([]byte("\r\n"))
	if k := next(); k != FramePong {
		t.Errorf("CRLF: %v", k)
	}
	f.Write([]byte("\r\n\r"))
	if k := next(); k != FrameNone {
		t.Errorf("CRLFCR: %v (should wait)", k)
	}
	f.Write([]byte("\n"))
	if k := next(); k != FramePing {
		t.Errorf("completed ping: %v", k)
	}
	f.Write([]byte("\n\n\r\r\n"))
	if k := next(); k != FramePong || f.Buffered() != 0 {
		t.Errorf("stray LFs and CR: %v, %d left", k, f.Buffered())
	}
}

func TestFramerErrors(t *testing.T) {
	const noCL = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\r\n"
	tests := []struct {
		name   string
		limits Limits
		in     string
		code   int
		reason string
	}{
		{"missing Content-Length", Limits{}, noCL, 400, "Missing Content-Length"},
		{"bad Content-Length", Limits{}, strings.Replace(noCL, "\r\n\r\n", "\r\nContent-Length: x\r\n\r\n", 1), 400, "not a number"},
		{"negative Content-Length", Limits{}, strings.Replace(noCL, "\r\n\r\n", "\r\nl: -1\r\n\r\n", 1), 400, "not a number"},
		{"conflicting Content-Length", Limits{}, strings.Replace(noCL, "\r\n\r\n", "\r\nl: 1\r\nContent-Length: 2\r\n\r\n", 1), 400, "conflicting"},
		{"body over the limit", Limits{MaxMessageSize: 1000}, strings.Replace(noCL, "\r\n\r\n", "\r\nContent-Length: 2000\r\n\r\n", 1), 513, "Message Too Large"},
		{"header section over the limit", Limits{MaxMessageSize: 1000}, "OPTIONS sip:a@b SIP/2.0\r\nX: " + strings.Repeat("x", 2000), 513, "header section too long"},
	}
	for _, tt := range tests {
		f := Framer{Limits: tt.limits}
		f.Write([]byte(tt.in))
		_, _, err := f.Next()
		se, ok := AsStatusError(err)
		if !ok || se.Code != tt.code || !strings.Contains(se.Reason, tt.reason) {
			t.Errorf("%s: %v, want %d %q", tt.name, err, tt.code, tt.reason)
		}
	}
	// A folded Content-Length is unfolded, as the datagram parser does.
	f := Framer{}
	f.Write([]byte(strings.Replace(noCL, "\r\n\r\n", "\r\nContent-Length:\r\n  3\r\n\r\nabc", 1)))
	if k, frame, err := f.Next(); err != nil || k != FrameMessage || !bytes.HasSuffix(frame, []byte("\r\n\r\nabc")) {
		t.Errorf("folded Content-Length: %v %q %v", k, frame, err)
	}
}

func TestFramerBufferBounded(t *testing.T) {
	msg := "MESSAGE sip:a@b SIP/2.0\r\nl: 4\r\n\r\nbody"
	var f Framer
	for range 10000 {
		f.Write([]byte(msg[:10]))
		f.Next()
		f.Write([]byte(msg[10:]))
		if k, _, err := f.Next(); k != FrameMessage || err != nil {
			t.Fatalf("%v %v", k, err)
		}
	}
	if cap(f.buf) > 4*len(msg) {
		t.Errorf("buffer grew to %d bytes", cap(f.buf))
	}
}
