package admin

import (
	"bytes"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-sip/parley/transport"
)

// Default capture bounds.
const (
	DefaultCaptureCalls = 1000
	DefaultCaptureBytes = 16 << 20
	// MaxCallMessages bounds the messages kept per call, so that the
	// records (about 80 bytes each) stay bounded too: at most
	// calls × MaxCallMessages of them. A call with more is pathological
	// (a flood on one Call-ID); its later messages are counted, not kept.
	MaxCallMessages = 512
)

// Capture keeps the recent SIP messages of each call (by Call-ID) in one
// byte ring of fixed size: the wire bytes are copied in as they are, with
// no parsing beyond finding the Call-ID, so the cost per message is a scan
// of the header names, a lock and a copy. When the ring or the call count
// is full, the oldest call (by its first message) is dropped whole; the
// bytes of its later messages become dead space the ring's tail passes
// over, so memory stays at the configured size exactly.
//
// Capture implements transport.Tap.
type Capture struct {
	maxCalls int
	// base is when the capture was made; messages are stamped with the
	// monotonic time since (one clock read, half the cost of time.Now).
	base  time.Time
	since func() time.Duration
	onNew func() // called (under no lock) when a call is first seen; may be nil

	mu    sync.Mutex
	buf   []byte
	head  int64 // bytes ever written (absolute offset of the next byte)
	calls map[string]*capturedCall
	order []*capturedCall // by first message, oldest first, from order[first]
	first int
	seq   uint64

	stats struct {
		messages, dropped, tooLarge, noCallID, callsDropped, callFull atomic.Uint64
	}
}

// CaptureStats are the capture's counters since it was made.
type CaptureStats struct {
	Messages     uint64 // messages kept
	NoCallID     uint64 // messages without a Call-ID (not kept)
	TooLarge     uint64 // messages larger than a quarter of the ring (not kept)
	CallsDropped uint64 // calls dropped to make room
	CallFull     uint64 // messages not kept because their call had MaxCallMessages
	Calls        int    // calls held now
	Bytes        int    // bytes between the ring's tail and head now
	Capacity     int    // the ring's size
}

type capturedCall struct {
	id    string
	seq   uint64 // order of first appearance
	first time.Duration
	last  time.Duration
	msgs  []capturedMsg
}

// capturedMsg holds no pointers, so that the garbage collector neither
// scans nor write-barriers the per-call slices.
type capturedMsg struct {
	off           int64
	at            time.Duration // since Capture.base
	n             int32
	dir           transport.Direction
	transport     uint8
	local, remote packedAddr
}

// packedAddr is a netip.AddrPort without its pointer.
type packedAddr struct {
	ip   [16]byte
	port uint16
	v4   bool
}

func pack(a netip.AddrPort) packedAddr {
	ip := a.Addr()
	return packedAddr{ip: ip.As16(), port: a.Port(), v4: ip.Is4() || ip.Is4In6()}
}

func (p packedAddr) unpack() netip.AddrPort {
	if p.ip == ([16]byte{}) && p.port == 0 {
		return netip.AddrPort{}
	}
	a := netip.AddrFrom16(p.ip)
	if p.v4 {
		a = a.Unmap()
	}
	return netip.AddrPortFrom(a, p.port)
}

// transports are the codes of capturedMsg.transport.
var transports = [...]string{"", transport.UDP, transport.TCP, transport.TLS, transport.WS, transport.WSS, transport.SCTP}

func transportCode(t string) uint8 {
	for i, s := range transports {
		if s == t {
			return uint8(i)
		}
	}
	return 0
}

// NewCapture makes a capture holding at most calls calls and bytes bytes
// (zero values take the defaults).
func NewCapture(calls, size int) *Capture {
	if calls <= 0 {
		calls = DefaultCaptureCalls
	}
	if size <= 0 {
		size = DefaultCaptureBytes
	}
	c := &Capture{maxCalls: calls, base: time.Now(), buf: make([]byte, size), calls: make(map[string]*capturedCall, calls)}
	c.since = func() time.Duration { return time.Since(c.base) }
	return c
}

// Tap implements transport.Tap: it copies raw into the ring under its
// Call-ID.
func (c *Capture) Tap(dir transport.Direction, tp string, local, remote netip.AddrPort, raw []byte) {
	id := CallID(raw)
	if id == nil {
		c.stats.noCallID.Add(1)
		return
	}
	n := len(raw)
	if n > len(c.buf)/4 {
		c.stats.tooLarge.Add(1)
		return
	}
	now := c.since()
	isNew := false
	c.mu.Lock()
	// Keep each message contiguous: skip the ring's end when it does not fit.
	pos := int(c.head % int64(len(c.buf)))
	start := c.head
	if pos+n > len(c.buf) {
		start += int64(len(c.buf) - pos)
		pos = 0
	}
	for c.first < len(c.order) && start+int64(n)-c.order[c.first].msgs[0].off > int64(len(c.buf)) {
		c.dropOldest()
	}
	call := c.calls[string(id)] // no allocation for the lookup
	if call != nil && len(call.msgs) >= MaxCallMessages {
		c.mu.Unlock()
		c.stats.callFull.Add(1)
		return
	}
	if call == nil {
		for len(c.calls) >= c.maxCalls {
			c.dropOldest()
		}
		c.seq++
		// 16: a call through the proxy is 13-14 messages.
		call = &capturedCall{id: string(id), seq: c.seq, first: now, msgs: make([]capturedMsg, 0, 16)}
		c.calls[call.id] = call
		c.order = append(c.order, call)
		isNew = true
	}
	copy(c.buf[pos:], raw)
	c.head = start + int64(n)
	call.last = now
	call.msgs = append(call.msgs, capturedMsg{off: start, n: int32(n), dir: dir, transport: transportCode(tp), at: now, local: pack(local), remote: pack(remote)})
	c.mu.Unlock()
	c.stats.messages.Add(1)
	if isNew && c.onNew != nil {
		c.onNew()
	}
}

// dropOldest removes the call seen first; c.mu is held.
func (c *Capture) dropOldest() {
	old := c.order[c.first]
	c.order[c.first] = nil
	c.first++
	delete(c.calls, old.id)
	c.stats.callsDropped.Add(1)
	// Compact the queue once its dead front is as long as its live part.
	if c.first > 64 && c.first*2 > len(c.order) {
		c.order = append(c.order[:0], c.order[c.first:]...)
		c.first = 0
	}
}

// Stats returns the capture's counters and sizes.
func (c *Capture) Stats() CaptureStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := CaptureStats{
		Messages: c.stats.messages.Load(), NoCallID: c.stats.noCallID.Load(), TooLarge: c.stats.tooLarge.Load(),
		CallsDropped: c.stats.callsDropped.Load(), CallFull: c.stats.callFull.Load(), Calls: len(c.calls), Capacity: len(c.buf),
	}
	if c.first < len(c.order) {
		st.Bytes = int(c.head - c.order[c.first].msgs[0].off)
	}
	return st
}

// Message is one captured message, copied out of the ring.
type Message struct {
	Dir       transport.Direction
	Transport string
	At        time.Time
	Local     netip.AddrPort
	Remote    netip.AddrPort
	Raw       []byte
}

// CallSummary names one captured call.
type CallSummary struct {
	CallID   string
	Seq      uint64
	First    time.Time
	Last     time.Time
	Messages int
	FirstMsg []byte // the first message's bytes (for method, From, To)
	Statuses []int  // the status codes of the responses, in order
}

// Calls returns the captured calls, newest first, at most limit (0: all).
func (c *Capture) Calls(limit int) []CallSummary {
	c.mu.Lock()
	defer c.mu.Unlock()
	live := c.order[c.first:]
	if limit <= 0 || limit > len(live) {
		limit = len(live)
	}
	out := make([]CallSummary, 0, limit)
	for i := len(live) - 1; i >= 0 && len(out) < limit; i-- {
		call := live[i]
		s := CallSummary{CallID: call.id, Seq: call.seq, First: c.base.Add(call.first), Last: c.base.Add(call.last), Messages: len(call.msgs)}
		s.FirstMsg = bytes.Clone(c.bytes(call.msgs[0]))
		for _, m := range call.msgs {
			if code := statusCode(c.bytes(m)); code > 0 {
				s.Statuses = append(s.Statuses, code)
			}
		}
		out = append(out, s)
	}
	return out
}

// Messages returns a copy of the messages of one call in the order they
// were seen, or false when the call is not (or no longer) held.
func (c *Capture) Messages(callID string) ([]Message, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	call := c.calls[callID]
	if call == nil {
		return nil, false
	}
	out := make([]Message, len(call.msgs))
	for i, m := range call.msgs {
		out[i] = Message{Dir: m.dir, Transport: transports[m.transport], At: c.base.Add(m.at), Local: m.local.unpack(), Remote: m.remote.unpack(), Raw: bytes.Clone(c.bytes(m))}
	}
	return out, true
}

func (c *Capture) bytes(m capturedMsg) []byte {
	pos := int(m.off % int64(len(c.buf)))
	return c.buf[pos : pos+int(m.n)]
}

// statusCode returns the status of a response's first line ("SIP/2.0 200
// OK"), 0 for a request.
func statusCode(b []byte) int {
	if len(b) < 12 || !bytes.HasPrefix(b, []byte("SIP/2.0 ")) {
		return 0
	}
	code := 0
	for _, d := range b[8:11] {
		if d < '0' || d > '9' {
			return 0
		}
		code = code*10 + int(d-'0')
	}
	return code
}

// CallID returns the Call-ID value of a raw SIP message (the long form
// "Call-ID" or the compact "i", any case, §7.3.3), or nil. It scans header
// names only up to the blank line and allocates nothing; the result
// aliases raw.
func CallID(raw []byte) []byte {
	i := bytes.IndexByte(raw, '\n')
	for i >= 0 && i+1 < len(raw) {
		line := raw[i+1:]
		if line[0] == '\r' || line[0] == '\n' {
			return nil // end of headers
		}
		end := bytes.IndexByte(line, '\n')
		if end < 0 {
			end = len(line)
		}
		l := line[:end]
		var rest []byte
		switch line[0] | 0x20 {
		case 'c':
			if equalFoldPrefix(l, "call-id") {
				rest = l[7:]
			}
		case 'i':
			rest = l[1:]
		}
		if rest != nil {
			rest = bytes.TrimLeft(rest, " \t")
			if len(rest) > 0 && rest[0] == ':' {
				v := bytes.TrimSpace(rest[1:])
				if len(v) > 0 {
					return v
				}
				return nil
			}
		}
		if end == len(line) {
			return nil
		}
		i += 1 + end
	}
	return nil
}

// equalFoldPrefix reports whether b starts with the lower-case ASCII word
// p in any case.
func equalFoldPrefix(b []byte, p string) bool {
	if len(b) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != p[i] {
			return false
		}
	}
	return true
}
