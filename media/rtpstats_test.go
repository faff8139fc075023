package media

import "testing"

func feedSeqs(s *rxStats, seqs ...uint16) {
	for _, q := range seqs {
		s.update(q)
	}
}

func TestRxStatsLossAcrossWrap(t *testing.T) {
	var s rxStats
	// 65530..65535, 0..9 with 65533 and 3 missing: 16 expected, 14 received.
	for q := uint16(65530); q != 10; q++ {
		if q == 65533 || q == 3 {
			continue
		}
		s.update(q)
	}
	if got := s.extendedMax(); got != 1<<16+9 {
		t.Errorf("extended max = %d, want %d (one cycle + 9)", got, 1<<16+9)
	}
	if s.expected() != 16 || s.lost() != 2 {
		t.Errorf("expected %d lost %d, want 16 and 2", s.expected(), s.lost())
	}
	// Fraction of the first interval: 2/16 = 32/256.
	if f := s.fraction(); f != 32 {
		t.Errorf("fraction = %d/256, want 32", f)
	}
	// Next interval: 10..19 all received, then a late 3 arrives: 0 lost
	// in the interval but the late packet reduces the cumulative count.
	for q := uint16(10); q < 20; q++ {
		s.update(q)
	}
	s.update(3)
	if f := s.fraction(); f != 0 {
		t.Errorf("fraction = %d, want 0", f)
	}
	if s.lost() != 1 {
		t.Errorf("lost = %d after the late packet, want 1", s.lost())
	}
	// An interval where more arrive than expected (duplicates) reports 0.
	feedSeqs(&s, 20, 20, 20)
	if f := s.fraction(); f != 0 {
		t.Errorf("fraction with duplicates = %d, want 0", f)
	}
}

func TestRxStatsHalfLost(t *testing.T) {
	var s rxStats
	for q := uint16(100); q < 200; q += 2 {
		s.update(q)
	}
	// 100..198: 99 expected, 50 received.
	if s.expected() != 99 || s.lost() != 49 {
		t.Errorf("expected %d lost %d", s.expected(), s.lost())
	}
	if f := s.fraction(); f != uint8(49*256/99) {
		t.Errorf("fraction = %d, want %d", f, 49*256/99)
	}
}

func TestRxStatsRestart(t *testing.T) {
	var s rxStats
	feedSeqs(&s, 1000, 1001, 1002)
	// A jump of 30000: the first packet is held back as suspect...
	if s.update(31002) {
		t.Error("a single packet after a large jump was accepted")
	}
	// ...the second, sequential one confirms a restart.
	if !s.update(31003) {
		t.Error("sequential packets after a jump were not taken as a restart")
	}
	if s.expected() != 1 || s.lost() != 0 {
		t.Errorf("after restart expected %d lost %d", s.expected(), s.lost())
	}
	// Reordering within MAX_MISORDER is not a jump.
	feedSeqs(&s, 31004, 31006, 31005)
	if s.lost() != 0 || s.extendedMax() != 31006 {
		t.Errorf("reordered: lost %d max %d", s.lost(), s.extendedMax())
	}
}

func TestRxStatsReorderedStart(t *testing.T) {
	var s rxStats
	feedSeqs(&s, 0, 65535, 1) // the packet before the first arrives second
	if s.lost() != 0 || s.expected() != 3 {
		t.Errorf("lost %d expected %d", s.lost(), s.expected())
	}
	var u rxStats
	feedSeqs(&u, 5, 4, 6)
	if u.lost() != 0 || u.expected() != 3 {
		t.Errorf("lost %d expected %d", u.lost(), u.expected())
	}
}

// A.8 with crafted transit times: packets every 160 timestamp units; the
// arrival deviates by d. J += (|D| - J)/16.
func TestRxStatsJitter(t *testing.T) {
	var s rxStats
	arrivals := []uint32{0, 160, 330, 480, 640, 800} // third packet 10 late
	ts := uint32(0xFFFFFF00)                         // timestamps wrap too
	var want float64
	prev := int64(0)
	for i, a := range arrivals {
		s.updateJitter(a+5000, ts+uint32(i)*160)
		transit := int64(a) - int64(i)*160
		if i > 0 {
			d := transit - prev
			if d < 0 {
				d = -d
			}
			want += (float64(d) - want) / 16
		}
		prev = transit
	}
	// want: 10/16, then (10 - 0.625)/16 ..., about 1.7; the integer form
	// (scaled by 16) agrees to within one unit.
	got := float64(s.jitter) / 16
	if got < want-1 || got > want+1 || s.jitterTS() != uint32(got) {
		t.Errorf("jitter = %.2f (%d), want %.2f", got, s.jitterTS(), want)
	}
	// Constant delay gives zero jitter eventually.
	var c rxStats
	for i := range uint32(500) {
		c.updateJitter(i*160+777, i*160)
	}
	if c.jitterTS() != 0 {
		t.Errorf("constant transit gave jitter %d", c.jitterTS())
	}
	// Alternating ±80 converges to about 160.
	var alt rxStats
	for i := range uint32(1000) {
		a := i * 160
		if i%2 == 1 {
			a += 160
		}
		alt.updateJitter(a, i*160)
	}
	if j := alt.jitterTS(); j < 150 || j > 160 {
		t.Errorf("alternating transit gave jitter %d, want about 160", j)
	}
}
