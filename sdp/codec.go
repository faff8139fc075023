package sdp

import (
	"strconv"
	"strings"
	"time"
)

// Codec describes one RTP payload format as an rtpmap/fmtp pair would.
type Codec struct {
	PayloadType uint8
	Name        string // encoding name as written, e.g. "PCMU", "opus", "telephone-event"
	ClockRate   int    // RTP clock rate in Hz
	Channels    int    // audio channels; 0 means unstated, which RFC 8866 §6.6 defines as 1
	Fmtp        string // format parameters (a=fmtp value after the payload type), "" if none
}

// String returns the rtpmap form, e.g. "PCMU/8000" or "opus/48000/2".
func (c Codec) String() string {
	s := c.Name + "/" + strconv.Itoa(c.ClockRate)
	if c.Channels > 1 {
		s += "/" + strconv.Itoa(c.Channels)
	}
	return s
}

// Same reports whether c and d are the same encoding regardless of payload
// type number and fmtp: name (case-insensitive, RFC 4855 §3), clock rate and
// channel count.
func (c Codec) Same(d Codec) bool {
	return strings.EqualFold(c.Name, d.Name) && c.ClockRate == d.ClockRate && channels(c) == channels(d)
}

// IsTelephoneEvent reports whether c is RFC 4733 telephone-event (DTMF).
func (c Codec) IsTelephoneEvent() bool { return strings.EqualFold(c.Name, "telephone-event") }

func channels(c Codec) int {
	if c.Channels <= 1 {
		return 1
	}
	return c.Channels
}

// staticCodecs is RFC 3551 §6 Tables 4 and 5: payload types an offer may list
// without a=rtpmap. A switch, not a map, so there is no mutable global.
func staticCodec(pt uint8) (name string, rate, ch int) {
	switch pt {
	case 0:
		return "PCMU", 8000, 1
	case 3:
		return "GSM", 8000, 1
	case 4:
		return "G723", 8000, 1
	case 5:
		return "DVI4", 8000, 1
	case 6:
		return "DVI4", 16000, 1
	case 7:
		return "LPC", 8000, 1
	case 8:
		return "PCMA", 8000, 1
	case 9:
		// RFC 3551 §4.5.2: G.722 samples at 16 kHz but its RTP clock is 8000.
		return "G722", 8000, 1
	case 10:
		return "L16", 44100, 2
	case 11:
		return "L16", 44100, 1
	case 12:
		return "QCELP", 8000, 1
	case 13:
		return "CN", 8000, 1
	case 14:
		return "MPA", 90000, 0
	case 15:
		return "G728", 8000, 1
	case 16:
		return "DVI4", 11025, 1
	case 17:
		return "DVI4", 22050, 1
	case 18:
		return "G729", 8000, 1
	case 25:
		return "CelB", 90000, 0
	case 26:
		return "JPEG", 90000, 0
	case 28:
		return "nv", 90000, 0
	case 31:
		return "H261", 90000, 0
	case 32:
		return "MPV", 90000, 0
	case 33:
		return "MP2T", 90000, 0
	case 34:
		return "H263", 90000, 0
	}
	return "", 0, 0
}

// StaticCodec returns the RFC 3551 §6 codec for a static payload type, used
// when an offer lists the type without a=rtpmap.
func StaticCodec(pt uint8) (Codec, bool) {
	name, rate, ch := staticCodec(pt)
	if name == "" {
		return Codec{}, false
	}
	if ch == 1 {
		ch = 0 // mono is the unstated default; keep Codec values comparable with parsed rtpmaps
	}
	return Codec{PayloadType: pt, Name: name, ClockRate: rate, Channels: ch}, true
}

// parsePT parses an RTP payload type (0-127).
func parsePT(s string) (uint8, bool) {
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil || n > 127 {
		return 0, false
	}
	return uint8(n), true
}

// splitPT splits "<pt> <rest>" as used by rtpmap and fmtp.
func splitPT(v string) (uint8, string, bool) {
	v = strings.TrimLeft(v, " \t")
	i := strings.IndexAny(v, " \t")
	if i < 0 {
		pt, ok := parsePT(v)
		return pt, "", ok
	}
	pt, ok := parsePT(v[:i])
	return pt, strings.Trim(v[i+1:], " \t"), ok
}

// parseRTPMap parses "<encoding name>/<clock rate>[/<encoding parameters>]".
func parseRTPMap(pt uint8, s string) (Codec, bool) {
	name, rest, ok := strings.Cut(s, "/")
	if !ok || name == "" {
		return Codec{}, false
	}
	rate, chs, hasCh := strings.Cut(rest, "/")
	r, err := strconv.ParseUint(rate, 10, 32)
	if err != nil || r == 0 {
		return Codec{}, false
	}
	c := Codec{PayloadType: pt, Name: name, ClockRate: int(r)}
	if hasCh {
		n, err := strconv.ParseUint(chs, 10, 8)
		if err != nil || n == 0 {
			return Codec{}, false
		}
		if n > 1 {
			c.Channels = int(n)
		}
	}
	return c, true
}

// RTPMap returns the codec a=rtpmap declares for payload type pt, with its
// fmtp filled in. It does not fall back to static payload types; see Codec.
func (m *Media) RTPMap(pt uint8) (Codec, bool) {
	for _, a := range m.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		p, rest, ok := splitPT(a.Value)
		if !ok || p != pt {
			continue
		}
		c, ok := parseRTPMap(pt, rest)
		if !ok {
			return Codec{}, false
		}
		c.Fmtp, _ = m.Fmtp(pt)
		return c, true
	}
	return Codec{}, false
}

// Fmtp returns the format parameters a=fmtp gives for payload type pt.
func (m *Media) Fmtp(pt uint8) (string, bool) {
	for _, a := range m.Attributes {
		if a.Key != "fmtp" {
			continue
		}
		if p, rest, ok := splitPT(a.Value); ok && p == pt {
			return rest, true
		}
	}
	return "", false
}

// Codec returns the codec for payload type pt: from a=rtpmap, or for static
// payload types without one, the RFC 3551 default.
func (m *Media) Codec(pt uint8) (Codec, bool) {
	if c, ok := m.RTPMap(pt); ok {
		return c, true
	}
	c, ok := StaticCodec(pt)
	if ok {
		c.Fmtp, _ = m.Fmtp(pt)
	}
	return c, ok
}

// Codecs returns the codecs of an RTP stream in the order of its format list,
// skipping formats that are neither mapped nor static.
func (m *Media) Codecs() []Codec {
	var cs []Codec
	for _, f := range m.Formats {
		pt, ok := parsePT(f)
		if !ok {
			continue
		}
		if c, ok := m.Codec(pt); ok {
			cs = append(cs, c)
		}
	}
	return cs
}

// Ptime returns a=ptime, the packet duration the sender of this description
// wants to receive (RFC 8866 §6.4).
func (m *Media) Ptime() (time.Duration, bool) {
	v, ok := m.Attributes.Get("ptime")
	if !ok {
		return 0, false
	}
	// Some phones write "20.0"; the RFC allows a decimal.
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || f <= 0 || f > 10000 {
		return 0, false
	}
	return time.Duration(f * float64(time.Millisecond)), true
}
