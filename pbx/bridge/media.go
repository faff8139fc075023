package bridge

import (
	"fmt"

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

// relayMedia anchors every RTP stream of the call in the relay.
type relayMedia struct {
	call *media.RelayCall
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
	return out.Marshal(), nil
}

func (m *relayMedia) Anchored() bool { return true }
func (m *relayMedia) Close()         { _ = m.call.Close() }
