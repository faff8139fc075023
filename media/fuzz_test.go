package media

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"
)

// FuzzReceiver drives the whole receive path — validation, SSRC/address
// latching, RFC 3550 statistics, jitter buffer, DTMF detection, decoding
// and concealment — with arbitrary packets. The input is a sequence of
// records: 1 byte of flags (bit 0: from a second address; bit 1: play a
// frame out after this packet), 2 bytes of length, then the packet.
// Property: nothing panics and the counters stay consistent.
func FuzzReceiver(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		r := newReceiver(PCMU, 101, 20*time.Millisecond, 40*time.Millisecond, 200*time.Millisecond, true)
		addrs := [2]netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:4000"), netip.MustParseAddrPort("192.0.2.2:4000")}
		now := time.Unix(0, 0)
		out := make([]int16, 160)
		for len(data) >= 3 {
			flags := data[0]
			n := int(binary.BigEndian.Uint16(data[1:3]))
			data = data[3:]
			n = min(n, len(data))
			pkt := data[:n]
			data = data[n:]
			now = now.Add(time.Duration(flags>>2) * time.Millisecond)
			r.handleRTP(pkt, addrs[flags&1], now)
			if flags&2 != 0 {
				r.playout(out)
			}
		}
		for range 20 {
			r.playout(out)
		}
		if r.jb.count < 0 || r.jb.count > jbSlots {
			t.Fatalf("jitter buffer count %d", r.jb.count)
		}
		if len(r.fifo) > cap(r.fifo) || len(r.fifo) >= 160 {
			t.Fatalf("fifo %d/%d after playout", len(r.fifo), cap(r.fifo))
		}
	})
}

// FuzzDTMFPayload checks the telephone-event decoder with the round-trip
// property: whatever parses re-marshals to bytes that parse the same, and
// equal the input's first 4 bytes but for the ignored R bit. The detector
// fed with the same payloads reports each event at most once per timestamp.
func FuzzDTMFPayload(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		var p DTMFPayload
		if err := p.Unmarshal(b); err != nil {
			if len(b) >= 4 {
				t.Fatalf("%x: %v", b, err)
			}
			return
		}
		out := make([]byte, p.MarshalSize())
		if _, err := p.MarshalTo(out); err != nil {
			t.Fatal(err)
		}
		want := []byte{b[0], b[1] &^ 0x40, b[2], b[3]}
		if !bytes.Equal(out, want) {
			t.Fatalf("re-marshal %x, want %x", out, want)
		}
		var q DTMFPayload
		if err := q.Unmarshal(out); err != nil || q != p {
			t.Fatalf("round trip %+v → %+v (%v)", p, q, err)
		}
		// Walk the rest of the input as (timestamp, payload) pairs: each
		// distinct timestamp is one event, reported at most once.
		var d dtmfDetector
		seen := map[uint32]bool{}
		reports := 0
		for rest := b[4:]; len(rest) >= 6; rest = rest[6:] {
			ts := uint32(binary.BigEndian.Uint16(rest[0:2])) // small range: many repeats
			var e DTMFPayload
			_ = e.Unmarshal(rest[2:6])
			seen[ts] = true
			reports += len(d.feed(ts, e, 8000))
			reports += len(d.tick(8000))
		}
		if reports > len(seen) {
			t.Fatalf("%d reports for %d events", reports, len(seen))
		}
	})
}

// FuzzWAVReader parses arbitrary files. Round trip: whatever parses is
// read at its own rate, written with WAVWriter, read again, and must give
// the same samples.
func FuzzWAVReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := NewWAVReader(bytes.NewReader(b), 8000)
		if err != nil {
			return
		}
		readAllLimit(r, 20000)
		r, err = NewWAVReader(bytes.NewReader(b), r.Format.SampleRate)
		if err != nil {
			t.Fatalf("second parse failed: %v", err)
		}
		samples := readAllLimit(r, 20000)
		var m memWS
		w, err := NewWAVWriter(&m, r.Format.SampleRate)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(samples)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		r2, err := NewWAVReader(bytes.NewReader(m.buf), r.Format.SampleRate)
		if err != nil {
			t.Fatalf("our own file does not parse: %v", err)
		}
		again := readAllLimit(r2, 20000)
		if len(again) != len(samples) {
			t.Fatalf("round trip %d samples → %d", len(samples), len(again))
		}
		for i := range again {
			if again[i] != samples[i] {
				t.Fatalf("sample %d: %d → %d", i, samples[i], again[i])
			}
		}
	})
}

func readAllLimit(r *WAVReader, limit int) []int16 {
	var out []int16
	buf := make([]int16, 500)
	for len(out) < limit {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil || n == 0 {
			break
		}
	}
	return out
}
