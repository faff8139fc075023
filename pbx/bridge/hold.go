package bridge

import (
	"context"
	"errors"
	"io"
	"math"
	"net/netip"
	"time"

	"github.com/parley-sip/parley/media"
	"github.com/parley-sip/parley/pbx/leg"
	"github.com/parley-sip/parley/sdp"
	"github.com/parley-sip/parley/sip"
)

// Music on hold. When one side holds the other (its offer makes the audio
// sendonly or inactive, or names 0.0.0.0), the hold is carried across as
// usual; then the PBX re-INVITEs the held side to a media.Session of its
// own that plays the hold music (Config.HoldMusic, else a built-in chime)
// on the same codec. The holder's resume is carried across as usual too:
// its SDP names the relay again, and the music session closes.

// isHold reports whether an offer puts its audio on hold.
func isHold(body []byte) bool {
	if len(body) == 0 {
		return false
	}
	s, err := sdp.Parse(body)
	if err != nil {
		return false
	}
	held := false
	for _, m := range s.Media {
		if m.Type != "audio" || m.Port == 0 {
			continue
		}
		d := s.Direction(m)
		if d == sdp.SendOnly || d == sdp.Inactive {
			held = true
		}
		if a, err := netip.ParseAddr(s.ConnectionAddress(m)); err == nil && a.IsUnspecified() {
			held = true
		}
	}
	return held
}

// music is the hold music playing to one leg.
type music struct {
	leg  *leg.Leg
	sess *media.Session
	side media.Side
	rm   *relayMedia
}

// startMusic re-INVITEs the held leg (side held of the relay) to a music
// session; nil when it cannot (no relay, not G.711, the leg refused).
func (c *call) startMusic(held *leg.Leg, side media.Side) *music {
	b := c.b
	rm, ok := c.media.(*relayMedia)
	if !ok || b.cfg.Ports == nil {
		return nil
	}
	codec, ok := rm.audioCodec(side)
	if !ok {
		return nil
	}
	mc, err := media.CodecByName(codec.Name, codec.PayloadType)
	if err != nil {
		return nil
	}
	addr := b.cfg.Relay.Addr()
	sess, err := media.NewSession(media.Config{LocalAddr: addr, Ports: b.cfg.Ports, Codec: mc, Symmetric: true})
	if err != nil {
		return nil
	}
	sdpOffer, err := rm.musicOffer(side, addr, int(sess.LocalAddr().Port()), codec)
	if err != nil {
		sess.Close()
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 32*time.Second)
	defer cancel()
	resp, err := offer(ctx, held, sip.INVITE, sdpOffer)
	if err != nil || !resp.IsSuccess() {
		sess.Close()
		return nil
	}
	if ans, err := sdp.Parse(resp.Body); err == nil {
		for _, m := range ans.Media {
			if m.Type == "audio" && m.Port != 0 {
				if rtp, ok := ans.RTPAddr(m); ok {
					sess.SetRemote(rtp, netip.AddrPortFrom(rtp.Addr(), rtp.Port()+1))
				}
				break
			}
		}
	}
	sess.Record(media.Discard)
	sess.Play(c.b.holdSource())
	// The holder may go on sending (sendonly is "I send"): while the
	// music plays, nothing of it reaches the held side.
	rm.silence(side, true)
	return &music{leg: held, sess: sess, side: side, rm: rm}
}

// stop ends the music; the held side's media comes from the relay again
// (the resume's SDP already pointed it there).
func (m *music) stop() {
	m.rm.silence(m.side, false)
	m.sess.Close()
}

// silence stops (or resumes) relaying to side: its address is forgotten
// and latching off until a new SDP from it (the resume's answer) names it
// again.
func (m *relayMedia) silence(side media.Side, on bool) {
	for _, st := range m.call.Streams() {
		if st == nil {
			continue
		}
		if on {
			st.SetRemote(side, netip.AddrPort{}, netip.AddrPort{})
		}
		st.Pin(side, on)
	}
}

// holdSource is the music: the configured WAV, looped, or the chime.
func (b *Bridge) holdSource() media.Source {
	if b.cfg.HoldMusic == "" {
		return newChime()
	}
	path := b.cfg.HoldMusic
	var cur *media.WAVReader
	return media.SourceFunc(func(frame []int16) error {
		for range 2 {
			if cur == nil {
				w, err := media.OpenWAV(path, 8000)
				if err != nil {
					return err
				}
				cur = w
			}
			err := cur.ReadFrame(frame)
			if !errors.Is(err, io.EOF) {
				return err
			}
			cur.Close()
			cur = nil // from the start again
		}
		return io.EOF
	})
}

// chime is the built-in hold music: a soft arpeggio (C5 E5 G5 E5), each
// note 400 ms with a fade, over and over.
type chime struct {
	n     int // samples played
	phase float64
}

func newChime() *chime { return &chime{} }

var chimeNotes = [...]float64{523.25, 659.25, 783.99, 659.25}

func (c *chime) ReadFrame(frame []int16) error {
	const note = 3200 // samples (400 ms at 8 kHz)
	for i := range frame {
		k := c.n % note
		f := chimeNotes[(c.n/note)%len(chimeNotes)]
		env := math.Sin(math.Pi * float64(k) / note) // fades in and out
		c.phase += 2 * math.Pi * f / 8000
		if c.phase > 2*math.Pi {
			c.phase -= 2 * math.Pi
		}
		frame[i] = int16(2500 * env * math.Sin(c.phase))
		c.n++
	}
	return nil
}

// audioCodec is the G.711 codec side last said it uses (its SDP's first
// audio format).
func (m *relayMedia) audioCodec(side media.Side) (sdp.Codec, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.last[side]
	if s == nil {
		return sdp.Codec{}, false
	}
	for _, md := range s.Media {
		if md.Type != "audio" || md.Port == 0 || len(md.Formats) == 0 {
			continue
		}
		switch md.Formats[0] {
		case "0":
			return sdp.Codec{PayloadType: 0, Name: "PCMU", ClockRate: 8000}, true
		case "8":
			return sdp.Codec{PayloadType: 8, Name: "PCMA", ClockRate: 8000}, true
		}
		return sdp.Codec{}, false
	}
	return sdp.Codec{}, false
}

// musicOffer is the offer that points side's audio at the music session,
// sendonly, under the o= the PBX shows that side. Only for one m= line.
func (m *relayMedia) musicOffer(side media.Side, addr netip.Addr, port int, codec sdp.Codec) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.last[side]; s == nil || len(s.Media) != 1 {
		return nil, errors.New("bridge: hold music needs a single audio stream")
	}
	off, err := sdp.BuildOffer(&sdp.Local{Address: addr, Direction: sdp.SendOnly,
		Media: []sdp.LocalMedia{{Type: "audio", Port: port, Codecs: []sdp.Codec{codec}, Ptime: 20 * time.Millisecond}}})
	if err != nil {
		return nil, err
	}
	m.stampLocked(side, off)
	return off.Marshal(), nil
}
