package media

import (
	"errors"
	"io"
	"math/rand/v2"
	"net/netip"
	"time"
)

// clockLoop is the session's media clock: every packet time it sends one
// frame (audio or a telephone event), plays one frame out of the jitter
// buffer and, every few seconds, sends RTCP. Deadlines are computed from
// the start time (start + n·ptime) rather than by sleeping ptime after
// each tick, so scheduling delays never accumulate into drift, and the RTP
// timestamp is derived from n, so it tracks real time across pauses.
func (s *Session) clockLoop() {
	defer s.wg.Done()
	defer s.shutdown()
	ptime := s.cfg.Ptime
	timer := time.NewTimer(ptime)
	defer timer.Stop()
	nextRTCP := s.start.Add(s.rtcpDelay() / 2) // an early first report, as §6.2 allows
	var tick int64
	for {
		tick++
		due := s.start.Add(time.Duration(tick) * ptime)
		timer.Reset(time.Until(due))
		select {
		case <-s.done:
			return
		case <-timer.C:
		}
		now := time.Now()
		if late := now.Sub(due); late > ptime/2 {
			s.sendLate.Add(1)
			if late > 10*ptime {
				// We were stopped (suspend, debugger, overload): do not
				// burst the missed packets; jump ahead, which makes the
				// timestamp jump and the next packet carry a marker.
				tick += int64(late / ptime)
				s.talking = false
			}
		}
		ts := s.tsBase + uint32(tick)*s.tsPerPkt
		s.sendTick(ts)
		s.playTick()
		if now.After(nextRTCP) {
			s.sendRTCP(now, false)
			nextRTCP = now.Add(s.rtcpDelay())
		}
	}
}

// rtcpDelay is the configured interval times a random factor in [0.5, 1.5]
// (RFC 3550 §6.3.1), so sessions started together do not report together.
func (s *Session) rtcpDelay() time.Duration {
	return time.Duration(float64(s.cfg.RTCPInterval) * (0.5 + rand.Float64()))
}

func (s *Session) shutdown() {
	s.sendRTCP(time.Now(), true)
	s.rtpConn.Close()
	if s.rtcpConn != nil {
		s.rtcpConn.Close()
	}
	s.srcMu.Lock()
	if s.srcDone != nil {
		s.srcDone <- ErrClosed
		s.src, s.srcDone = nil, nil
	}
	s.srcMu.Unlock()
}

// sendTick sends this tick's packet, if any.
func (s *Session) sendTick(ts uint32) {
	s.mu.Lock()
	remote := s.remoteRTP
	s.mu.Unlock()
	s.srcMu.Lock()
	defer s.srcMu.Unlock()
	src := s.src
	if s.dtmfTick(ts, remote) {
		// The event replaces audio; keep the source's timeline moving.
		if src != nil {
			s.readSource(src)
		}
		s.talking = false
		return
	}
	if src == nil || !remote.IsValid() {
		s.talking = false
		return
	}
	if !s.readSource(src) {
		s.talking = false
		return
	}
	n, err := s.codec.Encode(s.sendBuf[12:], s.pcm)
	if err != nil {
		return
	}
	s.hdr.PayloadType = s.codec.PayloadType()
	s.hdr.Marker = !s.talking // RFC 3551 §4.1: first packet of a talkspurt
	s.hdr.Timestamp = ts
	s.writeRTP(n, remote)
	s.talking = true
}

// readSource reads one frame into s.pcm; false means nothing to send.
// The caller holds srcMu.
func (s *Session) readSource(src Source) bool {
	err := src.ReadFrame(s.pcm)
	if err == nil {
		return true
	}
	if errors.Is(err, ErrSilent) {
		return false
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	if s.srcDone != nil {
		s.srcDone <- err
	}
	s.src, s.srcDone = nil, nil
	return false
}

// writeRTP marshals s.hdr in front of the n payload bytes already in
// s.sendBuf[12:] and sends the packet. Our header is always 12 bytes (no
// CSRC, no extension), which is why the payload can be encoded in place.
func (s *Session) writeRTP(n int, remote netip.AddrPort) {
	pkt, ok := s.buildRTP(n)
	if !ok {
		return
	}
	if _, err := s.rtpConn.WriteToUDPAddrPort(pkt, remote); err != nil {
		return
	}
	s.packetsSent.Add(1)
	s.bytesSent.Add(uint64(n))
}

// buildRTP puts the header in front of the payload and advances the
// sequence number (RFC 3550 §5.1: by one per packet, DTMF included).
func (s *Session) buildRTP(n int) ([]byte, bool) {
	hn, err := s.hdr.MarshalTo(s.sendBuf[:12])
	if err != nil || hn != 12 {
		return nil, false
	}
	s.hdr.SequenceNumber++
	return s.sendBuf[:12+n], true
}

// dtmfTick advances RFC 4733 sending by one packet time and reports whether
// it sent an event packet (which then replaces this tick's audio).
//
// Per §2.5.1: the first packet has the marker bit; every packet of the
// event carries the event's start timestamp and the duration so far; the
// last one has the E bit and is sent three times in all; then a short pause
// separates digits.
func (s *Session) dtmfTick(ts uint32, remote netip.AddrPort) bool {
	st := &s.dtmfState
	if !st.active {
		if st.gap > 0 {
			st.gap--
			return false
		}
		if s.dtmfCur == nil {
			select {
			case s.dtmfCur = <-s.dtmfQ:
				st.digit = 0
			default:
				return false
			}
		}
		ev, _ := DigitEvent(rune(s.dtmfCur.digits[st.digit]))
		total := uint32(int64(s.dtmfCur.duration) * int64(s.codec.ClockRate()) / int64(time.Second))
		*st = dtmfSendState{active: true, digit: st.digit, event: ev, ts: ts, total: total}
	}
	p := DTMFPayload{Event: st.event, Volume: 10}
	first := st.elapsed == 0
	if st.elapsed < st.total {
		st.elapsed = min(st.elapsed+s.tsPerPkt, st.total)
	}
	p.Duration = uint16(min(st.elapsed, 0xFFFF))
	if st.elapsed >= st.total {
		p.End = true
		st.ends++
	}
	if remote.IsValid() {
		n, _ := p.MarshalTo(s.sendBuf[12:])
		s.hdr.PayloadType = s.cfg.DTMFPayloadType
		s.hdr.Marker = first
		s.hdr.Timestamp = st.ts
		s.writeRTP(n, remote)
	}
	if st.ends >= 3 {
		st.active = false
		st.gap = int((50*time.Millisecond + s.cfg.Ptime - 1) / s.cfg.Ptime)
		st.digit++
		if st.digit >= len(s.dtmfCur.digits) {
			close(s.dtmfCur.done)
			s.dtmfCur = nil
		}
	}
	return true
}

// playTick plays one frame of received audio into the sink.
func (s *Session) playTick() {
	evs := s.rx.playout(s.outPCM)
	s.emitDTMF(evs)
	s.sinkMu.Lock()
	defer s.sinkMu.Unlock()
	if s.sink != nil && s.sink.WriteFrame(s.outPCM) != nil {
		s.sink = nil
	}
}
