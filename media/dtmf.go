package media

import (
	"errors"
	"fmt"
	"time"
)

// DTMFPayload is the RFC 4733 §2.3 telephone-event payload:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     event     |E|R| volume    |          duration             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type DTMFPayload struct {
	Event    uint8  // event code: 0-9, 10 '*', 11 '#', 12-15 'A'-'D'
	End      bool   // E bit: the event has ended
	Volume   uint8  // power level in -dBm0, 0..63
	Duration uint16 // in timestamp units since the event's timestamp
}

// ErrDTMFPayload is returned for a telephone-event payload that is too short.
var ErrDTMFPayload = errors.New("media: telephone-event payload shorter than 4 bytes")

// dtmfPayloadSize is the size of one event block.
const dtmfPayloadSize = 4

// MarshalSize returns the size of the payload: 4 bytes.
func (DTMFPayload) MarshalSize() int { return dtmfPayloadSize }

// MarshalTo writes the payload into b. The reserved R bit is sent as zero
// (§2.3.3) and the volume is limited to its 6 bits.
func (p DTMFPayload) MarshalTo(b []byte) (int, error) {
	if len(b) < dtmfPayloadSize {
		return 0, ErrShortBuffer
	}
	b[0] = p.Event
	b[1] = p.Volume & 0x3F
	if p.End {
		b[1] |= 0x80
	}
	b[2] = byte(p.Duration >> 8)
	b[3] = byte(p.Duration)
	return dtmfPayloadSize, nil
}

// Unmarshal parses a payload. Extra bytes (RFC 4733 §2.5.1.5 allows
// several events per packet for redundancy; they are for the same or
// earlier events) are ignored; the R bit is ignored as §2.3.3 requires.
func (p *DTMFPayload) Unmarshal(b []byte) error {
	if len(b) < dtmfPayloadSize {
		return ErrDTMFPayload
	}
	p.Event = b[0]
	p.End = b[1]&0x80 != 0
	p.Volume = b[1] & 0x3F
	p.Duration = uint16(b[2])<<8 | uint16(b[3])
	return nil
}

const dtmfDigits = "0123456789*#ABCD"

// DigitEvent returns the RFC 4733 §3.2 event code of a DTMF digit.
func DigitEvent(digit rune) (uint8, bool) {
	switch {
	case digit >= '0' && digit <= '9':
		return uint8(digit - '0'), true
	case digit == '*':
		return 10, true
	case digit == '#':
		return 11, true
	case digit >= 'A' && digit <= 'D':
		return uint8(digit-'A') + 12, true
	case digit >= 'a' && digit <= 'd':
		return uint8(digit-'a') + 12, true
	}
	return 0, false
}

// EventDigit returns the digit for a DTMF event code 0-15.
func EventDigit(event uint8) (rune, bool) {
	if int(event) < len(dtmfDigits) {
		return rune(dtmfDigits[event]), true
	}
	return 0, false
}

// DTMFEvent is a received telephone event, reported once per event.
type DTMFEvent struct {
	Digit    rune          // '0'-'9', '*', '#', 'A'-'D'; 0 for other events
	Event    uint8         // RFC 4733 event code
	Duration time.Duration // as last reported by the sender
	Volume   uint8         // -dBm0
	Ended    bool          // false when reported without its end packets (lost)
}

// dtmfDetector turns the packet stream of RFC 4733 into one report per
// event (§2.5.2). An event is identified by its RTP timestamp: the start,
// the updates and the three end packets all share it. We report on the
// first end packet; the two retransmissions and late updates of an event
// already reported are ignored. If every end packet is lost, the event is
// reported when the next event starts or after idleLimit pops of silence.
type dtmfDetector struct {
	active   bool   // an event is being tracked
	ts       uint32 // its timestamp
	reported bool
	last     DTMFPayload
	idle     int // pops since the last packet of the active event
	out      [2]DTMFEvent
}

const dtmfIdleLimit = 25 // 500 ms at 20 ms: far more than the 50 ms update gap

func (d *dtmfDetector) reset() { *d = dtmfDetector{} }

// feed processes one telephone-event packet and returns the events to
// report (a slice of the detector's own array: valid until the next call).
func (d *dtmfDetector) feed(ts uint32, p DTMFPayload, clockRate int) []DTMFEvent {
	n := 0
	if d.active && ts != d.ts {
		if int32(ts-d.ts) < 0 {
			return nil // a straggler from an earlier event
		}
		if !d.reported {
			d.out[n] = d.event(clockRate, false)
			n++
		}
		d.active = false
	}
	if !d.active {
		d.active, d.ts, d.reported = true, ts, false
	}
	d.idle = 0
	if d.reported {
		return d.out[:n]
	}
	d.last = p
	if p.End {
		d.reported = true
		d.out[n] = d.event(clockRate, true)
		n++
	}
	return d.out[:n]
}

// tick is called once per packet time; it reports an event whose end never
// arrived.
func (d *dtmfDetector) tick(clockRate int) []DTMFEvent {
	if !d.active || d.reported {
		return nil
	}
	d.idle++
	if d.idle < dtmfIdleLimit {
		return nil
	}
	d.reported = true
	d.out[0] = d.event(clockRate, false)
	return d.out[:1]
}

func (d *dtmfDetector) event(clockRate int, ended bool) DTMFEvent {
	digit, _ := EventDigit(d.last.Event)
	var dur time.Duration
	if clockRate > 0 {
		dur = time.Duration(d.last.Duration) * time.Second / time.Duration(clockRate)
	}
	return DTMFEvent{Digit: digit, Event: d.last.Event, Duration: dur, Volume: d.last.Volume, Ended: ended}
}

// validateDigits checks a string for SendDTMF.
func validateDigits(digits string) error {
	for _, r := range digits {
		if _, ok := DigitEvent(r); !ok {
			return fmt.Errorf("media: %q is not a DTMF digit (0-9 * # A-D)", r)
		}
	}
	return nil
}
