package sdp

import "strings"

// Session is one session description (RFC 8866 §5).
//
// Text fields hold the value as written, without the "x=" prefix and without
// trailing whitespace. An empty string means the line was absent.
type Session struct {
	Version    int         // v=, always 0
	Origin     Origin      // o=
	Name       string      // s=; "" is written as "s= " (RFC 8866 §5.3)
	Info       string      // i=
	URI        string      // u=
	Emails     []string    // e=
	Phones     []string    // p=
	Connection *Connection // c= at session level; nil when absent
	Bandwidths []Bandwidth // b=
	Timings    []Timing    // t= with their r= lines; Parse fills "t=0 0" when absent
	TimeZones  string      // z=, kept raw: nobody schedules calls with it
	Key        string      // k=, obsolete (RFC 8866 §5.12) but kept for the round trip
	Attributes Attributes  // session-level a= in order
	Extra      []Line      // lines with a type letter RFC 8866 does not define
	Media      []*Media    // m= sections in order
}

// Origin is the o= line (RFC 8866 §5.2). SessionID and SessionVersion are
// numbers because RFC 3264 §8 asks us to increment the version on each
// changed description.
type Origin struct {
	Username       string // "-" when the originator has no user name
	SessionID      uint64
	SessionVersion uint64
	NetType        string // "IN"
	AddrType       string // "IP4" or "IP6"
	Address        string // unicast address or FQDN of the originator
}

// Connection is a c= line (RFC 8866 §5.7).
type Connection struct {
	NetType  string // "IN"
	AddrType string // "IP4" or "IP6"
	Address  string // address or FQDN without the /ttl and /count suffixes
	TTL      int    // IP4 multicast TTL; 0 when absent
	Count    int    // number of multicast addresses; 0 when absent
}

// Bandwidth is a b= line (RFC 8866 §5.8), e.g. "AS:64" or "TIAS:64000".
type Bandwidth struct {
	Type  string
	Value uint64
}

// Timing is a t= line with the r= lines that follow it (RFC 8866 §5.9, §5.10).
// Calls use "t=0 0"; repeat lines are kept raw.
type Timing struct {
	Start, Stop uint64
	Repeats     []string
}

// Attribute is one a= line (RFC 8866 §5.13). For "a=rtpmap:0 PCMU/8000" Key
// is "rtpmap" and Value is "0 PCMU/8000"; a property attribute such as
// "a=sendrecv" has an empty Value. Value is kept byte-exact.
type Attribute struct {
	Key   string
	Value string
}

// Line is a line whose type letter RFC 8866 does not define, kept so that a
// description passes through unchanged.
type Line struct {
	Type  byte
	Value string
}

// Media is one m= section (RFC 8866 §5.14) with the lines that follow it.
type Media struct {
	Type       string      // audio, video, text, application, message, image
	Port       int         // 0 rejects or disables the stream (RFC 3264 §6)
	PortCount  int         // the /<number of ports> suffix; 0 when absent
	Proto      string      // RTP/AVP, RTP/SAVP, UDP/TLS/RTP/SAVPF, udptl ...
	Formats    []string    // payload type numbers for RTP, as written
	Info       string      // i=
	Connection *Connection // c= in this section; nil to use the session's
	Bandwidths []Bandwidth
	Key        string // k=
	Attributes Attributes
	Extra      []Line
}

// Attributes is an ordered list of a= lines.
type Attributes []Attribute

// Get returns the value of the first attribute named key.
func (as Attributes) Get(key string) (string, bool) {
	for _, a := range as {
		if a.Key == key {
			return a.Value, true
		}
	}
	return "", false
}

// Has reports whether an attribute named key is present.
func (as Attributes) Has(key string) bool {
	_, ok := as.Get(key)
	return ok
}

// All returns the values of every attribute named key, in order.
func (as Attributes) All(key string) []string {
	var vs []string
	for _, a := range as {
		if a.Key == key {
			vs = append(vs, a.Value)
		}
	}
	return vs
}

// Delete removes every attribute named key and returns the shortened list.
func (as Attributes) Delete(key string) Attributes {
	out := as[:0]
	for _, a := range as {
		if a.Key != key {
			out = append(out, a)
		}
	}
	clear(as[len(out):])
	return out
}

// IsRTP reports whether the stream carries RTP, which is what payload type
// formats, rtpmap and our codec negotiation apply to.
func (m *Media) IsRTP() bool {
	return strings.Contains(strings.ToUpper(m.Proto), "RTP/")
}

// Clone returns a deep copy, so that a re-offer can be edited without
// touching the description already sent.
func (s *Session) Clone() *Session {
	if s == nil {
		return nil
	}
	c := *s
	c.Emails = cloneSlice(s.Emails)
	c.Phones = cloneSlice(s.Phones)
	c.Connection = cloneConn(s.Connection)
	c.Bandwidths = cloneSlice(s.Bandwidths)
	if s.Timings != nil {
		c.Timings = make([]Timing, len(s.Timings))
		for i, t := range s.Timings {
			t.Repeats = cloneSlice(t.Repeats)
			c.Timings[i] = t
		}
	}
	c.Attributes = cloneSlice(s.Attributes)
	c.Extra = cloneSlice(s.Extra)
	if s.Media != nil {
		c.Media = make([]*Media, len(s.Media))
		for i, m := range s.Media {
			c.Media[i] = m.Clone()
		}
	}
	return &c
}

// Clone returns a deep copy of the media section.
func (m *Media) Clone() *Media {
	if m == nil {
		return nil
	}
	c := *m
	c.Formats = cloneSlice(m.Formats)
	c.Connection = cloneConn(m.Connection)
	c.Bandwidths = cloneSlice(m.Bandwidths)
	c.Attributes = cloneSlice(m.Attributes)
	c.Extra = cloneSlice(m.Extra)
	return &c
}

func cloneSlice[S ~[]E, E any](s S) S {
	if s == nil {
		return nil
	}
	return append(S(make([]E, 0, len(s))), s...)
}

func cloneConn(c *Connection) *Connection {
	if c == nil {
		return nil
	}
	cc := *c
	return &cc
}
