package media

import (
	"net/netip"
	"time"

	"github.com/pion/rtcp"
)

// ntpTime converts t to the 64-bit NTP format of RFC 3550 §4.
func ntpTime(t time.Time) uint64 {
	const ntpEpochOffset = 2208988800 // seconds from 1900 to 1970
	secs := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return secs<<32 | frac
}

// ntpMiddle is the middle 32 bits of an NTP timestamp, the unit of LSR.
func ntpMiddle(ntp uint64) uint32 { return uint32(ntp >> 16) }

// sendRTCP sends a compound report: SR if we sent RTP since the report
// before last (§6.4: a participant is a sender for two intervals), else RR;
// then SDES CNAME (required in every compound packet, §6.1); then BYE when
// leaving. RTCP is sent from the RTCP socket so a NAT sees the same flow.
func (s *Session) sendRTCP(now time.Time, bye bool) {
	s.mu.Lock()
	dst := s.remoteRTCP
	s.mu.Unlock()
	if !dst.IsValid() {
		return
	}
	var reports []rtcp.ReceptionReport
	r := s.rx
	r.mu.Lock()
	if r.haveSSRC && r.stats.started {
		rep := rtcp.ReceptionReport{
			SSRC:               r.ssrc,
			FractionLost:       r.stats.fraction(),
			TotalLost:          uint32(r.stats.lost()) & 0xFFFFFF,
			LastSequenceNumber: r.stats.extendedMax(),
			Jitter:             r.stats.jitterTS(),
		}
		if !r.lastSRAt.IsZero() {
			rep.LastSenderReport = r.lastSRMid
			rep.Delay = uint32(now.Sub(r.lastSRAt) * 65536 / time.Second)
		}
		reports = append(reports, rep)
	}
	r.mu.Unlock()

	sent := s.packetsSent.Load()
	var first rtcp.Packet
	if sent != s.sentAt[0] {
		first = &rtcp.SenderReport{
			SSRC:        s.ssrc,
			NTPTime:     ntpTime(now),
			RTPTime:     s.tsBase + uint32(now.Sub(s.start)*time.Duration(s.codec.ClockRate())/time.Second),
			PacketCount: uint32(sent),
			OctetCount:  uint32(s.bytesSent.Load()),
			Reports:     reports,
		}
	} else {
		first = &rtcp.ReceiverReport{SSRC: s.ssrc, Reports: reports}
	}
	s.sentAt[0], s.sentAt[1] = s.sentAt[1], sent
	pkts := []rtcp.Packet{first, rtcp.NewCNAMESourceDescription(s.ssrc, s.cfg.CNAME)}
	if bye {
		pkts = append(pkts, &rtcp.Goodbye{Sources: []uint32{s.ssrc}})
	}
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		return
	}
	c := s.rtcpConn
	if c == nil {
		c = s.rtpConn
	}
	if _, err := c.WriteToUDPAddrPort(b, dst); err == nil {
		s.rtcpSent.Add(1)
	}
}

// handleRTCP takes what we use from a compound RTCP packet: the far end's
// sender report time (for our LSR/DLSR), its reception report about our
// stream (loss, jitter, round-trip time), and BYE.
func (s *Session) handleRTCP(b []byte, from netip.AddrPort, mux bool) {
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		s.rx.mu.Lock()
		s.rx.invalid++
		s.rx.mu.Unlock()
		return
	}
	now := time.Now()
	s.rtcpRecv.Add(1)
	if s.cfg.Symmetric && !mux {
		s.mu.Lock()
		s.remoteRTCP = from
		s.mu.Unlock()
	}
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.SenderReport:
			s.rx.mu.Lock()
			if s.rx.haveSSRC && p.SSRC == s.rx.ssrc {
				s.rx.lastSRMid, s.rx.lastSRAt = ntpMiddle(p.NTPTime), now
			}
			s.rx.mu.Unlock()
			s.takeReports(p.Reports, now)
		case *rtcp.ReceiverReport:
			s.takeReports(p.Reports, now)
		case *rtcp.Goodbye:
			for _, src := range p.Sources {
				s.rx.bye(src)
			}
		}
	}
}

func (s *Session) takeReports(reps []rtcp.ReceptionReport, now time.Time) {
	for _, rep := range reps {
		if rep.SSRC != s.ssrc {
			continue
		}
		s.mu.Lock()
		s.remoteRep, s.haveRep = rep, true
		if rep.LastSenderReport != 0 {
			// §6.4.1: RTT = A - LSR - DLSR, in 1/65536 s.
			// Unsigned arithmetic keeps it right across the wrap of
			// the middle 32 bits; a negative result shows up as huge.
			rtt := ntpMiddle(ntpTime(now)) - rep.LastSenderReport - rep.Delay
			if rtt < 65536*60 {
				s.rtt = time.Duration(rtt) * time.Second / 65536
			}
		}
		s.mu.Unlock()
	}
}
