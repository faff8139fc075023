package media

import (
	"errors"
	"io"
	"math"
	"sync"
	"time"
)

// Source produces the audio a Session sends: mono 16-bit PCM at the codec's
// sample rate (8000 Hz for G.711), one packet time per call.
type Source interface {
	// ReadFrame fills all of frame. A source that runs out part-way pads the
	// frame with silence and returns io.EOF on the next call. Returning
	// ErrSilent asks the sender to send nothing for this frame (silence
	// suppression): the RTP timestamp still advances and the next packet
	// carries the marker bit (RFC 3551 §4.1).
	ReadFrame(frame []int16) error
}

// Sink consumes the audio a Session receives, one packet time per call,
// after the jitter buffer: gaps are already concealed, so a Sink sees a
// steady stream of frames at the codec sample rate.
type Sink interface {
	WriteFrame(frame []int16) error
}

// ErrSilent is returned by a Source to suppress sending for one frame.
var ErrSilent = errors.New("media: silent frame")

// SourceFunc adapts a function to a Source.
type SourceFunc func(frame []int16) error

// ReadFrame implements Source.
func (f SourceFunc) ReadFrame(frame []int16) error { return f(frame) }

// SinkFunc adapts a function to a Sink.
type SinkFunc func(frame []int16) error

// WriteFrame implements Sink.
func (f SinkFunc) WriteFrame(frame []int16) error { return f(frame) }

// Discard is a Sink that drops everything (the received stream is still
// played out of the jitter buffer, so statistics stay meaningful).
var Discard Sink = SinkFunc(func([]int16) error { return nil })

// sineTable holds one period of a sine; tone generation indexes it with the
// top bits of a 32-bit phase accumulator, which is exact in frequency
// (to 2^-32 of the sample rate), costs no math.Sin per sample, and keeps
// distortion below -60 dB at 1024 entries with linear interpolation.
var sineTable = func() (t [1025]float32) {
	for i := range t {
		t[i] = float32(math.Sin(2 * math.Pi * float64(i) / 1024))
	}
	return t
}()

// ToneSource generates a sine tone. It is a Source.
type ToneSource struct {
	phase, inc uint32
	amp        float32
	remaining  int // samples left; <0 means endless
}

// NewTone returns a Source producing a sine of freqHz at the given peak
// amplitude, sampled at rate Hz, for duration d (0 means forever).
func NewTone(freqHz float64, amplitude int16, rate int, d time.Duration) *ToneSource {
	if rate <= 0 {
		rate = 8000
	}
	t := &ToneSource{
		inc:       uint32(int64(freqHz / float64(rate) * (1 << 32))),
		amp:       float32(amplitude),
		remaining: -1,
	}
	if d > 0 {
		t.remaining = int(d * time.Duration(rate) / time.Second)
	}
	return t
}

// ReadFrame implements Source.
func (t *ToneSource) ReadFrame(frame []int16) error {
	if t.remaining == 0 {
		return io.EOF
	}
	for i := range frame {
		if t.remaining == 0 {
			frame[i] = 0
			continue
		}
		if t.remaining > 0 {
			t.remaining--
		}
		idx := t.phase >> 22
		frac := float32(t.phase&(1<<22-1)) / (1 << 22)
		a, b := sineTable[idx], sineTable[idx+1]
		frame[i] = int16(t.amp * (a + (b-a)*frac))
		t.phase += t.inc
	}
	return nil
}

// SilenceSource produces digital silence (zero samples, which are still
// sent: use ErrSilent from a custom Source to suppress packets instead).
type SilenceSource struct {
	remaining int
}

// NewSilence returns a Source of silence at rate Hz lasting d (0: forever).
func NewSilence(rate int, d time.Duration) *SilenceSource {
	if rate <= 0 {
		rate = 8000
	}
	s := &SilenceSource{remaining: -1}
	if d > 0 {
		s.remaining = int(d * time.Duration(rate) / time.Second)
	}
	return s
}

// ReadFrame implements Source.
func (s *SilenceSource) ReadFrame(frame []int16) error {
	if s.remaining == 0 {
		return io.EOF
	}
	clear(frame)
	if s.remaining > 0 {
		s.remaining = max(0, s.remaining-len(frame))
	}
	return nil
}

// BufferSink keeps every received sample in memory; it is meant for tests
// and short recordings (voicemail greetings, prompts). It is safe for
// concurrent use.
type BufferSink struct {
	mu      sync.Mutex
	samples []int16
}

// WriteFrame implements Sink.
func (b *BufferSink) WriteFrame(frame []int16) error {
	b.mu.Lock()
	b.samples = append(b.samples, frame...)
	b.mu.Unlock()
	return nil
}

// Samples returns a copy of everything written so far.
func (b *BufferSink) Samples() []int16 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]int16(nil), b.samples...)
}
