package sdp

import (
	"strconv"
	"strings"
)

// Marshal returns the description in wire form; see [Session.AppendTo].
func (s *Session) Marshal() []byte {
	return s.AppendTo(make([]byte, 0, s.MarshalSize()))
}

// MarshalSize returns a close upper estimate of the encoded length, so callers
// writing into pooled buffers can size them once.
func (s *Session) MarshalSize() int {
	// Fixed parts: v= (up to 20 digits), o= with two uint64s and five
	// separators, "s= ", a default t=, and the CRLFs of i u z k.
	o := &s.Origin
	n := 24 + 64 + 8 + 8 + 16 + len(o.Username) + len(o.NetType) + len(o.AddrType) + len(o.Address) +
		len(s.Name) + len(s.Info) + len(s.URI) + len(s.TimeZones) + len(s.Key)
	for _, e := range s.Emails {
		n += len(e) + 4
	}
	for _, p := range s.Phones {
		n += len(p) + 4
	}
	n += connSize(s.Connection) + bwSize(s.Bandwidths) + attrSize(s.Attributes) + extraSize(s.Extra)
	for _, t := range s.Timings {
		n += 48
		for _, r := range t.Repeats {
			n += len(r) + 4
		}
	}
	for _, m := range s.Media {
		n += 56 + len(m.Type) + len(m.Proto) + len(m.Info) + len(m.Key)
		for _, f := range m.Formats {
			n += len(f) + 1
		}
		n += connSize(m.Connection) + bwSize(m.Bandwidths) + attrSize(m.Attributes) + extraSize(m.Extra)
	}
	return n
}

func connSize(c *Connection) int {
	if c == nil {
		return 0
	}
	return 48 + len(c.NetType) + len(c.AddrType) + len(c.Address)
}

func bwSize(bs []Bandwidth) int {
	n := 0
	for _, b := range bs {
		n += len(b.Type) + 26
	}
	return n
}

func attrSize(as Attributes) int {
	n := 0
	for _, a := range as {
		n += len(a.Key) + len(a.Value) + 5
	}
	return n
}

func extraSize(ls []Line) int {
	n := 0
	for _, l := range ls {
		n += len(l.Value) + 4
	}
	return n
}

// AppendTo appends the description to b in RFC 8866 §5 order (v o s i u e p
// c b t r z k a, then each m section with i c b k a) with CRLF line endings,
// and returns the extended buffer. Lines of undefined types (Extra) close
// their section. AppendTo does not validate: values are written as they are,
// so a hand-built Session must not put CR or LF in them.
func (s *Session) AppendTo(b []byte) []byte {
	b = append(b, "v="...)
	b = strconv.AppendInt(b, int64(s.Version), 10)
	b = append(b, "\r\no="...)
	o := &s.Origin
	b = append(b, orDefault(o.Username, "-")...)
	b = append(b, ' ')
	b = strconv.AppendUint(b, o.SessionID, 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, o.SessionVersion, 10)
	b = append(b, ' ')
	b = append(b, orDefault(o.NetType, "IN")...)
	b = append(b, ' ')
	b = append(b, orDefault(o.AddrType, "IP4")...)
	b = append(b, ' ')
	b = append(b, orDefault(o.Address, "0.0.0.0")...)
	// RFC 8866 §5.3: a session without a name uses a single space.
	b = append(b, "\r\ns="...)
	b = append(b, orDefault(s.Name, " ")...)
	b = append(b, "\r\n"...)
	b = appendText(b, 'i', s.Info)
	b = appendText(b, 'u', s.URI)
	for _, e := range s.Emails {
		b = appendLine(b, 'e', e)
	}
	for _, p := range s.Phones {
		b = appendLine(b, 'p', p)
	}
	b = appendConn(b, s.Connection)
	b = appendBandwidths(b, s.Bandwidths)
	if len(s.Timings) == 0 {
		b = append(b, "t=0 0\r\n"...)
	}
	for _, t := range s.Timings {
		b = append(b, "t="...)
		b = strconv.AppendUint(b, t.Start, 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, t.Stop, 10)
		b = append(b, "\r\n"...)
		for _, r := range t.Repeats {
			b = appendLine(b, 'r', r)
		}
	}
	b = appendText(b, 'z', s.TimeZones)
	b = appendText(b, 'k', s.Key)
	b = appendAttributes(b, s.Attributes)
	b = appendExtra(b, s.Extra)
	for _, m := range s.Media {
		b = m.appendTo(b)
	}
	return b
}

// String returns the wire form, for logs and tests.
func (s *Session) String() string { return string(s.Marshal()) }

func (m *Media) appendTo(b []byte) []byte {
	b = append(b, "m="...)
	b = append(b, m.Type...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(m.Port), 10)
	if m.PortCount > 0 {
		b = append(b, '/')
		b = strconv.AppendInt(b, int64(m.PortCount), 10)
	}
	b = append(b, ' ')
	b = append(b, m.Proto...)
	for _, f := range m.Formats {
		b = append(b, ' ')
		b = append(b, f...)
	}
	b = append(b, "\r\n"...)
	b = appendText(b, 'i', m.Info)
	b = appendConn(b, m.Connection)
	b = appendBandwidths(b, m.Bandwidths)
	b = appendText(b, 'k', m.Key)
	b = appendAttributes(b, m.Attributes)
	return appendExtra(b, m.Extra)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func appendLine(b []byte, typ byte, v string) []byte {
	b = append(b, typ, '=')
	b = append(b, v...)
	return append(b, "\r\n"...)
}

// appendText writes an optional single-value line, skipping it when empty.
func appendText(b []byte, typ byte, v string) []byte {
	if v == "" {
		return b
	}
	return appendLine(b, typ, v)
}

func appendConn(b []byte, c *Connection) []byte {
	if c == nil {
		return b
	}
	b = append(b, "c="...)
	b = append(b, orDefault(c.NetType, "IN")...)
	b = append(b, ' ')
	b = append(b, orDefault(c.AddrType, "IP4")...)
	b = append(b, ' ')
	b = append(b, c.Address...)
	switch {
	case strings.EqualFold(c.AddrType, "IP4"):
		if c.TTL > 0 || c.Count > 0 {
			b = append(b, '/')
			b = strconv.AppendInt(b, int64(c.TTL), 10)
		}
		if c.Count > 0 {
			b = append(b, '/')
			b = strconv.AppendInt(b, int64(c.Count), 10)
		}
	case strings.EqualFold(c.AddrType, "IP6"):
		if c.Count > 0 {
			b = append(b, '/')
			b = strconv.AppendInt(b, int64(c.Count), 10)
		}
	}
	return append(b, "\r\n"...)
}

func appendBandwidths(b []byte, bs []Bandwidth) []byte {
	for _, bw := range bs {
		b = append(b, "b="...)
		b = append(b, bw.Type...)
		b = append(b, ':')
		b = strconv.AppendUint(b, bw.Value, 10)
		b = append(b, "\r\n"...)
	}
	return b
}

func appendAttributes(b []byte, as Attributes) []byte {
	for _, a := range as {
		b = append(b, "a="...)
		b = append(b, a.Key...)
		if a.Value != "" {
			b = append(b, ':')
			b = append(b, a.Value...)
		}
		b = append(b, "\r\n"...)
	}
	return b
}

func appendExtra(b []byte, ls []Line) []byte {
	for _, l := range ls {
		b = appendLine(b, l.Type, l.Value)
	}
	return b
}
