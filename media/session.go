package media

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// Config configures a Session. The zero value is usable: PCMU, 20 ms,
// any free even port on all IPv4 addresses, RTCP on the next port.
type Config struct {
	// LocalAddr is the IP address to bind; the zero value binds 0.0.0.0.
	LocalAddr netip.Addr
	// PortMin and PortMax bound the RTP port (inclusive). RTP gets an even
	// port and RTCP the odd one above it (RFC 3550 §11) unless RTCPMux is
	// set. Both zero: any free port the system gives.
	PortMin, PortMax int
	// Ports, when set, is the process's port allocator: the session takes
	// its pair from it (PortMin and PortMax are then ignored) and gives it
	// back on Close, so sessions and relayed calls share one range.
	Ports *PortAllocator
	// RTCPMux sends and receives RTCP on the RTP port (RFC 5761).
	RTCPMux bool
	// Codec defaults to PCMU.
	Codec Codec
	// Ptime is the packet time; default 20 ms.
	Ptime time.Duration
	// DTMFPayloadType is the telephone-event payload type negotiated in
	// SDP; 0 means 101, the customary value.
	DTMFPayloadType uint8
	// Symmetric enables symmetric RTP (RFC 4961): the remote address is
	// latched from the first packet received, which is how media gets
	// through a NAT in front of the far end. After latching, packets from
	// other addresses are ignored unless they carry a new stream.
	Symmetric bool
	// JitterMin and JitterMax bound the adaptive playout delay; default
	// 40 ms and 200 ms. Equal values give a fixed delay.
	JitterMin, JitterMax time.Duration
	// RTCPInterval is the mean report interval; default 5 s (RFC 3550
	// §6.2), randomised by a factor in [0.5, 1.5] (§6.3.1).
	RTCPInterval time.Duration
	// CNAME is the SDES canonical name; default a random one.
	CNAME string
	// OnDTMF, if set, is called once per received telephone event, from
	// the session's goroutines: it must not block.
	OnDTMF func(DTMFEvent)
}

// Stats is a snapshot of a session's counters.
type Stats struct {
	PacketsSent, BytesSent         uint64 // RTP packets and payload octets sent
	PacketsReceived, BytesReceived uint64 // valid RTP packets and payload octets received
	Expected                       uint64 // packets expected from the current stream (§A.3)
	Lost                           int64  // cumulative packets lost (§A.3); duplicates may make it negative
	FractionLost                   float64
	JitterMs                       float64 // interarrival jitter (§A.8) in milliseconds
	Late                           uint64  // packets that arrived after their playout time
	Duplicates                     uint64
	Discarded                      uint64 // invalid, wrong payload type / SSRC / source, or dropped by the full buffer
	Concealed                      uint64 // frames played out as concealment
	SendLate                       uint64 // packets sent more than half a packet time behind schedule
	RTCPSent, RTCPReceived         uint64
	// What the far end reports about our stream in its RTCP reports.
	RemoteFractionLost float64
	RemoteLost         int64
	RemoteJitterMs     float64
	RTT                time.Duration // from the last report block with LSR/DLSR; 0 if unknown
	ByeReceived        bool
}

// Session is one RTP/RTCP media stream on UDP: it sends audio from a Source
// paced by its own clock and plays received audio into a Sink through a
// jitter buffer. All methods are safe for concurrent use.
type Session struct {
	cfg       Config
	codec     Codec
	rtpConn   *net.UDPConn
	rtcpConn  *net.UDPConn // nil with rtcp-mux
	localRTP  netip.AddrPort
	localRTCP netip.AddrPort
	rx        *receiver
	ssrc      uint32
	spf       int    // samples per frame
	tsPerPkt  uint32 // timestamp units per frame

	// srcMu and sinkMu are held by the clock goroutine while it calls the
	// Source or Sink, so once Play or Record returns the old one is no
	// longer in use and the caller may close it.
	srcMu   sync.Mutex
	src     Source
	srcDone chan error
	sinkMu  sync.Mutex
	sink    Sink

	mu         sync.Mutex
	remoteRTP  netip.AddrPort
	remoteRTCP netip.AddrPort
	remoteRep  rtcp.ReceptionReport
	haveRep    bool
	rtt        time.Duration

	dtmfQ chan *dtmfRequest

	// Owned by the clock goroutine.
	hdr       rtp.Header
	sendBuf   []byte
	pcm       []int16
	outPCM    []int16
	talking   bool // the last frame was sent: no marker on the next
	dtmfCur   *dtmfRequest
	dtmfState dtmfSendState
	start     time.Time // media clock origin
	tsBase    uint32    // RTP timestamp at start
	sentAt    [2]uint64 // packetsSent at the last two reports

	packetsSent, bytesSent atomic.Uint64
	sendLate               atomic.Uint64
	rtcpSent, rtcpRecv     atomic.Uint64

	closeOnce   sync.Once
	releaseOnce sync.Once
	done        chan struct{}
	wg          sync.WaitGroup
}

type dtmfRequest struct {
	digits   string
	duration time.Duration
	done     chan struct{}
}

// dtmfSendState tracks the digit being sent by the clock goroutine.
type dtmfSendState struct {
	active  bool
	digit   int    // index into the request's digits
	event   uint8  // event code
	ts      uint32 // the event's timestamp (its start)
	elapsed uint32 // duration so far, timestamp units
	total   uint32 // intended duration
	ends    int    // end packets sent
	gap     int    // frames of pause left before the next digit
}

// Errors of the session API.
var (
	ErrClosed   = errors.New("media: session closed")
	ErrNoRemote = errors.New("media: remote address not set")
)

// NewSession binds the session's socket(s) and starts its goroutines. The
// session receives at once; it sends once SetRemote (or symmetric latching)
// has given it a destination and Play a Source.
func NewSession(cfg Config) (*Session, error) {
	if cfg.Codec == nil {
		cfg.Codec = PCMU
	}
	if cfg.Ptime <= 0 {
		cfg.Ptime = 20 * time.Millisecond
	}
	if cfg.DTMFPayloadType == 0 {
		cfg.DTMFPayloadType = 101
	}
	if cfg.DTMFPayloadType > 127 || cfg.DTMFPayloadType == cfg.Codec.PayloadType() {
		return nil, fmt.Errorf("media: DTMF payload type %d is invalid", cfg.DTMFPayloadType)
	}
	if cfg.JitterMin <= 0 {
		cfg.JitterMin = 40 * time.Millisecond
	}
	if cfg.JitterMax <= 0 {
		cfg.JitterMax = 200 * time.Millisecond
	}
	if cfg.JitterMax < cfg.JitterMin {
		cfg.JitterMax = cfg.JitterMin
	}
	if cfg.RTCPInterval <= 0 {
		cfg.RTCPInterval = 5 * time.Second
	}
	if cfg.CNAME == "" {
		cfg.CNAME = fmt.Sprintf("parley-%08x", rand.Uint32())
	}
	spf := cfg.Codec.SamplesPerFrame(cfg.Ptime)
	if spf <= 0 || cfg.Codec.MaxPayloadSize(spf) > maxPayload {
		return nil, fmt.Errorf("media: packet time %v is out of range", cfg.Ptime)
	}
	if !cfg.LocalAddr.IsValid() {
		cfg.LocalAddr = netip.IPv4Unspecified()
	}
	var rtpConn, rtcpConn *net.UDPConn
	var err error
	if cfg.Ports != nil {
		rtpConn, rtcpConn, err = listenAllocated(cfg.Ports, cfg.LocalAddr, cfg.RTCPMux)
	} else {
		rtpConn, rtcpConn, err = listenPair(cfg.LocalAddr, cfg.PortMin, cfg.PortMax, cfg.RTCPMux)
	}
	if err != nil {
		return nil, err
	}
	s := &Session{
		cfg:      cfg,
		codec:    cfg.Codec,
		rtpConn:  rtpConn,
		rtcpConn: rtcpConn,
		localRTP: rtpConn.LocalAddr().(*net.UDPAddr).AddrPort(),
		rx:       newReceiver(cfg.Codec, cfg.DTMFPayloadType, cfg.Ptime, cfg.JitterMin, cfg.JitterMax, cfg.Symmetric),
		// RFC 3550 §5.1: SSRC, initial sequence number and timestamp are
		// random (the latter two make known-plaintext attacks harder).
		ssrc:     rand.Uint32(),
		spf:      spf,
		tsPerPkt: uint32(int64(cfg.Ptime) * int64(cfg.Codec.ClockRate()) / int64(time.Second)),
		dtmfQ:    make(chan *dtmfRequest, 16),
		done:     make(chan struct{}),
	}
	s.localRTCP = s.localRTP
	if rtcpConn != nil {
		s.localRTCP = rtcpConn.LocalAddr().(*net.UDPAddr).AddrPort()
	}
	s.hdr = rtp.Header{
		Version:        2,
		PayloadType:    cfg.Codec.PayloadType(),
		SequenceNumber: uint16(rand.Uint32()),
		Timestamp:      rand.Uint32(),
		SSRC:           s.ssrc,
	}
	s.tsBase = s.hdr.Timestamp
	s.start = time.Now()
	s.sendBuf = make([]byte, 12+maxPayload)
	s.pcm = make([]int16, spf)
	s.outPCM = make([]int16, spf)

	s.wg.Add(2)
	go s.readLoop(rtpConn, true)
	go s.clockLoop()
	if rtcpConn != nil {
		s.wg.Add(1)
		go s.readLoop(rtcpConn, false)
	}
	return s, nil
}

// listenPair binds the RTP socket (and the RTCP one on the next port unless
// mux) on an even port in [min, max], starting at a random point so
// concurrent sessions do not all race for the lowest port.
func listenPair(ip netip.Addr, lo, hi int, mux bool) (*net.UDPConn, *net.UDPConn, error) {
	try := func(port int) (*net.UDPConn, *net.UDPConn, bool) {
		c1, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
		if err != nil {
			return nil, nil, false
		}
		p := c1.LocalAddr().(*net.UDPAddr).Port
		if mux {
			return c1, nil, true
		}
		if p%2 != 0 || p >= 65535 {
			c1.Close()
			return nil, nil, false
		}
		c2, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(p+1))))
		if err != nil {
			c1.Close()
			return nil, nil, false
		}
		return c1, c2, true
	}
	if lo == 0 && hi == 0 {
		for range 200 {
			if a, b, ok := try(0); ok {
				return a, b, nil
			}
		}
		return nil, nil, ErrNoPorts
	}
	if lo < 1 || hi > 65535 || hi < lo {
		return nil, nil, fmt.Errorf("media: invalid port range %d-%d", lo, hi)
	}
	lo += lo & 1
	n := (hi-lo)/2 + 1
	if !mux && lo+2*(n-1)+1 > hi {
		n-- // the last even port has no odd partner in range
	}
	if n <= 0 {
		return nil, nil, fmt.Errorf("%w %d-%d", ErrNoPorts, lo, hi)
	}
	start := rand.IntN(n)
	for i := range n {
		if a, b, ok := try(lo + 2*((start+i)%n)); ok {
			return a, b, nil
		}
	}
	return nil, nil, fmt.Errorf("%w %d-%d", ErrNoPorts, lo, hi)
}

// listenAllocated binds the pair the allocator hands out.
func listenAllocated(a *PortAllocator, ip netip.Addr, mux bool) (rtpConn, rtcpConn *net.UDPConn, err error) {
	_, err = a.Acquire(func(port int) error {
		c1, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
		if err != nil {
			return err
		}
		if mux {
			rtpConn = c1
			return nil
		}
		c2, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port+1))))
		if err != nil {
			c1.Close()
			return err
		}
		rtpConn, rtcpConn = c1, c2
		return nil
	})
	return rtpConn, rtcpConn, err
}

// LocalAddr is the bound RTP address (for the SDP m= line and c= line).
func (s *Session) LocalAddr() netip.AddrPort { return s.localRTP }

// LocalRTCPAddr is the bound RTCP address; equal to LocalAddr with rtcp-mux.
func (s *Session) LocalRTCPAddr() netip.AddrPort { return s.localRTCP }

// SSRC is our synchronisation source identifier.
func (s *Session) SSRC() uint32 { return s.ssrc }

// Codec is the session's codec.
func (s *Session) Codec() Codec { return s.codec }

// SetRemote sets where to send RTP and RTCP, normally from the peer's SDP.
// A zero rtcpAddr means RTP port + 1, or the RTP address with rtcp-mux.
// With Symmetric set, this is a starting point that the first received
// packet overrides; calling SetRemote again (a re-INVITE) re-arms latching.
func (s *Session) SetRemote(rtpAddr, rtcpAddr netip.AddrPort) {
	if !rtcpAddr.IsValid() {
		rtcpAddr = rtpAddr
		if !s.cfg.RTCPMux && rtpAddr.IsValid() {
			rtcpAddr = netip.AddrPortFrom(rtpAddr.Addr(), rtpAddr.Port()+1)
		}
	}
	s.mu.Lock()
	s.remoteRTP, s.remoteRTCP = rtpAddr, rtcpAddr
	s.mu.Unlock()
	s.rx.unlatch()
}

// RemoteAddr returns the current RTP destination (possibly latched).
func (s *Session) RemoteAddr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.remoteRTP
}

// Play starts sending audio from src, replacing any current source (whose
// channel then receives nil; when Play returns the old source is no longer
// read and may be closed). The returned channel receives one value when
// src is exhausted (nil at io.EOF), fails (its error), is replaced (nil) or
// the session closes (ErrClosed). A nil src stops sending; the media clock
// keeps running, so the RTP timestamp jumps when sending resumes.
func (s *Session) Play(src Source) <-chan error {
	ch := make(chan error, 1)
	s.srcMu.Lock()
	defer s.srcMu.Unlock()
	if s.srcDone != nil {
		s.srcDone <- nil
	}
	s.src, s.srcDone = nil, nil
	select {
	case <-s.done:
		ch <- ErrClosed
		return ch
	default:
	}
	if src == nil {
		ch <- nil
		return ch
	}
	s.src, s.srcDone = src, ch
	return ch
}

// Record sets where received audio goes (nil: nowhere). The sink's
// WriteFrame is called from the session's clock goroutine every packet
// time; a sink that returns an error is dropped. When Record returns, the
// previous sink is no longer written to and may be closed.
func (s *Session) Record(sink Sink) {
	s.sinkMu.Lock()
	s.sink = sink
	s.sinkMu.Unlock()
}

// SendDTMF sends digits (0-9 * # A-D) as RFC 4733 telephone events, each
// lasting duration (default 100 ms, at least 40 ms) with a 50 ms pause
// between digits, and returns when all were sent. Audio from the Source is
// not sent while an event is. Cancelling ctx stops after the current digit.
func (s *Session) SendDTMF(ctx context.Context, digits string, duration time.Duration) error {
	if err := validateDigits(digits); err != nil {
		return err
	}
	if duration <= 0 {
		duration = 100 * time.Millisecond
	}
	duration = max(40*time.Millisecond, min(duration, 5*time.Second))
	req := &dtmfRequest{digits: digits, duration: duration, done: make(chan struct{})}
	select {
	case s.dtmfQ <- req:
	case <-s.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-req.done:
		return nil
	case <-s.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats returns a snapshot of the session's counters.
func (s *Session) Stats() Stats {
	st := Stats{
		PacketsSent:  s.packetsSent.Load(),
		BytesSent:    s.bytesSent.Load(),
		SendLate:     s.sendLate.Load(),
		RTCPSent:     s.rtcpSent.Load(),
		RTCPReceived: s.rtcpRecv.Load(),
	}
	r := s.rx
	r.mu.Lock()
	st.PacketsReceived, st.BytesReceived = r.packets, r.bytes
	if r.stats.started {
		st.Expected = uint64(r.stats.expected())
		st.Lost = int64(r.stats.lost())
		if st.Expected > 0 && st.Lost > 0 {
			st.FractionLost = float64(st.Lost) / float64(st.Expected)
		}
	}
	st.JitterMs = float64(r.stats.jitterTS()) * 1000 / float64(r.clockRate)
	st.Late, st.Duplicates, st.Concealed = r.jb.late, r.jb.duplicates, r.jb.concealed
	st.Discarded = r.invalid + r.wrongSSRC + r.jb.overflow
	st.ByeReceived = r.byeReceived
	r.mu.Unlock()
	s.mu.Lock()
	if s.haveRep {
		st.RemoteFractionLost = float64(s.remoteRep.FractionLost) / 256
		st.RemoteLost = int64(s.remoteRep.TotalLost)
		if st.RemoteLost >= 1<<23 {
			st.RemoteLost -= 1 << 24 // 24-bit signed
		}
		st.RemoteJitterMs = float64(s.remoteRep.Jitter) * 1000 / float64(r.clockRate)
	}
	st.RTT = s.rtt
	s.mu.Unlock()
	return st
}

// Close stops the session: it sends an RTCP BYE (RFC 3550 §6.6), closes
// the sockets and waits for its goroutines. It is safe to call twice.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
	})
	s.wg.Wait()
	if s.cfg.Ports != nil {
		s.releaseOnce.Do(func() { s.cfg.Ports.Release(int(s.localRTP.Port())) })
	}
	return nil
}

// readLoop reads one socket. On the RTP socket with rtcp-mux it tells RTP
// from RTCP by the second byte (RFC 5761 §4: RTCP packet types 192-223).
func (s *Session) readLoop(c *net.UDPConn, isRTP bool) {
	defer s.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. ICMP port unreachable surfacing on Linux
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		b := buf[:n]
		if !isRTP || (n >= 2 && b[1] >= 192 && b[1] <= 223) {
			s.handleRTCP(b, from, isRTP)
			continue
		}
		res := s.rx.handleRTP(b, from, time.Now())
		if res.latched {
			s.mu.Lock()
			s.remoteRTP = from
			if s.cfg.RTCPMux {
				s.remoteRTCP = from
			}
			s.mu.Unlock()
		}
		s.emitDTMF(res.dtmf)
	}
}

func (s *Session) emitDTMF(evs dtmfEvents) {
	if s.cfg.OnDTMF == nil {
		return
	}
	for _, e := range evs.ev[:evs.n] {
		s.cfg.OnDTMF(e)
	}
}
