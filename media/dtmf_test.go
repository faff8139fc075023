package media

import (
	"testing"
	"time"
)

func TestDTMFPayloadWire(t *testing.T) {
	p := DTMFPayload{Event: 11, End: true, Volume: 10, Duration: 800}
	b := make([]byte, 4)
	if n, err := p.MarshalTo(b); n != 4 || err != nil {
		t.Fatal(n, err)
	}
	if want := []byte{11, 0x8A, 0x03, 0x20}; string(b) != string(want) {
		t.Errorf("marshal = %x, want %x", b, want)
	}
	var q DTMFPayload
	if err := q.Unmarshal([]byte{5, 0x4A, 0x01, 0x40, 0xFF}); err != nil {
		t.Fatal(err)
	}
	// The R bit (0x40) is ignored.
	if q != (DTMFPayload{Event: 5, Volume: 10, Duration: 320}) {
		t.Errorf("unmarshal = %+v", q)
	}
	if err := q.Unmarshal([]byte{1, 2, 3}); err == nil {
		t.Error("3-byte payload accepted")
	}
	if _, err := p.MarshalTo(b[:3]); err == nil {
		t.Error("short buffer accepted")
	}
	for i, d := range "0123456789*#ABCD" {
		if e, ok := DigitEvent(d); !ok || int(e) != i {
			t.Errorf("DigitEvent(%c) = %d", d, e)
		}
		if r, ok := EventDigit(uint8(i)); !ok || r != d {
			t.Errorf("EventDigit(%d) = %c", i, r)
		}
	}
	if _, ok := DigitEvent('x'); ok {
		t.Error("x is a digit")
	}
}

// The packet sequence of RFC 4733 §2.5.1 for one digit: start, updates,
// three end packets, all with one timestamp: reported exactly once.
func TestDTMFDetectorOnce(t *testing.T) {
	var d dtmfDetector
	var got []DTMFEvent
	feed := func(ts uint32, ev uint8, end bool, dur uint16) {
		got = append(got, d.feed(ts, DTMFPayload{Event: ev, End: end, Duration: dur}, 8000)...)
	}
	for _, ts := range []uint32{1000, 5000} {
		ev := uint8(ts / 1000)
		feed(ts, ev, false, 160)
		feed(ts, ev, false, 320)
		feed(ts, ev, false, 480)
		feed(ts, ev, true, 640)
		feed(ts, ev, true, 640)
		feed(ts, ev, true, 640)
	}
	feed(1000, 1, true, 640) // a very late retransmission of the first
	if len(got) != 2 || got[0].Digit != '1' || got[1].Digit != '5' || got[0].Duration != 80*time.Millisecond || !got[0].Ended {
		t.Errorf("reported %+v", got)
	}
	// All end packets lost: reported when the next event starts, or
	// after the idle limit.
	got = nil
	feed(9000, 9, false, 160)
	feed(9800, 10, false, 160)
	if len(got) != 1 || got[0].Digit != '9' || got[0].Ended {
		t.Errorf("reported %+v, want 9 without end", got)
	}
	for range dtmfIdleLimit {
		got = append(got, d.tick(8000)...)
	}
	if len(got) != 2 || got[1].Digit != '*' {
		t.Errorf("after idle %+v", got)
	}
	if evs := d.tick(8000); len(evs) != 0 {
		t.Errorf("reported twice: %+v", evs)
	}
}
