package media

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Codec turns PCM frames into RTP payloads and back. Implementations encode
// and decode into caller buffers so the media path does not allocate; they
// must be safe for concurrent use (stateful codecs such as G.722 or Opus will
// need a per-session instance from a constructor, which is why sessions take
// a Codec value rather than a payload type).
type Codec interface {
	// Name is the RTP/AVP encoding name as used in SDP a=rtpmap, e.g. "PCMU".
	Name() string
	// PayloadType is the (static or negotiated) RTP payload type.
	PayloadType() uint8
	// ClockRate is the RTP timestamp rate in Hz (8000 for G.711, and also
	// for G.722 although it samples at 16 kHz: RFC 3551 §4.5.2).
	ClockRate() int
	// SampleRate is the PCM rate in Hz that Encode takes and Decode gives.
	SampleRate() int
	// SamplesPerFrame is the number of PCM samples in one packet of ptime.
	SamplesPerFrame(ptime time.Duration) int
	// MaxPayloadSize is the largest payload Encode produces for n samples.
	MaxPayloadSize(samples int) int
	// Encode encodes pcm into dst and returns the payload length.
	Encode(dst []byte, pcm []int16) (int, error)
	// Decode decodes payload into dst and returns the number of samples.
	Decode(dst []int16, payload []byte) (int, error)
}

// ErrShortBuffer is returned when a caller buffer is too small.
var ErrShortBuffer = errors.New("media: buffer too small")

// G711 is the G.711 codec in one of its two laws. The zero value is not
// useful; use PCMU or PCMA (or G711{ALaw: true, PT: 8}).
type G711 struct {
	ALaw bool  // A-law (PCMA) instead of µ-law (PCMU)
	PT   uint8 // payload type: 0 for PCMU, 8 for PCMA (RFC 3551 table 4)
}

// The two static G.711 payload formats of RFC 3551.
var (
	PCMU Codec = G711{PT: 0}
	PCMA Codec = G711{ALaw: true, PT: 8}
)

// Name implements Codec.
func (c G711) Name() string {
	if c.ALaw {
		return "PCMA"
	}
	return "PCMU"
}

// PayloadType implements Codec.
func (c G711) PayloadType() uint8 { return c.PT }

// ClockRate implements Codec.
func (G711) ClockRate() int { return 8000 }

// SampleRate implements Codec.
func (G711) SampleRate() int { return 8000 }

// SamplesPerFrame implements Codec.
func (G711) SamplesPerFrame(ptime time.Duration) int {
	return int(ptime * 8000 / time.Second)
}

// MaxPayloadSize implements Codec: one byte per sample.
func (G711) MaxPayloadSize(samples int) int { return samples }

// Encode implements Codec.
func (c G711) Encode(dst []byte, pcm []int16) (int, error) {
	if len(dst) < len(pcm) {
		return 0, ErrShortBuffer
	}
	if c.ALaw {
		return EncodeAlaw(dst, pcm), nil
	}
	return EncodeUlaw(dst, pcm), nil
}

// Decode implements Codec.
func (c G711) Decode(dst []int16, payload []byte) (int, error) {
	if len(dst) < len(payload) {
		return 0, ErrShortBuffer
	}
	if c.ALaw {
		return DecodeAlaw(dst, payload), nil
	}
	return DecodeUlaw(dst, payload), nil
}

// CodecByName returns the built-in codec for an SDP encoding name (case
// insensitive) with the given payload type, so a dynamic mapping from an
// offer can be honoured.
func CodecByName(name string, pt uint8) (Codec, error) {
	switch strings.ToUpper(name) {
	case "PCMU":
		return G711{PT: pt}, nil
	case "PCMA":
		return G711{ALaw: true, PT: pt}, nil
	}
	return nil, fmt.Errorf("media: unsupported codec %q", name)
}
