package bridge

import (
	"errors"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/parley-sip/parley/media"
	"github.com/parley-sip/parley/pbx/cdr"
	"github.com/parley-sip/parley/sdp"
	"github.com/parley-sip/parley/sip"
)

// promptCodecs are what a terminated call offers to answer with.
var promptCodecs = []sdp.Codec{{PayloadType: 0, Name: "PCMU", ClockRate: 8000}, {PayloadType: 8, Name: "PCMA", ClockRate: 8000}}

// sessionMedia terminates the caller's media in a media.Session: the
// media strategy of prompts (the play action), and the shape voicemail and
// conference legs take (a session per leg on the mixer's clock).
type sessionMedia struct{ sess *media.Session }

func (m sessionMedia) Rewrite(media.Side, []byte) ([]byte, error) {
	return nil, &sip.StatusError{Code: sip.StatusNotAcceptableHere, Reason: "Not Acceptable Here: media is terminated by the PBX"}
}
func (sessionMedia) Anchored() bool { return true }
func (m sessionMedia) Close()       { _ = m.sess.Close() }

// play answers the caller with a media session of its own, plays file
// (relative to Config.DataDir) and hangs up; a BYE from the caller ends it
// sooner. It returns finished when the call was answered.
func (c *call) play(file string) (outcome, answer) {
	b := c.b
	if b.cfg.Ports == nil || b.cfg.Relay == nil {
		return failed, answer{code: sip.StatusNotImplemented, reason: "Not Implemented: play needs the media relay"}
	}
	path := file
	if !filepath.IsAbs(path) {
		path = filepath.Join(b.cfg.DataDir, file)
	}
	src, err := media.OpenWAV(path, 8000)
	if err != nil {
		b.log.Error("bridge: prompt not readable", "file", path, "err", err)
		return failed, answer{code: sip.StatusServerInternalError, reason: "Server Internal Error: prompt not readable"}
	}
	defer src.Close()
	offer, err := sdp.Parse(c.a.Invite().Body)
	if err != nil || len(c.a.Invite().Body) == 0 {
		return failed, answer{code: sip.StatusNotAcceptableHere, reason: "Not Acceptable Here: no SDP offer"}
	}
	addr := b.cfg.Relay.Addr()
	// Negotiate first (the port is filled in once the session has one).
	ans, streams, err := sdp.BuildAnswer(offer, &sdp.Local{Address: addr, Media: []sdp.LocalMedia{{
		Type: "audio", Port: 9, Codecs: promptCodecs, TelephoneEvent: true, Ptime: 20 * time.Millisecond}}})
	var ne *sdp.NegotiationError
	if errors.As(err, &ne) {
		return failed, answer{code: ne.Code, reason: ne.Reason, extra: []string{"Warning: " + itoa(ne.Warning) + ` parley "` + ne.Text + `"`}}
	}
	if err != nil {
		return failed, answer{code: sip.StatusNotAcceptableHere, reason: "Not Acceptable Here: " + err.Error()}
	}
	st, ok := audioStream(streams)
	if !ok {
		return failed, answer{code: sip.StatusNotAcceptableHere, reason: "Not Acceptable Here: no audio",
			extra: []string{`Warning: 304 parley "no audio stream"`}}
	}
	codec, err := media.CodecByName(st.Codec.Name, st.Codec.PayloadType)
	if err != nil {
		return failed, answer{code: sip.StatusNotAcceptableHere, reason: "Not Acceptable Here: " + err.Error()}
	}
	dtmf := uint8(101)
	if st.TelephoneEvent != nil {
		dtmf = st.TelephoneEvent.PayloadType
	}
	sess, err := media.NewSession(media.Config{LocalAddr: addr, Ports: b.cfg.Ports, Codec: codec, DTMFPayloadType: dtmf, Symmetric: true})
	if err != nil {
		return failed, *c.errorAnswer(err)
	}
	c.media = sessionMedia{sess}
	c.rec.Anchored = true
	ans.Media[st.Index].Port = int(sess.LocalAddr().Port())
	if st.RemoteAddr.IsValid() {
		rtcp := netip.AddrPortFrom(st.RemoteAddr.Addr(), st.RemoteAddr.Port()+1)
		if st.RTCPMux {
			rtcp = st.RemoteAddr
		}
		sess.SetRemote(st.RemoteAddr, rtcp)
	}
	sess.Record(media.Discard)
	played := sess.Play(src)

	c.registerLeg(c.a)
	if err := c.a.Respond(sip.StatusOK, "", ans.Marshal()); err != nil {
		return cancelled, answer{code: sip.StatusRequestTerminated}
	}
	c.rec.Answer = time.Now()
	c.rec.Callee = "play:" + file
	b.answered.Add(1)
	for {
		select {
		case <-played:
			go c.hangUpLate(c.a)
			c.rec.Finish(time.Now(), cdr.Answered, cdr.Cause{Reason: "prompt played", Side: cdr.SidePBX})
			return finished, answer{}
		case ev := <-c.events:
			switch ev.kind {
			case evShutdown:
				go c.hangUpLate(c.a)
				c.rec.Finish(time.Now(), cdr.Answered, cdr.Cause{Reason: "shutdown", Side: cdr.SidePBX})
				return finished, answer{}
			case evRequest:
				req := ev.tx.Request()
				if err := ev.leg.Validate(req); err != nil {
					_ = ev.leg.Reply(ev.tx, sip.StatusServerInternalError, "", nil)
					continue
				}
				if req.Method == sip.BYE {
					_ = ev.leg.Reply(ev.tx, sip.StatusOK, "", nil)
					ev.leg.Terminate()
					c.rec.Finish(time.Now(), cdr.Answered, cdr.Cause{Reason: "BYE", Side: cdr.SideCaller})
					return finished, answer{}
				}
				// A prompt takes no re-offer: it keeps its media.
				_ = ev.leg.Reply(ev.tx, sip.StatusNotAcceptableHere, "Not Acceptable Here: prompt", nil)
			}
		}
	}
}

func audioStream(ss []sdp.Stream) (sdp.Stream, bool) {
	for _, s := range ss {
		if s.Type == "audio" && !s.Rejected {
			return s, true
		}
	}
	return sdp.Stream{}, false
}
