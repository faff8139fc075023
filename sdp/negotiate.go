package sdp

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Local describes what we can do: the input to [BuildOffer] and [BuildAnswer].
type Local struct {
	Username string // o= user name; "-" when empty

	// SessionID and SessionVersion are the o= numbers to use. Zero SessionID
	// generates a random one (and, with zero SessionVersion, a version).
	// Within a dialog pass the previous values, with the version incremented
	// whenever the description changes (RFC 3264 §8).
	SessionID      uint64
	SessionVersion uint64
	SessionName    string // s=; "-" when empty

	Address   netip.Addr   // our media address, used in o= and the session c=
	Direction Direction    // preferred direction; unset means sendrecv
	Media     []LocalMedia // one entry per stream we can carry
}

// LocalMedia is one kind of stream we can carry. An offer with two audio
// streams needs two audio entries (each with its own port) to accept both;
// otherwise the second is rejected.
type LocalMedia struct {
	Type    string     // "audio", "video", ...
	Port    int        // our RTP port, 1-65535
	Address netip.Addr // overrides Local.Address for this stream when valid

	// Protos lists the transport protocols we accept; nil means RTP/AVP
	// only. The first one is used in offers.
	Protos []string

	// Codecs in order of preference. In offers the payload types given here
	// are used; in answers the offerer's numbers and order win (RFC 3264 §6.1).
	// Fmtp, when set, is what we answer for that codec; otherwise the
	// offerer's fmtp is echoed.
	Codecs []Codec

	// TelephoneEvent enables RFC 4733 DTMF (audio only). Offers use payload
	// type 101 (or the next free dynamic one) with "0-16".
	TelephoneEvent bool

	Ptime     time.Duration // a=ptime we ask for; 0 leaves it out
	RTCPMux   bool          // accept/offer RFC 5761 a=rtcp-mux
	Direction Direction     // overrides Local.Direction for this stream
}

// Stream is the negotiated state of one m-line, seen from our side: what the
// media layer needs to start, change or stop RTP.
type Stream struct {
	Index    int    // position of the m-line
	Type     string // audio, video, ...
	Proto    string
	Rejected bool // port 0 on either side: no media flows

	Codec          Codec   // the codec to send: the first one agreed
	Codecs         []Codec // every agreed codec except telephone-event, in agreed order
	TelephoneEvent *Codec  // agreed RFC 4733 DTMF, nil when none

	// RemoteAddr is where to send RTP; it is invalid when the remote c=
	// names a host instead of an IP address (see RemoteHost).
	RemoteAddr netip.AddrPort
	RemoteHost string // the c= address as written
	RemotePort int
	LocalPort  int

	Direction       Direction     // what we do: SendOnly means we send and do not expect media
	RemoteDirection Direction     // the direction the remote wrote
	Ptime           time.Duration // remote's a=ptime, the packetization to send; 0 if unstated
	RTCPMux         bool          // both agreed to RFC 5761 multiplexing
}

// NegotiationError means an offer cannot be answered; the user agent should
// respond with Code and Reason and a Warning header with Warning and Text
// (RFC 3261 §20.43).
type NegotiationError struct {
	Code    int    // SIP status code, 488
	Reason  string // reason phrase, "Not Acceptable Here"
	Warning int    // warn-code: 302 incompatible transport, 304 media type, 305 media format
	Text    string // which streams were refused and why
}

func (e *NegotiationError) Error() string {
	return "sdp: " + strconv.Itoa(e.Code) + " " + e.Reason + " (warning " + strconv.Itoa(e.Warning) + "): " + e.Text
}

// ErrBadAnswer is wrapped by ProcessAnswer errors: the answer does not fit
// our offer and the call's media cannot be set up from it.
var ErrBadAnswer = errors.New("sdp: answer does not match offer")

// Warn codes of RFC 3261 §20.43 that explain a refused stream.
const (
	warnTransport = 302
	warnMediaType = 304
	warnFormat    = 305
)

// telephoneEventFmtp is the event range we offer: DTMF 0-9, *, #, A-D, flash.
const telephoneEventFmtp = "0-16"

func (l *Local) validate() error {
	if !l.Address.IsValid() {
		return errors.New("sdp: local address is not set")
	}
	for i := range l.Media {
		lm := &l.Media[i]
		if lm.Type == "" || strings.ContainsAny(lm.Type, " \t\r\n") {
			return fmt.Errorf("sdp: local media %d: bad type %q", i, lm.Type)
		}
		if lm.Port < 1 || lm.Port > 65535 {
			return fmt.Errorf("sdp: local media %d (%s): port %d out of range", i, lm.Type, lm.Port)
		}
		var seen [128]bool
		for _, c := range lm.Codecs {
			if c.PayloadType > 127 || c.Name == "" || c.ClockRate <= 0 {
				return fmt.Errorf("sdp: local media %d (%s): bad codec %v (pt %d)", i, lm.Type, c, c.PayloadType)
			}
			if seen[c.PayloadType] {
				return fmt.Errorf("sdp: local media %d (%s): payload type %d used twice", i, lm.Type, c.PayloadType)
			}
			seen[c.PayloadType] = true
		}
	}
	return nil
}

func (lm *LocalMedia) protos() []string {
	if len(lm.Protos) == 0 {
		return []string{"RTP/AVP"}
	}
	return lm.Protos
}

func (lm *LocalMedia) direction(l *Local) Direction {
	if lm.Direction != DirectionUnset {
		return lm.Direction
	}
	if l.Direction != DirectionUnset {
		return l.Direction
	}
	return SendRecv
}

func addrType(a netip.Addr) string {
	if a.Is4() || a.Is4In6() {
		return "IP4"
	}
	return "IP6"
}

func connFor(a netip.Addr) *Connection {
	a = a.Unmap()
	return &Connection{NetType: "IN", AddrType: addrType(a), Address: a.String()}
}

// newSessionID returns a random o= session id below 2^62: RFC 8866 §5.2
// suggests an NTP timestamp, but only uniqueness matters, and staying below
// 2^63 keeps peers that parse it as a signed integer happy.
func newSessionID() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:])>>2 | 1
}

func (l *Local) newSession() *Session {
	id, ver := l.SessionID, l.SessionVersion
	if id == 0 {
		id = newSessionID()
		if ver == 0 {
			ver = id & 0xffffffff
		}
	}
	a := l.Address.Unmap()
	return &Session{
		Origin: Origin{
			Username: orDefault(l.Username, "-"), SessionID: id, SessionVersion: ver,
			NetType: "IN", AddrType: addrType(a), Address: a.String(),
		},
		Name:       orDefault(l.SessionName, "-"),
		Connection: connFor(a),
		Timings:    []Timing{{}},
	}
}

// BuildOffer builds an initial offer (RFC 3264 §5) with one m-line per
// local media entry, in order.
func BuildOffer(local *Local) (*Session, error) {
	if err := local.validate(); err != nil {
		return nil, err
	}
	if len(local.Media) == 0 {
		return nil, errors.New("sdp: no local media to offer")
	}
	s := local.newSession()
	for i := range local.Media {
		m, err := NewOfferMedia(local, &local.Media[i])
		if err != nil {
			return nil, err
		}
		s.Media = append(s.Media, m)
	}
	return s, nil
}

// NewOfferMedia builds the m-line we offer for lm. Append it to a
// [Session.Reoffer] copy to add a stream (e.g. video) to a call (RFC 3264 §8.2).
func NewOfferMedia(local *Local, lm *LocalMedia) (*Media, error) {
	l := *local
	l.Media = []LocalMedia{*lm}
	if err := l.validate(); err != nil {
		return nil, err
	}
	if len(lm.Codecs) == 0 {
		return nil, fmt.Errorf("sdp: local media %s: no codecs to offer", lm.Type)
	}
	m := &Media{Type: lm.Type, Port: lm.Port, Proto: lm.protos()[0]}
	if lm.Address.IsValid() && lm.Address.Unmap() != local.Address.Unmap() {
		m.Connection = connFor(lm.Address)
	}
	codecs := append([]Codec(nil), lm.Codecs...)
	if lm.TelephoneEvent && strings.EqualFold(lm.Type, "audio") {
		codecs = addTelephoneEvents(codecs)
	}
	for _, c := range codecs {
		m.Formats = append(m.Formats, strconv.Itoa(int(c.PayloadType)))
	}
	for _, c := range codecs {
		m.Attributes = appendCodecAttrs(m.Attributes, c, c.Fmtp)
	}
	m.Attributes = appendStreamAttrs(m.Attributes, lm.Ptime, lm.RTCPMux, lm.direction(local))
	return m, nil
}

// addTelephoneEvents adds one telephone-event per audio clock rate, since
// RFC 4733 §2.1 ties the event clock to the audio codec's.
func addTelephoneEvents(cs []Codec) []Codec {
	var used [256]bool
	var rates []int
	for _, c := range cs {
		used[c.PayloadType] = true
		if c.IsTelephoneEvent() {
			return cs // the caller listed its own
		}
		if !strings.EqualFold(c.Name, "CN") && !containsInt(rates, c.ClockRate) {
			rates = append(rates, c.ClockRate)
		}
	}
	next := uint8(101)
	for _, r := range rates {
		for used[next] {
			next++
			if next > 127 {
				next = 96
			}
			if next == 101 {
				return cs // no free dynamic payload type left
			}
		}
		used[next] = true
		cs = append(cs, Codec{PayloadType: next, Name: "telephone-event", ClockRate: r, Fmtp: telephoneEventFmtp})
	}
	return cs
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func appendCodecAttrs(as Attributes, c Codec, fmtp string) Attributes {
	pt := strconv.Itoa(int(c.PayloadType))
	as = append(as, Attribute{Key: "rtpmap", Value: pt + " " + c.String()})
	if fmtp != "" {
		as = append(as, Attribute{Key: "fmtp", Value: pt + " " + fmtp})
	}
	return as
}

func appendStreamAttrs(as Attributes, ptime time.Duration, mux bool, d Direction) Attributes {
	if ptime >= time.Millisecond {
		as = append(as, Attribute{Key: "ptime", Value: strconv.FormatInt(int64(ptime/time.Millisecond), 10)})
	}
	if mux {
		as = append(as, Attribute{Key: "rtcp-mux"})
	}
	if d != DirectionUnset {
		as = append(as, Attribute{Key: d.String()})
	}
	return as
}

// Reoffer returns a copy of s, a description we sent before, with the o=
// version incremented as RFC 3264 §8 requires of every changed offer. Edit
// the copy (Hold, SetDirection, append NewOfferMedia) and send it.
func (s *Session) Reoffer() *Session {
	c := s.Clone()
	c.Origin.SessionVersion++
	return c
}

// BuildAnswer answers offer with what local supports (RFC 3264 §6): one m-line
// per offered m-line in the same order; for each, the offered codecs we also
// support with the offerer's payload type numbers and order, telephone-event
// with its fmtp when both sides do it, our ptime, and the §6.1 direction.
// Streams we cannot take are answered with port 0. It returns the answer and
// the negotiated streams; when no offered stream is acceptable the error is a
// *NegotiationError (488).
func BuildAnswer(offer *Session, local *Local) (*Session, []Stream, error) {
	if offer == nil {
		return nil, nil, errors.New("sdp: nil offer")
	}
	if err := local.validate(); err != nil {
		return nil, nil, err
	}
	ans := local.newSession()
	used := make([]bool, len(local.Media))
	streams := make([]Stream, len(offer.Media))
	accepted := 0
	warn := 0
	var why []string
	for i, om := range offer.Media {
		am, st, w, reason := answerMedia(offer, om, local, used)
		st.Index = i
		streams[i] = st
		ans.Media = append(ans.Media, am)
		if reason == "" {
			accepted++
			continue
		}
		if warn == 0 && w != 0 {
			warn = w
		}
		why = append(why, "m="+strconv.Itoa(i)+" "+om.Type+": "+reason)
	}
	if len(offer.Media) > 0 && accepted == 0 {
		if warn == 0 {
			warn = warnMediaType
		}
		return nil, nil, &NegotiationError{Code: 488, Reason: "Not Acceptable Here", Warning: warn, Text: strings.Join(why, "; ")}
	}
	return ans, streams, nil
}

// answerMedia answers one offered m-line. reason is "" when accepted;
// otherwise the returned media is the port-0 rejection and warn explains it.
func answerMedia(offer *Session, om *Media, local *Local, used []bool) (am *Media, st Stream, warn int, reason string) {
	st = Stream{Type: om.Type, Proto: om.Proto, Rejected: true, RemotePort: om.Port}
	reject := func(w int, r string) (*Media, Stream, int, string) {
		// RFC 3264 §6: a rejected stream keeps its media type and proto, has
		// port 0 and at least one format; echoing the offer's is simplest.
		return &Media{Type: om.Type, Proto: om.Proto, Formats: cloneSlice(om.Formats)}, st, w, r
	}
	if om.Port == 0 {
		return reject(0, "disabled by the offerer")
	}
	j := -1
	for k := range local.Media {
		if !used[k] && strings.EqualFold(local.Media[k].Type, om.Type) {
			j = k
			break
		}
	}
	if j < 0 {
		return reject(warnMediaType, "media type not supported")
	}
	lm := &local.Media[j]
	if !om.IsRTP() || !containsFold(lm.protos(), om.Proto) {
		return reject(warnTransport, "transport "+om.Proto+" not supported")
	}
	conn := offer.MediaConnection(om)
	if conn == nil {
		return reject(0, "no c= line")
	}

	// Offered codecs we support, in the offerer's order with its numbers.
	var common, events []Codec
	var seen [128]bool
	for _, f := range om.Formats {
		pt, ok := parsePT(f)
		if !ok || seen[pt] {
			continue
		}
		seen[pt] = true
		oc, ok := om.Codec(pt)
		if !ok {
			continue
		}
		if oc.IsTelephoneEvent() {
			if lm.TelephoneEvent {
				events = append(events, oc)
			}
			continue
		}
		for _, lc := range lm.Codecs {
			if lc.Same(oc) {
				c := oc
				if lc.Fmtp != "" {
					c.Fmtp = lc.Fmtp
				}
				common = append(common, c)
				break
			}
		}
	}
	if len(common) == 0 {
		return reject(warnFormat, "no common codec")
	}
	// RFC 4733 §2.1: events use the audio codec's clock; a telephone-event
	// at a rate none of the agreed codecs has could not be sent.
	var dtmf []Codec
	for _, e := range events {
		for _, c := range common {
			if c.ClockRate == e.ClockRate {
				dtmf = append(dtmf, e)
				break
			}
		}
	}
	used[j] = true

	od := offer.Direction(om)
	if holdAddress(offer, om, conn) {
		od = makeDirection(od.Sends(), false)
	}
	ad := intersect(lm.direction(local), od.Reverse())
	mux := lm.RTCPMux && om.Attributes.Has("rtcp-mux")

	am = &Media{Type: om.Type, Port: lm.Port, Proto: om.Proto}
	if lm.Address.IsValid() && lm.Address.Unmap() != local.Address.Unmap() {
		am.Connection = connFor(lm.Address)
	}
	// Formats in offer order: common codecs and events interleaved as offered.
	var agreed []Codec
	for _, f := range om.Formats {
		pt, ok := parsePT(f)
		if !ok {
			continue
		}
		for _, c := range common {
			if c.PayloadType == pt {
				agreed = append(agreed, c)
			}
		}
		for _, c := range dtmf {
			if c.PayloadType == pt {
				agreed = append(agreed, c)
			}
		}
	}
	for _, c := range agreed {
		am.Formats = append(am.Formats, strconv.Itoa(int(c.PayloadType)))
		am.Attributes = appendCodecAttrs(am.Attributes, c, c.Fmtp)
	}
	am.Attributes = appendStreamAttrs(am.Attributes, lm.Ptime, mux, ad)

	st.Rejected = false
	st.Codec = common[0]
	if f, ok := om.Fmtp(common[0].PayloadType); ok {
		st.Codec.Fmtp = f // we send, so the receiver's (offerer's) parameters apply
	}
	st.Codecs = common
	st.TelephoneEvent = pickEvent(dtmf, st.Codec.ClockRate)
	st.RemoteHost = conn.Address
	st.RemoteAddr, _ = offer.RTPAddr(om)
	st.LocalPort = lm.Port
	st.Direction = ad
	st.RemoteDirection = offer.Direction(om)
	st.Ptime, _ = om.Ptime()
	st.RTCPMux = mux
	return am, st, 0, ""
}

// holdAddress reports whether conn is the RFC 2543 hold address: c=0.0.0.0
// (or ::) means "do not send to me" (RFC 3264 §8.4), which old phones still
// use for hold. With ICE the same address only says "candidates follow"
// (RFC 8839 §4.2.1), so it is not a hold there.
func holdAddress(s *Session, m *Media, conn *Connection) bool {
	a, err := netip.ParseAddr(conn.Address)
	if err != nil || !a.IsUnspecified() {
		return false
	}
	return !m.Attributes.Has("ice-ufrag") && !s.Attributes.Has("ice-ufrag")
}

func pickEvent(events []Codec, rate int) *Codec {
	for i := range events {
		if events[i].ClockRate == rate {
			e := events[i]
			return &e
		}
	}
	if len(events) > 0 {
		e := events[0]
		return &e
	}
	return nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// ProcessAnswer checks the answer to our offer (RFC 3264 §7) and returns the
// negotiated streams. The answer must have as many m-lines as the offer, of
// the same types, and list only payload types we offered, mapped to the same
// codecs; otherwise the error wraps ErrBadAnswer and the call's media cannot
// be set up (the user agent should end the call).
func ProcessAnswer(offer, answer *Session) ([]Stream, error) {
	if offer == nil || answer == nil {
		return nil, fmt.Errorf("%w: missing description", ErrBadAnswer)
	}
	if len(answer.Media) != len(offer.Media) {
		return nil, fmt.Errorf("%w: answer has %d m-lines, offer had %d", ErrBadAnswer, len(answer.Media), len(offer.Media))
	}
	streams := make([]Stream, len(offer.Media))
	for i, om := range offer.Media {
		am := answer.Media[i]
		st := &streams[i]
		*st = Stream{Index: i, Type: om.Type, Proto: am.Proto, LocalPort: om.Port, RemotePort: am.Port, Rejected: true}
		if !strings.EqualFold(am.Type, om.Type) {
			return nil, fmt.Errorf("%w: m=%d is %s in the answer but %s in the offer", ErrBadAnswer, i, am.Type, om.Type)
		}
		if am.Port == 0 || om.Port == 0 {
			continue // rejected, or a stream we had disabled
		}
		conn := answer.MediaConnection(am)
		if conn == nil {
			return nil, fmt.Errorf("%w: m=%d has no c= line", ErrBadAnswer, i)
		}
		if om.IsRTP() {
			if err := answerCodecs(st, om, am); err != nil {
				return nil, fmt.Errorf("%w: m=%d: %v", ErrBadAnswer, i, err)
			}
		}
		rd := answer.Direction(am)
		st.RemoteDirection = rd
		if holdAddress(answer, am, conn) {
			rd = makeDirection(rd.Sends(), false)
		}
		// Take only what both our offer and the answer allow, so a
		// non-conforming answer (sendonly to our sendonly) cannot make us
		// send or expect media we did not agree to.
		st.Direction = intersect(offer.Direction(om), rd.Reverse())
		st.Rejected = false
		st.RemoteHost = conn.Address
		st.RemoteAddr, _ = answer.RTPAddr(am)
		st.Ptime, _ = am.Ptime()
		st.RTCPMux = om.Attributes.Has("rtcp-mux") && am.Attributes.Has("rtcp-mux")
	}
	return streams, nil
}

// answerCodecs fills the codec fields of st from an answered RTP m-line.
func answerCodecs(st *Stream, om, am *Media) error {
	var offered [128]bool
	for _, f := range om.Formats {
		if pt, ok := parsePT(f); ok {
			offered[pt] = true
		}
	}
	var events []Codec
	for _, f := range am.Formats {
		pt, ok := parsePT(f)
		if !ok {
			return fmt.Errorf("format %q is not a payload type", f)
		}
		if !offered[pt] {
			return fmt.Errorf("payload type %d was not offered", pt)
		}
		oc, okOffer := om.Codec(pt)
		ac, okAnswer := am.Codec(pt)
		switch {
		case okOffer && okAnswer && !ac.Same(oc):
			return fmt.Errorf("payload type %d is %v in the answer but %v in the offer", pt, ac, oc)
		case !okAnswer && okOffer:
			// RFC 3264 §6.1 keeps the offer's mapping; an answer that leaves
			// out the rtpmap still means our codec.
			ac = oc
			ac.Fmtp, _ = am.Fmtp(pt)
		case !okAnswer:
			continue // neither side says what it is; nothing we can send
		}
		if ac.IsTelephoneEvent() {
			events = append(events, ac)
		} else {
			st.Codecs = append(st.Codecs, ac)
		}
	}
	if len(st.Codecs) == 0 {
		return errors.New("answer accepts the stream but lists no codec")
	}
	st.Codec = st.Codecs[0]
	st.TelephoneEvent = pickEvent(events, st.Codec.ClockRate)
	return nil
}
