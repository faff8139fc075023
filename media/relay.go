package media

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Relay forwards RTP and RTCP between the two legs of anchored calls: the
// media path of a B2BUA (or of an rtpengine-style ng control client, see
// package media/ng). Packets are not decoded: each is read, checked to look
// like RTP/RTCP (version 2, a full header), optionally has its payload type
// renumbered or its G.711 payload transcoded in place, and is sent on from
// the other leg's socket to the address that leg's media really comes from.
//
// # Streams, sides and sockets
//
// A RelayStream relays one media stream (one m= line): side A is the leg
// that sent the offer, side B the other. Each side has its own RTP socket
// (even port) and RTCP socket (port+1) from the shared PortAllocator; what
// side A's sockets receive is sent from side B's sockets, and back. A
// RelayCall groups the streams of one call, one per m= line, and rewrites
// SDP between the legs (RelayCall.Rewrite).
//
// # Latching (symmetric RTP, RFC 4961)
//
// Where a side's media is sent starts as the address in its SDP
// (SetRemote) and is replaced by the source address of the first valid
// packet that side's socket receives: a phone behind NAT is reached at the
// address its packets come from, whatever its SDP says. After that, packets
// from any other source are dropped (counted as Rejected) — a stray or
// injected stream cannot take the call over — with one exception: when the
// latched source has been silent for RelayConfig.RelatchAfter and the new
// source sends RTP with a different SSRC (a phone that changed network and
// restarted its stream), the side re-latches to it. RTCP latches the same
// way on its own socket (silence alone re-latches it, as RTCP has no stream
// of its own to compare). SetRemote (a re-INVITE) re-arms latching. The
// trade-off is the usual one: the first packet wins, so an attacker who
// guesses the port before the phone's first packet arrives can take the
// leg (RTP bleed); a relay that knows its peers are not behind NAT can pin
// them with SetRemote and Pin.
//
// # Fast path
//
// On Linux (amd64, arm64) sockets are served by a few worker goroutines
// (RelayConfig.Workers, default GOMAXPROCS), each with its own epoll set
// parked in the Go runtime's poller; a worker reads with recvmmsg and
// writes with sendmmsg using raw system calls, so thousands of calls cost
// a handful of goroutines and no allocation per packet (see relay_linux.go
// for why). Elsewhere each socket has a reader goroutine.
//
// # Telephone events, transcoding, SIP INFO
//
// RFC 4733 telephone-event packets are relayed like any other payload
// type; MapPayloadType renumbers them when the legs negotiated different
// numbers. SetTranscode rewrites G.711 µ-law to A-law (or back) when the
// legs share no codec: a 256-entry table per byte, in place. SetEventHook is
// the seam for converting telephone events to SIP INFO for a leg that lacks
// RFC 4733: the hook sees each packet of the chosen payload type (on the
// worker goroutine; it must copy what it keeps and not block) and the
// packet is forwarded or not as asked.
type Relay struct {
	cfg   RelayConfig
	epoch time.Time

	workers []*relayWorker
	next    atomic.Uint32 // round robin over workers

	mu     sync.Mutex
	closed bool
	open   map[*RelayStream]struct{}

	streams  atomic.Int64
	opened   atomic.Uint64
	failures atomic.Uint64
	counters relayCounters
}

// RelayConfig configures a Relay.
type RelayConfig struct {
	// LocalAddr is the IP address the relay's sockets bind to and, unless
	// AdvertiseAddr is set, the address written into rewritten SDP.
	// Required (IPv4 or IPv6; one family per relay); 0.0.0.0 or :: binds
	// every address and then needs AdvertiseAddr.
	LocalAddr netip.Addr
	// AdvertiseAddr is the address put in SDP c= lines when it differs
	// from LocalAddr (a relay behind a 1:1 NAT).
	AdvertiseAddr netip.Addr
	// Ports is the process's port allocator, shared with media.Session.
	// Required.
	Ports *PortAllocator
	// Workers is the number of goroutines serving sockets on Linux;
	// default GOMAXPROCS. Elsewhere it is ignored (a goroutine per socket).
	Workers int
	// RelatchAfter is how long the latched source must be silent before a
	// source with a new SSRC may take its place; default 2s.
	RelatchAfter time.Duration
}

// Side is one leg of a relayed stream.
type Side uint8

// The two sides: A sent the offer (the caller), B answered.
const (
	SideA Side = 0
	SideB Side = 1
)

// Other returns the opposite side.
func (s Side) Other() Side { return s ^ 1 }

func (s Side) String() string {
	if s == SideA {
		return "A"
	}
	return "B"
}

// RelayStats is a snapshot of a relay's counters.
type RelayStats struct {
	Streams      int64  // streams open now
	Opened       uint64 // streams opened since start
	OpenFailures uint64 // NewStream calls that failed (no ports, socket errors)
	Packets      uint64 // packets forwarded (RTP and RTCP)
	Bytes        uint64 // bytes forwarded
	Dropped      uint64 // not forwarded: invalid, no destination yet, send failed
	Rejected     uint64 // from a source other than the latched one
	Relatched    uint64 // a side latched to a new source after silence
}

type relayCounters struct {
	packets, bytes, dropped, rejected, relatched atomic.Uint64
}

// Errors of the relay API.
var (
	ErrRelayClosed = errors.New("media: relay closed")
	ErrNotG711     = errors.New("media: transcoding supports payload types 0 (PCMU) and 8 (PCMA) only")
)

// NewRelay starts a relay's workers.
func NewRelay(cfg RelayConfig) (*Relay, error) {
	if !cfg.LocalAddr.IsValid() {
		return nil, errors.New("media: relay needs a LocalAddr")
	}
	cfg.LocalAddr = cfg.LocalAddr.Unmap()
	if cfg.Ports == nil {
		return nil, errors.New("media: relay needs a PortAllocator")
	}
	if !cfg.AdvertiseAddr.IsValid() {
		if cfg.LocalAddr.IsUnspecified() {
			// 0.0.0.0 in a c= line means hold (RFC 3264 §8.4): the SDP
			// needs a real address.
			return nil, errors.New("media: a relay bound to an unspecified address needs an AdvertiseAddr")
		}
		cfg.AdvertiseAddr = cfg.LocalAddr
	}
	cfg.AdvertiseAddr = cfg.AdvertiseAddr.Unmap()
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.RelatchAfter <= 0 {
		cfg.RelatchAfter = 2 * time.Second
	}
	r := &Relay{cfg: cfg, epoch: time.Now(), open: make(map[*RelayStream]struct{})}
	for range cfg.Workers {
		w, err := newRelayWorker(r)
		if err != nil {
			r.Close()
			return nil, err
		}
		r.workers = append(r.workers, w)
	}
	return r, nil
}

// Addr is the address written into SDP for the relay's ports.
func (r *Relay) Addr() netip.Addr { return r.cfg.AdvertiseAddr }

// now is the relay's monotonic clock in nanoseconds.
func (r *Relay) now() int64 { return int64(time.Since(r.epoch)) }

// Stats returns a snapshot of the relay's counters.
func (r *Relay) Stats() RelayStats {
	c := &r.counters
	return RelayStats{
		Streams: r.streams.Load(), Opened: r.opened.Load(), OpenFailures: r.failures.Load(),
		Packets: c.packets.Load(), Bytes: c.bytes.Load(), Dropped: c.dropped.Load(),
		Rejected: c.rejected.Load(), Relatched: c.relatched.Load(),
	}
}

// Close closes every open stream and stops the workers.
func (r *Relay) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	open := make([]*RelayStream, 0, len(r.open))
	for s := range r.open {
		open = append(open, s)
	}
	r.mu.Unlock()
	for _, s := range open {
		s.Close()
	}
	for _, w := range r.workers {
		w.close()
	}
	return nil
}

// NewStream opens one relayed stream: two port pairs (side A's and side
// B's) from the allocator. An exhausted range gives a *sip.StatusError 503
// wrapping ErrNoPorts.
func (r *Relay) NewStream() (*RelayStream, error) {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return nil, ErrRelayClosed
	}
	w := r.workers[int(r.next.Add(1))%len(r.workers)]
	st := &RelayStream{relay: r, w: w}
	for side := range 2 {
		for kind := range 2 {
			sk := &relaySock{stream: st, side: Side(side), rtcp: kind == 1}
			st.socks[side][kind] = sk
		}
		var socks [2]sockFD
		port, err := r.cfg.Ports.Acquire(func(port int) error {
			var err error
			socks, err = openSockPair(r.cfg.LocalAddr, port)
			return err
		})
		if err != nil {
			st.releasePorts()
			r.failures.Add(1)
			return nil, err
		}
		st.ports[side] = port
		st.socks[side][0].fd, st.socks[side][1].fd = socks[0], socks[1]
		for kind := range 2 {
			st.socks[side][kind].local = netip.AddrPortFrom(r.cfg.LocalAddr, uint16(port+kind))
		}
	}
	for d := range st.dirs {
		st.dirs[d].hookPT = -1
		for pt := range st.dirs[d].ptMap {
			st.dirs[d].ptMap[pt] = uint8(pt)
		}
	}
	if err := w.add(st); err != nil {
		st.releasePorts()
		r.failures.Add(1)
		return nil, err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		w.remove(st)
		st.releasePorts()
		return nil, ErrRelayClosed
	}
	r.open[st] = struct{}{}
	r.mu.Unlock()
	r.streams.Add(1)
	r.opened.Add(1)
	return st, nil
}

// RelayStream relays one media stream between side A and side B. Its
// methods are safe for concurrent use; they take effect from the next
// packet.
type RelayStream struct {
	relay *Relay
	w     *relayWorker
	ports [2]int             // RTP port per side; 0 when not held
	socks [2][2]*relaySock   // [side][0 RTP, 1 RTCP]
	dirs  [2]relayDirection  // by the side packets come from
	stats [2]relaySideCounts // by the side packets come from; owned by the worker
	pins  [2]bool

	closeOnce sync.Once
}

// relayDirection is what happens to RTP packets from one side on their
// way to the other.
type relayDirection struct {
	mapped   bool       // ptMap or xlate differ from identity: the slow-ish path
	ptMap    [128]uint8 // payload type as received → as sent
	xlate    [128]uint8 // payload byte rewrite per received payload type: an index into g711Xlate, 0 none
	hookPT   int16      // payload type given to hook, -1 none
	hook     func(from Side, pkt []byte)
	hookDrop bool // the hooked packets are not forwarded
}

// relaySideCounts counts packets received from one side.
type relaySideCounts struct {
	packets, bytes, rejected, dropped, relatched uint64
}

// relaySock is one socket of a stream and the latching state of the side it
// faces. Its mutable fields are owned by the stream's worker (under its
// mutex).
type relaySock struct {
	stream *RelayStream
	side   Side
	rtcp   bool
	fd     sockFD
	slot   uint32 // the worker's index of the socket (Linux)
	local  netip.AddrPort

	peer     peerAddr // where packets toward this side are sent
	hasPeer  bool
	latched  bool   // peer was learned from a received packet
	lastRecv int64  // relay clock of the last packet from peer
	ssrc     uint32 // SSRC of the latched source (RTP)
}

// StreamStats is a snapshot of one direction of a stream.
type StreamStats struct {
	Packets, Bytes uint64 // received from this side and forwarded
	Rejected       uint64 // from a source other than the latched one
	Dropped        uint64 // invalid, no destination yet, or the send failed
	Relatched      uint64
	Latched        netip.AddrPort // the side's RTP source (zero before its first packet)
}

// LocalAddr returns the relay's RTP and RTCP addresses facing side: what
// that side's SDP must name (RelayCall.Rewrite does it).
func (s *RelayStream) LocalAddr(side Side) (rtp, rtcp netip.AddrPort) {
	return s.socks[side][0].local, s.socks[side][1].local
}

// SetRemote sets where side's RTP and RTCP go until its first packet is
// latched, normally the c= address and m= port of side's SDP. A zero rtcp
// means rtp's port + 1. It re-arms latching (a re-INVITE may move the
// media).
func (s *RelayStream) SetRemote(side Side, rtp, rtcp netip.AddrPort) {
	if rtp.IsValid() && !rtcp.IsValid() {
		rtcp = netip.AddrPortFrom(rtp.Addr(), rtp.Port()+1)
	}
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	for kind, ap := range [2]netip.AddrPort{rtp, rtcp} {
		sk := s.socks[side][kind]
		sk.latched = false
		sk.peer, sk.hasPeer = makePeerAddr(ap, s.relay.cfg.LocalAddr.Is6())
	}
}

// Pin stops side from latching: its media goes only to the SetRemote
// address and packets from anywhere else are rejected. For peers known not
// to be behind NAT (a trunk, a media server).
func (s *RelayStream) Pin(side Side, pinned bool) {
	s.w.mu.Lock()
	s.pins[side] = pinned
	s.w.mu.Unlock()
}

// MapPayloadType renumbers RTP payload type from to to on packets coming
// from side, for legs that negotiated different numbers for the same
// format (telephone-event is 101 on one side and 96 on the other).
func (s *RelayStream) MapPayloadType(from Side, pt, to uint8) {
	if pt > 127 || to > 127 {
		return
	}
	s.w.mu.Lock()
	d := &s.dirs[from]
	d.ptMap[pt] = to
	d.updateMapped()
	s.w.mu.Unlock()
}

// SetTranscode makes packets from side with payload type pt (0 PCMU or
// 8 PCMA) reach the other side as payload type to (the other G.711 law),
// their payload rewritten byte by byte. With pt == to the rewrite is
// removed.
func (s *RelayStream) SetTranscode(from Side, pt, to uint8) error {
	var table uint8
	switch {
	case pt == to && (pt == 0 || pt == 8):
	case pt == 0 && to == 8:
		table = 1
	case pt == 8 && to == 0:
		table = 2
	default:
		return ErrNotG711
	}
	s.w.mu.Lock()
	d := &s.dirs[from]
	d.ptMap[pt] = to
	d.xlate[pt] = table
	d.updateMapped()
	s.w.mu.Unlock()
	return nil
}

// SetEventHook gives every RTP packet of payload type pt from side to
// hook, on the relay's worker goroutine, before it is forwarded (or not,
// with drop). This is the seam for SIP INFO conversion: the PBX hooks the
// telephone-event type of a leg whose peer lacks RFC 4733, drops the
// packets and sends INFO instead (and feeds events the other way with a
// Session or its own packets). The hook must not block nor keep pkt. A nil
// hook removes it.
func (s *RelayStream) SetEventHook(from Side, pt uint8, drop bool, hook func(from Side, pkt []byte)) {
	s.w.mu.Lock()
	d := &s.dirs[from]
	d.hookPT, d.hook, d.hookDrop = -1, nil, false
	if hook != nil && pt <= 127 {
		d.hookPT, d.hook, d.hookDrop = int16(pt), hook, drop
	}
	d.updateMapped()
	s.w.mu.Unlock()
}

func (d *relayDirection) updateMapped() {
	d.mapped = d.hook != nil
	for pt := range d.ptMap {
		if d.ptMap[pt] != uint8(pt) || d.xlate[pt] != 0 {
			d.mapped = true
		}
	}
}

// Stats returns the counters of packets received from side.
func (s *RelayStream) Stats(side Side) StreamStats {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	c := s.stats[side]
	st := StreamStats{Packets: c.packets, Bytes: c.bytes, Rejected: c.rejected, Dropped: c.dropped, Relatched: c.relatched}
	if sk := s.socks[side][0]; sk.latched {
		st.Latched = sk.peer.addrPort()
	}
	return st
}

// Close stops relaying, closes the four sockets and gives the ports back.
// When it returns no packet of the stream is being handled. Safe to call
// twice.
func (s *RelayStream) Close() error {
	s.closeOnce.Do(func() {
		s.w.remove(s)
		s.releasePorts()
		r := s.relay
		r.mu.Lock()
		delete(r.open, s)
		r.mu.Unlock()
		r.streams.Add(-1)
	})
	return nil
}

// releasePorts closes the sockets opened so far and gives their ports back.
func (s *RelayStream) releasePorts() {
	for side := range 2 {
		if s.ports[side] == 0 {
			continue
		}
		for kind := range 2 {
			closeSock(s.socks[side][kind].fd)
		}
		s.relay.cfg.Ports.Release(s.ports[side])
		s.ports[side] = 0
	}
}

// accept decides what happens to pkt, received by sk from src: it applies
// the latching rule and the direction's rewrites and returns the socket
// to send it from, or nil to drop it. The caller holds the worker's
// mutex; pkt is modified in place.
func (sk *relaySock) accept(pkt []byte, src *peerAddr, now int64, relatchAfter int64) *relaySock {
	st := sk.stream
	cnt := &st.stats[sk.side]
	tot := &st.w.tot
	// RTP and RTCP both start with version 2; RTCP (on its socket, or
	// multiplexed on the RTP one, RFC 5761 §4) has packet type 192-223.
	if len(pkt) < 8 || pkt[0]>>6 != 2 {
		cnt.dropped++
		tot.dropped++
		return nil
	}
	isRTCP := sk.rtcp || (pkt[1] >= 192 && pkt[1] <= 223)
	if !isRTCP && len(pkt) < 12 {
		cnt.dropped++
		tot.dropped++
		return nil
	}
	var ssrc uint32
	if isRTCP {
		ssrc = uint32(pkt[4])<<24 | uint32(pkt[5])<<16 | uint32(pkt[6])<<8 | uint32(pkt[7])
	} else {
		ssrc = uint32(pkt[8])<<24 | uint32(pkt[9])<<16 | uint32(pkt[10])<<8 | uint32(pkt[11])
	}
	switch {
	case sk.latched && sk.peer == *src:
	case !sk.latched && !st.pins[sk.side]:
		sk.peer, sk.hasPeer, sk.latched = *src, true, true
		sk.ssrc = ssrc
	case st.pins[sk.side]:
		if !sk.hasPeer || sk.peer != *src {
			cnt.rejected++
			tot.rejected++
			return nil
		}
	default:
		// Another source. Only a new stream after the latched one fell
		// silent may take over.
		if now-sk.lastRecv < relatchAfter || (!sk.rtcp && ssrc == sk.ssrc) || isRTCP != sk.rtcp {
			cnt.rejected++
			tot.rejected++
			return nil
		}
		sk.peer, sk.ssrc = *src, ssrc
		cnt.relatched++
		tot.relatched++
	}
	sk.lastRecv = now
	out := st.socks[sk.side.Other()][b2i(sk.rtcp)]
	if !out.hasPeer {
		cnt.dropped++
		tot.dropped++
		return nil
	}
	if d := &st.dirs[sk.side]; d.mapped && !isRTCP {
		pt := pkt[1] & 0x7f
		if int16(pt) == d.hookPT {
			d.hook(sk.side, pkt)
			if d.hookDrop {
				return nil
			}
		}
		if x := d.xlate[pt]; x != 0 {
			tab := g711Xlate[x]
			p, ok := rtpPayload(pkt)
			if !ok {
				cnt.dropped++
				tot.dropped++
				return nil
			}
			for i, b := range p {
				p[i] = tab[b]
			}
		}
		pkt[1] = pkt[1]&0x80 | d.ptMap[pt]
	}
	cnt.packets++
	cnt.bytes += uint64(len(pkt))
	tot.packets++
	tot.bytes += uint64(len(pkt))
	return out
}

// rtpPayload returns the payload of an RTP packet (RFC 3550 §5.1, §5.3.1):
// after the CSRC list and header extension, before the padding.
func rtpPayload(pkt []byte) ([]byte, bool) {
	off := 12 + 4*int(pkt[0]&0x0f)
	if pkt[0]&0x10 != 0 { // extension
		if len(pkt) < off+4 {
			return nil, false
		}
		off += 4 + 4*(int(pkt[off+2])<<8|int(pkt[off+3]))
	}
	end := len(pkt)
	if pkt[0]&0x20 != 0 && end > 0 { // padding
		end -= int(pkt[end-1])
	}
	if off > end {
		return nil, false
	}
	return pkt[off:end], true
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// g711Xlate are the payload rewrites of SetTranscode, by the index kept per
// payload type (the tables are in g711.go and never change after init).
var g711Xlate = [3]*[256]uint8{nil, &ulawToAlawTable, &alawToUlawTable}

func (r *Relay) String() string {
	return fmt.Sprintf("relay %v ports %d-%d", r.cfg.LocalAddr, r.cfg.Ports.lo, r.cfg.Ports.hi+1)
}
