package media

import (
	"net/netip"
	"sync"
	"time"

	"github.com/pion/rtp"
)

// receiver is the receive half of a Session without its socket: packet
// validation, SSRC and address latching, RFC 3550 statistics, the jitter
// buffer, DTMF detection and playout. Sessions feed it from their reader
// goroutine and drain it from their media clock; tests and fuzzers call it
// directly.
type receiver struct {
	mu sync.Mutex

	codec      Codec
	pt, dtmfPT uint8
	clockRate  int
	spf        int // samples per frame at the codec sample rate
	ptime      time.Duration
	symmetric  bool
	epoch      time.Time

	// The stream we listen to.
	haveSSRC  bool
	ssrc      uint32
	latched   bool
	from      netip.AddrPort
	candSSRC  uint32 // a different stream trying to take over
	candFrom  netip.AddrPort
	candCount int

	pkt   rtp.Packet // reused for every packet
	stats rxStats
	jb    jitterBuffer
	dtmf  dtmfDetector

	packets, bytes     uint64
	invalid, wrongSSRC uint64
	lastSRMid          uint32 // middle 32 bits of the last SR's NTP time
	lastSRAt           time.Time
	byeReceived        bool

	payload    []byte  // pop buffer
	fifo       []int16 // decoded samples waiting to be played
	last       []int16 // last frame of real audio, for concealment
	concealRun int
}

// streamSwitchCount is how many consecutive packets a different SSRC (or,
// with symmetric RTP, source address) must send, with none from the current
// stream in between, before we accept it as a new stream. A re-INVITE to a
// new media server or a restarted phone changes SSRC; a stray or spoofed
// packet does not make us drop the real stream.
const streamSwitchCount = 10

func newReceiver(codec Codec, dtmfPT uint8, ptime, minDelay, maxDelay time.Duration, symmetric bool) *receiver {
	r := &receiver{
		codec:     codec,
		pt:        codec.PayloadType(),
		dtmfPT:    dtmfPT,
		clockRate: codec.ClockRate(),
		spf:       codec.SamplesPerFrame(ptime),
		symmetric: symmetric,
		ptime:     ptime,
		epoch:     time.Now(),
	}
	tsPerFrame := uint32(int64(ptime) * int64(r.clockRate) / int64(time.Second))
	r.jb.configure(tsPerFrame, int((minDelay+ptime-1)/ptime), int(maxDelay/ptime))
	r.payload = make([]byte, maxPayload)
	// Room for one maximal packet decoded on top of a partial frame.
	r.fifo = make([]int16, 0, r.spf+maxPayload*r.codec.SampleRate()/r.clockRate*2+16)
	r.last = make([]int16, r.spf)
	return r
}

// rxResult tells the session what handling a packet changed.
type rxResult struct {
	latched bool // the remote address was (re)latched to from
	dtmf    dtmfEvents
}

// dtmfEvents is a small by-value list, so results can leave the lock
// without aliasing the detector's state or allocating.
type dtmfEvents struct {
	ev [2]DTMFEvent
	n  int
}

func (e *dtmfEvents) set(evs []DTMFEvent) { e.n = copy(e.ev[:], evs) }

// handleRTP processes one received RTP packet (not RTCP) that arrived from
// from at now. It never retains b.
func (r *receiver) handleRTP(b []byte, from netip.AddrPort, now time.Time) rxResult {
	var res rxResult
	if len(b) < 12 || b[0]>>6 != 2 {
		r.mu.Lock()
		r.invalid++
		r.mu.Unlock()
		return res
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.pkt.Unmarshal(b); err != nil {
		r.invalid++
		return res
	}
	h := &r.pkt.Header
	if h.PayloadType != r.pt && h.PayloadType != r.dtmfPT {
		r.invalid++
		return res
	}
	fromOK := !r.symmetric || !r.latched || from == r.from
	switch {
	case !r.haveSSRC:
		r.newStream(h.SSRC, from, &res)
	case h.SSRC == r.ssrc && fromOK:
		r.candCount = 0
	default:
		if h.SSRC == r.candSSRC && from == r.candFrom {
			r.candCount++
		} else {
			r.candSSRC, r.candFrom, r.candCount = h.SSRC, from, 1
		}
		if r.candCount < streamSwitchCount {
			r.wrongSSRC++
			return res
		}
		r.newStream(h.SSRC, from, &res)
	}
	if !r.stats.update(h.SequenceNumber) {
		return res // a jump not yet confirmed as a restart
	}
	r.packets++
	r.bytes += uint64(len(r.pkt.Payload))
	if h.PayloadType == r.dtmfPT {
		// Telephone events share the sequence space (for loss stats) but
		// not the audio clock, so they stay out of jitter and playout.
		var p DTMFPayload
		if p.Unmarshal(r.pkt.Payload) == nil {
			res.dtmf.set(r.dtmf.feed(h.Timestamp, p, r.clockRate))
		}
		return res
	}
	if len(r.pkt.Payload) == 0 {
		return res
	}
	arrival := uint32(now.Sub(r.epoch) * time.Duration(r.clockRate) / time.Second)
	r.stats.updateJitter(arrival, h.Timestamp)
	r.jb.push(h.SequenceNumber, h.Timestamp, r.pkt.Payload)
	return res
}

func (r *receiver) newStream(ssrc uint32, from netip.AddrPort, res *rxResult) {
	r.haveSSRC, r.ssrc, r.candCount = true, ssrc, 0
	r.stats = rxStats{}
	r.jb.reset()
	r.dtmf.reset()
	if r.symmetric {
		r.from, r.latched, res.latched = from, true, true
	}
}

// unlatch forgets the address latch (the remote moved: re-INVITE).
func (r *receiver) unlatch() {
	r.mu.Lock()
	r.latched = false
	r.mu.Unlock()
}

// bye handles an RTCP BYE for ssrc: the stream ended, and the next one may
// start at once without the switch delay.
func (r *receiver) bye(ssrc uint32) {
	r.mu.Lock()
	if r.haveSSRC && ssrc == r.ssrc {
		r.haveSSRC = false
		r.byeReceived = true
	}
	r.mu.Unlock()
}

// playout fills out with the next frame of received audio: decoded packets,
// concealment for missing ones, silence otherwise. It returns the DTMF
// events whose end packets never came.
func (r *receiver) playout(out []int16) (evs dtmfEvents) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.fifo) < len(out) {
		n, ts, kind := r.jb.pop(r.payload)
		switch kind {
		case popFrame:
			start := len(r.fifo)
			room := r.fifo[start:cap(r.fifo)]
			m, err := r.codec.Decode(room, r.payload[:n])
			if err != nil {
				m = 0
			}
			r.fifo = r.fifo[:start+m]
			if m > 0 {
				r.jb.played(ts, uint32(m*r.clockRate/r.codec.SampleRate()))
				r.concealRun = 0
				if m >= len(r.last) {
					copy(r.last, r.fifo[len(r.fifo)-len(r.last):])
				}
			}
			if m == 0 {
				// Undecodable: play a frame of silence so time moves on.
				r.fifo = r.fifo[:start+r.spf]
				clear(r.fifo[start:])
			}
		case popConceal:
			// Repeat the last frame, fading: 3 frames at -3 dB steps,
			// then silence. Cheap, and much less jarring than a gap.
			r.concealRun++
			start := len(r.fifo)
			r.fifo = r.fifo[:start+r.spf]
			dst := r.fifo[start:]
			if r.concealRun <= 3 {
				gain := int32(23170) // 0.707 in Q15
				if r.concealRun == 2 {
					gain = 16384
				} else if r.concealRun == 3 {
					gain = 11585
				}
				for i, s := range r.last {
					dst[i] = int16(int32(s) * gain >> 15)
				}
			} else {
				clear(dst)
			}
		default:
			if kind == popNone && !r.jb.playing {
				r.adaptTarget()
			}
			start := len(r.fifo)
			r.fifo = r.fifo[:start+r.spf]
			clear(r.fifo[start:])
		}
	}
	copy(out, r.fifo)
	rest := copy(r.fifo, r.fifo[len(out):])
	r.fifo = r.fifo[:rest]
	evs.set(r.dtmf.tick(r.clockRate))
	return evs
}

// adaptTarget sets the jitter buffer's target delay for the next
// talkspurt from the measured jitter: one frame plus four times the jitter
// (RFC 3550 §A.8's estimate), within the configured range.
func (r *receiver) adaptTarget() {
	jit := time.Duration(r.stats.jitterTS()) * time.Second / time.Duration(r.clockRate)
	r.jb.setTarget(int((2*r.ptime + 4*jit - 1) / r.ptime))
}
