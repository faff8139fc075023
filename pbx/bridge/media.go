package bridge

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/parley-sip/parley/media"
	"github.com/parley-sip/parley/sdp"
	"github.com/parley-sip/parley/sip"
)

// Media is a call's media strategy: what each SDP becomes on its way from
// one leg to the other. Side A is the caller's leg, side B the callee's.
//
// The strategies today are relay (media.RelayCall: the SDP names the PBX's
// ports, RTP forwarded without decoding) and direct (SDP passed through).
// What comes next is one implementation each: a terminating strategy (a
// media.Session answers the offer: prompts, voicemail), a conference (the
// offer is answered by the mixer's port on one clock for every leg), a
// browser leg (pion/webrtc produces the SDP with ICE and DTLS-SRTP and
// bridges it to the relay's plain RTP).
type Media interface {
	// Rewrite returns the SDP for the other side of what side from sent
	// (offer or answer, first or re-INVITE's). An error that is a
	// *sip.StatusError says what to answer (503 when the port range is
	// exhausted, 488 when the SDP is unusable).
	Rewrite(from media.Side, body []byte) ([]byte, error)
	// Anchored says whether the media passes through the PBX.
	Anchored() bool
	// Close releases ports and sockets.
	Close()
}

// directMedia passes SDP through end to end.
type directMedia struct{}

func (directMedia) Rewrite(_ media.Side, body []byte) ([]byte, error) { return body, nil }
func (directMedia) Anchored() bool                                    { return false }
func (directMedia) Close()                                            {}

// relayMedia anchors every RTP stream of the call in the relay. When the
// caller offers only one G.711 law, the callee is offered the other too;
// when it answers with that one alone, the relay transcodes (PCMU ↔ PCMA,
// byte by byte, no decode) and the caller's answer names its own law.
type relayMedia struct {
	call *media.RelayCall
	mu   sync.Mutex
	// added is, per m= line of the last offer from side A, the G.711
	// payload type added for side B (and the one A offered); nil when none.
	added map[int][2]uint8
	// origins are the o= lines the PBX shows each side (its own session,
	// the version counting every SDP it sends), so that what it sends a
	// side of its own (hold music) and what it relays form one sequence
	// (RFC 3264 §8). last is the SDP each side last sent.
	origins [2]*sdp.Origin
	last    [2]*sdp.Session
}

func newRelayMedia(r *media.Relay) *relayMedia { return &relayMedia{call: r.NewCall()} }

func (m *relayMedia) Rewrite(from media.Side, body []byte) ([]byte, error) {
	if len(body) == 0 {
		return nil, nil
	}
	in, err := sdp.Parse(body)
	if err != nil {
		return nil, &sip.StatusError{Code: sip.StatusNotAcceptableHere, Reason: "Not Acceptable Here: bad SDP", Err: fmt.Errorf("bridge: %w", err)}
	}
	out, err := m.call.Rewrite(from, in)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last[from] = in
	m.stampLocked(from.Other(), out)
	if from == media.SideA {
		m.added = offerOtherLaw(out)
	} else if m.added != nil {
		m.transcode(out)
		m.added = nil
	}
	return out.Marshal(), nil
}

// stampLocked gives s the o= line the PBX shows side to, the version one
// more than last time.
func (m *relayMedia) stampLocked(to media.Side, s *sdp.Session) {
	o := m.origins[to]
	if o == nil {
		o = &sdp.Origin{Username: "parley", SessionID: rand.Uint64N(1 << 62), SessionVersion: 1, NetType: "IN",
			AddrType: s.Origin.AddrType, Address: s.Origin.Address}
		if c := s.Connection; c != nil {
			o.AddrType, o.Address = c.AddrType, c.Address
		}
		m.origins[to] = o
	} else {
		o.SessionVersion++
	}
	s.Origin = *o
}

// offerOtherLaw adds the other G.711 law to audio lines that offer one
// law only, and returns what it added by line.
func offerOtherLaw(s *sdp.Session) map[int][2]uint8 {
	var added map[int][2]uint8
	for i, md := range s.Media {
		if md.Type != "audio" || md.Port == 0 {
			continue
		}
		hasU, hasA := slices.Contains(md.Formats, "0"), slices.Contains(md.Formats, "8")
		if hasU == hasA {
			continue
		}
		have, add, name := uint8(0), uint8(8), "PCMA/8000"
		if hasA {
			have, add, name = 8, 0, "PCMU/8000"
		}
		md.Formats = append(md.Formats, strconv.Itoa(int(add)))
		md.Attributes = append(md.Attributes, sdp.Attribute{Key: "rtpmap", Value: strconv.Itoa(int(add)) + " " + name})
		if added == nil {
			added = map[int][2]uint8{}
		}
		added[i] = [2]uint8{add, have}
	}
	return added
}

// transcode looks at the answer from side B (already rewritten for side
// A): a line answered with only the law side A lacks is transcoded, and
// the answer side A gets names side A's law.
func (m *relayMedia) transcode(s *sdp.Session) {
	streams := m.call.Streams()
	for i, pts := range m.added {
		if i >= len(s.Media) || i >= len(streams) || streams[i] == nil {
			continue
		}
		md := s.Media[i]
		add, have := strconv.Itoa(int(pts[0])), strconv.Itoa(int(pts[1]))
		if !slices.Contains(md.Formats, add) {
			continue
		}
		if slices.Contains(md.Formats, have) {
			// Side B can send A's law too: no transcoding, and A
			// is not told about the law it did not offer.
			md.Formats = slices.DeleteFunc(md.Formats, func(f string) bool { return f == add })
			md.Attributes = dropRTPMap(md.Attributes, add)
			continue
		}
		st := streams[i]
		if st.SetTranscode(media.SideB, pts[0], pts[1]) != nil || st.SetTranscode(media.SideA, pts[1], pts[0]) != nil {
			continue
		}
		name := "PCMU/8000"
		if pts[1] == 8 {
			name = "PCMA/8000"
		}
		for j, f := range md.Formats {
			if f == add {
				md.Formats[j] = have
			}
		}
		md.Attributes = dropRTPMap(md.Attributes, add)
		md.Attributes = append(md.Attributes, sdp.Attribute{Key: "rtpmap", Value: have + " " + name})
	}
}

func dropRTPMap(as sdp.Attributes, pt string) sdp.Attributes {
	return slices.DeleteFunc(as, func(a sdp.Attribute) bool {
		return a.Key == "rtpmap" && strings.HasPrefix(a.Value, pt+" ")
	})
}

func (m *relayMedia) Anchored() bool { return true }
func (m *relayMedia) Close()         { _ = m.call.Close() }
