package admin

import (
	"encoding/binary"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-sip/parley/transport"
)

// HEP v3 (the Homer Encapsulation Protocol, as heplify and Kamailio's
// siptrace send it): "HEP3", the total length, then chunks of vendor id,
// type id, length (with its 6-byte header) and value.
const (
	hepFamily    = 0x0001
	hepProto     = 0x0002
	hepSrcIP4    = 0x0003
	hepDstIP4    = 0x0004
	hepSrcIP6    = 0x0005
	hepDstIP6    = 0x0006
	hepSrcPort   = 0x0007
	hepDstPort   = 0x0008
	hepTimeSec   = 0x0009
	hepTimeUsec  = 0x000a
	hepProtoType = 0x000b // 1 = SIP
	hepAgentID   = 0x000c
	hepPayload   = 0x000f
	hepCorrID    = 0x0011
)

// DefaultHEPID is the capture agent id sent when none is configured.
const DefaultHEPID = 2001

// hepQueue is how many encoded packets wait for the sender; beyond it
// packets are dropped (and counted) rather than slowing the SIP path.
const hepQueue = 4096

// HEPExporter sends every tapped message as a HEP v3 packet over UDP. Tap
// encodes into a pooled buffer and queues it; one goroutine writes, so a
// slow collector costs drops, never SIP latency. It implements
// transport.Tap.
type HEPExporter struct {
	conn  *net.UDPConn
	id    uint32
	now   func() time.Time
	queue chan *[]byte
	pool  sync.Pool
	// stop ends the sender. The queue is never closed: a Tap already
	// running when the transport drops the exporter may still send.
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
	closed atomic.Bool
	log    *slog.Logger

	sent, dropped, errors atomic.Uint64
}

// HEPStats are the exporter's counters.
type HEPStats struct{ Sent, Dropped, Errors uint64 }

// NewHEPExporter sends to addr ("host:port") with capture agent id.
func NewHEPExporter(addr string, id uint32, log *slog.Logger) (*HEPExporter, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	conn, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		return nil, err
	}
	if id == 0 {
		id = DefaultHEPID
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &HEPExporter{conn: conn, id: id, now: time.Now, queue: make(chan *[]byte, hepQueue), stop: make(chan struct{}), done: make(chan struct{}), log: log}
	h.pool.New = func() any { b := make([]byte, 0, 2048); return &b }
	go h.run()
	return h, nil
}

func (h *HEPExporter) run() {
	defer close(h.done)
	for {
		select {
		case bp := <-h.queue:
			h.send(bp)
		case <-h.stop:
			for { // what was queued before Close
				select {
				case bp := <-h.queue:
					h.send(bp)
				default:
					return
				}
			}
		}
	}
}

func (h *HEPExporter) send(bp *[]byte) {
	if _, err := h.conn.Write(*bp); err != nil {
		if h.errors.Add(1) == 1 {
			h.log.Warn("hep: send failed", "err", err)
		}
	} else {
		h.sent.Add(1)
	}
	h.pool.Put(bp)
}

// Tap implements transport.Tap.
func (h *HEPExporter) Tap(dir transport.Direction, tp string, local, remote netip.AddrPort, raw []byte) {
	if h.closed.Load() {
		return
	}
	if len(raw) > 65000 { // HEP lengths are 16 bits
		h.dropped.Add(1)
		return
	}
	src, dst := remote, local
	if dir == transport.Sent {
		src, dst = local, remote
	}
	bp := h.pool.Get().(*[]byte)
	*bp = AppendHEP((*bp)[:0], h.id, tp, src, dst, h.now(), raw)
	select {
	case h.queue <- bp:
	default:
		h.dropped.Add(1)
		h.pool.Put(bp)
	}
}

// Stats returns the exporter's counters.
func (h *HEPExporter) Stats() HEPStats {
	return HEPStats{Sent: h.sent.Load(), Dropped: h.dropped.Load(), Errors: h.errors.Load()}
}

// Close stops the sender after the queued packets.
func (h *HEPExporter) Close() error {
	var err error
	h.once.Do(func() {
		h.closed.Store(true)
		close(h.stop)
		<-h.done
		err = h.conn.Close()
	})
	return err
}

// AppendHEP appends one HEP v3 packet carrying the SIP message raw sent
// from src to dst at t.
func AppendHEP(b []byte, agentID uint32, tp string, src, dst netip.AddrPort, t time.Time, raw []byte) []byte {
	start := len(b)
	b = append(b, 'H', 'E', 'P', '3', 0, 0)
	sa, da := src.Addr().Unmap(), dst.Addr().Unmap()
	v6 := sa.Is6() || da.Is6()
	proto := byte(17)
	if tp != transport.UDP && tp != "" {
		proto = 6 // TCP, TLS, WS, WSS travel over TCP
	}
	if v6 {
		b = hepChunk(b, hepFamily, 10)
	} else {
		b = hepChunk(b, hepFamily, 2)
	}
	b = hepChunk(b, hepProto, proto)
	if v6 {
		s, d := netip.AddrFrom16(sa.As16()).As16(), netip.AddrFrom16(da.As16()).As16()
		b = hepChunkBytes(b, hepSrcIP6, s[:])
		b = hepChunkBytes(b, hepDstIP6, d[:])
	} else {
		if !sa.IsValid() {
			sa = netip.IPv4Unspecified()
		}
		if !da.IsValid() {
			da = netip.IPv4Unspecified()
		}
		s, d := sa.As4(), da.As4()
		b = hepChunkBytes(b, hepSrcIP4, s[:])
		b = hepChunkBytes(b, hepDstIP4, d[:])
	}
	b = hepChunk16(b, hepSrcPort, src.Port())
	b = hepChunk16(b, hepDstPort, dst.Port())
	us := t.UnixMicro()
	b = hepChunk32(b, hepTimeSec, uint32(us/1e6))
	b = hepChunk32(b, hepTimeUsec, uint32(us%1e6))
	b = hepChunk(b, hepProtoType, 1)
	b = hepChunk32(b, hepAgentID, agentID)
	if id := CallID(raw); id != nil {
		b = hepChunkBytes(b, hepCorrID, id)
	}
	b = hepChunkBytes(b, hepPayload, raw)
	binary.BigEndian.PutUint16(b[start+4:], uint16(len(b)-start))
	return b
}

func hepHeader(b []byte, typ uint16, n int) []byte {
	b = append(b, 0, 0)
	b = binary.BigEndian.AppendUint16(b, typ)
	return binary.BigEndian.AppendUint16(b, uint16(6+n))
}

func hepChunk(b []byte, typ uint16, v byte) []byte { return append(hepHeader(b, typ, 1), v) }
func hepChunk16(b []byte, typ uint16, v uint16) []byte {
	return binary.BigEndian.AppendUint16(hepHeader(b, typ, 2), v)
}
func hepChunk32(b []byte, typ uint16, v uint32) []byte {
	return binary.BigEndian.AppendUint32(hepHeader(b, typ, 4), v)
}
func hepChunkBytes(b []byte, typ uint16, v []byte) []byte {
	return append(hepHeader(b, typ, len(v)), v...)
}
