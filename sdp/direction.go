package sdp

import "net/netip"

// Direction is a stream's media direction attribute (RFC 8866 §6.7), always
// seen from the side that wrote the description, or, in [Stream], from our
// side.
type Direction uint8

// The zero value means "not stated"; [Session.Direction] resolves it to the
// session-level attribute or SendRecv.
const (
	DirectionUnset Direction = iota
	SendRecv
	SendOnly
	RecvOnly
	Inactive
)

// String returns the attribute name, "" for DirectionUnset.
func (d Direction) String() string {
	switch d {
	case SendRecv:
		return "sendrecv"
	case SendOnly:
		return "sendonly"
	case RecvOnly:
		return "recvonly"
	case Inactive:
		return "inactive"
	}
	return ""
}

// ParseDirection maps an attribute name to a Direction.
func ParseDirection(s string) (Direction, bool) {
	switch s {
	case "sendrecv":
		return SendRecv, true
	case "sendonly":
		return SendOnly, true
	case "recvonly":
		return RecvOnly, true
	case "inactive":
		return Inactive, true
	}
	return DirectionUnset, false
}

// Sends reports whether the side with this direction sends media.
func (d Direction) Sends() bool { return d == SendRecv || d == SendOnly || d == DirectionUnset }

// Receives reports whether the side with this direction receives media.
func (d Direction) Receives() bool { return d == SendRecv || d == RecvOnly || d == DirectionUnset }

// Reverse returns the direction as seen from the other side: what one side
// sends, the other receives.
func (d Direction) Reverse() Direction {
	switch d {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	}
	return d
}

// makeDirection builds a direction from its two capabilities.
func makeDirection(send, recv bool) Direction {
	switch {
	case send && recv:
		return SendRecv
	case send:
		return SendOnly
	case recv:
		return RecvOnly
	}
	return Inactive
}

// intersect returns the most d and e both allow, seen from d's side.
func intersect(d, e Direction) Direction {
	return makeDirection(d.Sends() && e.Sends(), d.Receives() && e.Receives())
}

func attrDirection(as Attributes) Direction {
	// The last direction attribute wins: a few phones add one to a template
	// that already had another, and the later one is the edit they meant.
	d := DirectionUnset
	for _, a := range as {
		if x, ok := ParseDirection(a.Key); ok {
			d = x
		}
	}
	return d
}

// Direction returns the direction of media m: its own attribute, else the
// session-level one, else sendrecv (RFC 8866 §6.7).
func (s *Session) Direction(m *Media) Direction {
	if d := attrDirection(m.Attributes); d != DirectionUnset {
		return d
	}
	if d := attrDirection(s.Attributes); d != DirectionUnset {
		return d
	}
	return SendRecv
}

// SetDirection replaces the media's direction attributes with d (none for
// DirectionUnset), keeping its position if it had one.
func (m *Media) SetDirection(d Direction) {
	idx := -1
	out := m.Attributes[:0]
	for _, a := range m.Attributes {
		if _, ok := ParseDirection(a.Key); ok {
			if idx < 0 {
				idx = len(out)
			}
			continue
		}
		out = append(out, a)
	}
	clear(m.Attributes[len(out):])
	m.Attributes = out
	if d == DirectionUnset {
		return
	}
	a := Attribute{Key: d.String()}
	if idx < 0 {
		m.Attributes = append(m.Attributes, a)
		return
	}
	m.Attributes = append(m.Attributes, Attribute{})
	copy(m.Attributes[idx+1:], m.Attributes[idx:])
	m.Attributes[idx] = a
}

// SetDirection states d on every active stream and drops the session-level
// direction, so that no stream inherits a stale default.
func (s *Session) SetDirection(d Direction) {
	s.fixDirections()
	for _, m := range s.Media {
		if m.Port != 0 {
			m.SetDirection(d)
		}
	}
}

// Hold turns s into a hold offer following RFC 6337 §5.3: a stream that was
// sendrecv becomes sendonly (we keep sending music on hold, the other side
// stops), one that was recvonly becomes inactive. Resume with
// SetDirection(SendRecv). Call it on a [Session.Reoffer] copy.
func (s *Session) Hold() {
	s.fixDirections()
	for _, m := range s.Media {
		if m.Port == 0 {
			continue
		}
		switch s.Direction(m) {
		case SendRecv:
			m.SetDirection(SendOnly)
		case RecvOnly:
			m.SetDirection(Inactive)
		}
	}
}

// fixDirections moves a session-level direction onto each media section so
// that per-stream edits do not depend on the session default.
func (s *Session) fixDirections() {
	sd := attrDirection(s.Attributes)
	if sd == DirectionUnset {
		return
	}
	for _, m := range s.Media {
		if attrDirection(m.Attributes) == DirectionUnset {
			m.SetDirection(sd)
		}
	}
	for _, d := range []Direction{SendRecv, SendOnly, RecvOnly, Inactive} {
		s.Attributes = s.Attributes.Delete(d.String())
	}
}

// MediaConnection returns the c= line that applies to m: its own, else the
// session's (RFC 8866 §5.7). It is nil when neither exists.
func (s *Session) MediaConnection(m *Media) *Connection {
	if m.Connection != nil {
		return m.Connection
	}
	return s.Connection
}

// ConnectionAddress returns the address media m is sent to, as written in
// the applicable c= line ("" when there is none).
func (s *Session) ConnectionAddress(m *Media) string {
	if c := s.MediaConnection(m); c != nil {
		return c.Address
	}
	return ""
}

// RTPAddr returns the address and port to send m's RTP to. ok is false when
// the stream is rejected or its address is not an IP literal (an FQDN must be
// resolved by the caller).
func (s *Session) RTPAddr(m *Media) (addr netip.AddrPort, ok bool) {
	if m.Port == 0 {
		return netip.AddrPort{}, false
	}
	a, err := netip.ParseAddr(s.ConnectionAddress(m))
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(m.Port)), true
}
