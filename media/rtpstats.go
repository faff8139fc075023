package media

// rxStats is the per-source receive state of RFC 3550 Appendix A.1 (sequence
// number extension and validity), A.3 (loss) and A.8 (interarrival jitter).
// It has no clock: callers pass arrival times in RTP timestamp units, which
// keeps the arithmetic testable with crafted sequences.
//
// We skip A.1's probation: a source is accepted on its first packet because
// sessions already filter on payload type, SSRC and (optionally) the
// latched address, and dropping the first packets of every call would cut
// the start of prompts.
type rxStats struct {
	maxSeq        uint16 // highest sequence number seen
	cycles        uint32 // shifted count of sequence number cycles
	baseSeq       int64  // first sequence number (extended; -1.. when reordered before the first)
	badSeq        uint32 // last 'bad' sequence number + 1
	received      uint32 // packets received (duplicates included, as in A.3)
	expectedPrior uint32 // packet expected at last interval
	receivedPrior uint32 // packet received at last interval
	transit       uint32 // relative transit time of the previous packet
	jitter        uint32 // estimated jitter, scaled by 16 (A.8)
	haveTransit   bool
	started       bool
	lastFraction  uint8
}

const (
	seqMod      = 1 << 16
	maxDropout  = 3000 // A.1: largest forward jump taken as loss, not a restart
	maxMisorder = 100  // A.1: largest backward jump taken as reordering
)

func (s *rxStats) init(seq uint16) {
	*s = rxStats{
		baseSeq: int64(seq),
		maxSeq:  seq,
		badSeq:  seqMod + 1, // so seq == badSeq is false
		started: true,
		// A.3's fraction needs the base in expected_prior so the first
		// interval counts from the first packet.
	}
}

// update applies A.1's update_seq to a packet's sequence number. It reports
// false for a packet that must not be used: a large jump that is not (yet)
// confirmed as a restart by a second, sequential packet.
func (s *rxStats) update(seq uint16) bool {
	if !s.started {
		s.init(seq)
		s.received = 1
		return true
	}
	udelta := seq - s.maxSeq
	switch {
	case udelta < maxDropout:
		// In order, with a permissible gap.
		if seq < s.maxSeq {
			s.cycles += seqMod // sequence number wrapped
		}
		s.maxSeq = seq
	case udelta <= seqMod-maxMisorder:
		// A very large jump. Two sequential packets after it mean the
		// sender restarted without telling us; resync on the second.
		if uint32(seq) == s.badSeq {
			jitter, transit, have := s.jitter, s.transit, s.haveTransit
			s.init(seq)
			s.jitter, s.transit, s.haveTransit = jitter, transit, have
		} else {
			s.badSeq = (uint32(seq) + 1) & (seqMod - 1)
			return false
		}
	default:
		// Duplicate or reordered packet. One older than the first packet
		// we saw (the stream's first packets arrived out of order) moves
		// the base back, otherwise it would count as a negative loss.
		ext := int64(s.cycles) + int64(seq)
		if seq > s.maxSeq {
			ext -= seqMod
		}
		if ext < s.baseSeq && s.baseSeq-ext < maxMisorder {
			s.baseSeq = ext
		}
	}
	s.received++
	return true
}

// extendedMax is the extended highest sequence number received (A.3).
func (s *rxStats) extendedMax() uint32 { return s.cycles + uint32(s.maxSeq) }

// expected is the number of packets expected so far (A.3).
func (s *rxStats) expected() uint32 {
	if !s.started {
		return 0
	}
	return uint32(int64(s.extendedMax()) - s.baseSeq + 1)
}

// lost is the cumulative number of packets lost (A.3), clamped to the
// 24-bit signed range of the report block. Duplicates can make it negative.
func (s *rxStats) lost() int32 {
	l := int64(s.expected()) - int64(s.received)
	const maxLost, minLost = 0x7FFFFF, -0x800000
	if l > maxLost {
		return maxLost
	}
	if l < minLost {
		return minLost
	}
	return int32(l)
}

// fraction computes the fraction lost since the previous call, as the
// 8-bit fixed-point number of A.3, and starts a new interval.
func (s *rxStats) fraction() uint8 {
	expected := s.expected()
	expectedInterval := expected - s.expectedPrior
	s.expectedPrior = expected
	receivedInterval := s.received - s.receivedPrior
	s.receivedPrior = s.received
	lostInterval := int64(expectedInterval) - int64(receivedInterval)
	var f uint8
	if expectedInterval != 0 && lostInterval > 0 {
		f = uint8((lostInterval << 8) / int64(expectedInterval))
	}
	s.lastFraction = f
	return f
}

// updateJitter applies A.8 for a packet with RTP timestamp ts that arrived
// at arrival (both in timestamp units).
func (s *rxStats) updateJitter(arrival, ts uint32) {
	transit := arrival - ts
	if !s.haveTransit {
		s.transit, s.haveTransit = transit, true
		return
	}
	d := int32(transit - s.transit)
	s.transit = transit
	if d < 0 {
		d = -d
	}
	s.jitter += uint32(d) - ((s.jitter + 8) >> 4)
}

// jitterTS is the interarrival jitter in timestamp units, as reported in a
// reception report block.
func (s *rxStats) jitterTS() uint32 { return s.jitter >> 4 }
