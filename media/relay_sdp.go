package media

import (
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/parley-sip/parley/sdp"
)

// RelayCall is the relayed media of one call: one RelayStream per m= line,
// created as the SDP of either side names them. It is what a B2BUA keeps
// per anchored call: Rewrite each SDP on its way from one leg to the other,
// Close when the call ends. Safe for concurrent use.
type RelayCall struct {
	relay *Relay

	mu      sync.Mutex
	streams []*RelayStream // by m= line; nil for a rejected or non-RTP line
	closed  bool
}

// NewCall starts an empty call; streams are opened by Rewrite.
func (r *Relay) NewCall() *RelayCall { return &RelayCall{relay: r} }

// iceAttrs are removed from rewritten SDP: the candidates name the far
// leg's own addresses, which the relay now stands in front of.
var iceAttrs = []string{"candidate", "remote-candidates", "end-of-candidates", "ice-ufrag", "ice-pwd", "ice-options", "ice-lite", "ice-mismatch"}

// Rewrite takes the SDP that side from sent (an offer or an answer, the
// first or a re-INVITE's) and returns the SDP for the other side: every
// RTP m= line (audio, video, any codec; formats and attributes untouched)
// gets the relay's port facing the other side, c= lines the relay's
// address and a=rtcp (RFC 3605) the relay's RTCP port. ICE attributes
// are removed. Side from's addresses in the SDP become where the relay
// sends that side's media until latching learns better. m= lines with port
// 0 stay rejected (and close their stream); non-RTP lines (udptl, ...)
// are not relayed and go out with port 0. The input is not modified.
//
// An exhausted port range gives a *sip.StatusError 503 wrapping
// ErrNoPorts; the streams opened by this call to Rewrite are then closed.
func (c *RelayCall) Rewrite(from Side, in *sdp.Session) (*sdp.Session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrRelayClosed
	}
	out := in.Clone()
	addr := c.relay.Addr()
	conn := &sdp.Connection{NetType: "IN", AddrType: "IP4", Address: addr.String()}
	if addr.Is6() {
		conn.AddrType = "IP6"
	}
	var opened []*RelayStream
	for i, m := range in.Media {
		om := out.Media[i]
		for len(c.streams) <= i {
			c.streams = append(c.streams, nil)
		}
		if m.Port == 0 || !m.IsRTP() {
			if st := c.streams[i]; st != nil {
				st.Close()
				c.streams[i] = nil
			}
			om.Port = 0
			continue
		}
		st := c.streams[i]
		if st == nil {
			var err error
			st, err = c.relay.NewStream()
			if err != nil {
				for _, o := range opened {
					o.Close()
					for j := range c.streams {
						if c.streams[j] == o {
							c.streams[j] = nil
						}
					}
				}
				return nil, err
			}
			c.streams[i] = st
			opened = append(opened, st)
		}
		rtp, _ := in.RTPAddr(m)
		rtcp := rtcpAddr(in, m, rtp)
		st.SetRemote(from, rtp, rtcp)

		localRTP, localRTCP := st.LocalAddr(from.Other())
		om.Port, om.PortCount = int(localRTP.Port()), 0
		hold := isUnspecified(in.ConnectionAddress(m))
		if om.Connection != nil && !hold {
			om.Connection = conn
		}
		for _, k := range iceAttrs {
			om.Attributes = om.Attributes.Delete(k)
		}
		if _, ok := om.Attributes.Get("rtcp"); ok {
			for j := range om.Attributes {
				if om.Attributes[j].Key == "rtcp" {
					om.Attributes[j].Value = strconv.Itoa(int(localRTCP.Port()))
					if om.Attributes.Has("rtcp-mux") {
						om.Attributes[j].Value = strconv.Itoa(int(localRTP.Port()))
					}
				}
			}
		}
	}
	for i := len(in.Media); i < len(c.streams); i++ { // fewer m= lines than before: not allowed by RFC 3264 §8, but be safe
		if c.streams[i] != nil {
			c.streams[i].Close()
			c.streams[i] = nil
		}
	}
	if out.Connection != nil && !isUnspecified(out.Connection.Address) {
		out.Connection = conn
	}
	for _, k := range iceAttrs {
		out.Attributes = out.Attributes.Delete(k)
	}
	return out, nil
}

// rtcpAddr is where side's RTCP goes: a=rtcp (RFC 3605) if present, the RTP
// address with a=rtcp-mux (RFC 5761), else the RTP port + 1 (RFC 3550 §11).
func rtcpAddr(s *sdp.Session, m *sdp.Media, rtp netip.AddrPort) netip.AddrPort {
	if !rtp.IsValid() {
		return netip.AddrPort{}
	}
	if m.Attributes.Has("rtcp-mux") {
		return rtp
	}
	if v, ok := m.Attributes.Get("rtcp"); ok {
		f := strings.Fields(v)
		if len(f) == 0 {
			return netip.AddrPortFrom(rtp.Addr(), rtp.Port()+1)
		}
		port, err := strconv.Atoi(f[0])
		if err == nil && port > 0 && port < 65536 {
			a := rtp.Addr()
			if len(f) == 4 {
				if pa, err := netip.ParseAddr(f[3]); err == nil {
					a = pa.Unmap()
				}
			}
			return netip.AddrPortFrom(a, uint16(port))
		}
	}
	return netip.AddrPortFrom(rtp.Addr(), rtp.Port()+1)
}

func isUnspecified(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.IsUnspecified()
}

// Streams returns the call's streams by m= line (nil where a line is
// rejected or not relayed).
func (c *RelayCall) Streams() []*RelayStream {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*RelayStream(nil), c.streams...)
}

// Close closes every stream of the call. Safe to call twice.
func (c *RelayCall) Close() error {
	c.mu.Lock()
	streams := c.streams
	c.streams, c.closed = nil, true
	c.mu.Unlock()
	for _, st := range streams {
		if st != nil {
			st.Close()
		}
	}
	return nil
}
