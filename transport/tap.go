package transport

import (
	"net"
	"net/netip"
)

// Direction says whether a tapped message was received or sent.
type Direction uint8

// Directions of a tapped message.
const (
	Received Direction = iota
	Sent
)

func (d Direction) String() string {
	if d == Sent {
		return "sent"
	}
	return "received"
}

// Tap sees the wire bytes of every SIP message the layer receives (before
// parsing, malformed ones included) and sends, for capture and export
// (package admin's ring, HEP). It is called on reader and sender
// goroutines, concurrently, and must be cheap and must not block; raw is
// only borrowed for the call. local and remote are this side's and the
// peer's addresses, whatever the direction.
type Tap interface {
	Tap(dir Direction, transport string, local, remote netip.AddrPort, raw []byte)
}

// SetTap installs (or, with nil, removes) the Tap; Config.Tap is the one
// given at construction. Safe to call while the layer runs: the server
// builds its transport before the admin's capture exists.
func (l *Layer) SetTap(t Tap) {
	if t == nil {
		l.tapper.Store(nil)
		return
	}
	l.tapper.Store(&t)
}

// tap hands one message to the Tap; without one it costs a load and a
// comparison.
func (l *Layer) tap(dir Direction, transport string, local, remote netip.AddrPort, raw []byte) {
	if t := l.tapper.Load(); t != nil {
		(*t).Tap(dir, transport, local, remote, raw)
	}
}

// tapping reports whether a Tap is installed (to skip computing its
// arguments).
func (l *Layer) tapping() bool { return l.tapper.Load() != nil }

// sockLocal is the address a UDP socket is bound to, for the Tap.
func sockLocal(c *net.UDPConn) netip.AddrPort {
	if a, ok := c.LocalAddr().(*net.UDPAddr); ok {
		return a.AddrPort()
	}
	return netip.AddrPort{}
}
