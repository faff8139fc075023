package media

import (
	"testing"
)

func newTestJB(minF, maxF int) *jitterBuffer {
	j := &jitterBuffer{}
	j.configure(160, minF, maxF)
	return j
}

// popAll pops n frames and returns, per frame, the first payload byte of a
// real frame or -1 for concealment and -2 for silence.
func popN(j *jitterBuffer, n int) []int {
	var out []int
	buf := make([]byte, maxPayload)
	for range n {
		m, ts, kind := j.pop(buf)
		switch kind {
		case popFrame:
			j.played(ts, uint32(m))
			out = append(out, int(buf[0]))
		case popConceal:
			out = append(out, -1)
		default:
			out = append(out, -2)
		}
	}
	return out
}

func payloadOf(b byte) []byte {
	p := make([]byte, 160)
	p[0] = b
	return p
}

func eq(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestJitterBufferReorderWrap(t *testing.T) {
	j := newTestJB(2, 10)
	// Sequence numbers wrap from 65535 to 0; timestamps wrap too.
	seqs := []uint16{65534, 0, 65535, 1, 3, 2}
	for _, s := range seqs {
		i := uint32(s + 2) // 65534 → 0 ...
		j.push(s, 0xFFFFFF00+i*160, payloadOf(byte(i)))
	}
	got := popN(j, 7)
	want := []int{-2, 0, 1, 2, 3, 4, 5}
	if !eq(got, want) {
		t.Errorf("played %v, want %v", got, want)
	}
	// Nothing left: an underrun conceals one frame, then silence while
	// buffering.
	if got := popN(j, 2); !eq(got, []int{-1, -2}) {
		t.Errorf("after the end %v", got)
	}
}

func TestJitterBufferLossDuplicateLate(t *testing.T) {
	j := newTestJB(1, 10)
	j.push(10, 1600, payloadOf(1))
	j.push(10, 1600, payloadOf(1)) // duplicate
	j.push(12, 1920, payloadOf(3)) // 11 lost
	if got := popN(j, 3); !eq(got, []int{1, -1, 3}) {
		t.Errorf("played %v, want [1 -1 3]", got)
	}
	j.push(11, 1760, payloadOf(2)) // too late now
	if j.duplicates != 1 || j.late != 1 || j.concealed != 1 {
		t.Errorf("dups %d late %d concealed %d", j.duplicates, j.late, j.concealed)
	}
}

func TestJitterBufferTimestampGap(t *testing.T) {
	j := newTestJB(1, 10)
	// Silence suppression: sequence numbers continue, timestamps jump by
	// three frames; the buffer plays silence for them.
	j.push(1, 0, payloadOf(1))
	j.push(2, 160, payloadOf(2))
	j.push(3, 160*5, payloadOf(3))
	if got := popN(j, 6); !eq(got, []int{1, 2, -2, -2, -2, 3}) {
		t.Errorf("played %v", got)
	}
}

func TestJitterBufferNewStreamAndOverflow(t *testing.T) {
	j := newTestJB(1, 4)
	j.push(100, 0, payloadOf(1))
	popN(j, 1)
	// A jump of thousands is a new stream: it plays, nothing is late.
	j.push(40000, 999, payloadOf(7))
	if got := popN(j, 1); !eq(got, []int{7}) {
		t.Errorf("after the jump %v", got)
	}
	// A burst deeper than the maximum delay drops the oldest.
	for i := range uint16(10) {
		j.push(40001+i, 999+160*uint32(i+1), payloadOf(byte(10+i)))
	}
	if j.overflow == 0 || j.count > 5 {
		t.Errorf("overflow %d count %d", j.overflow, j.count)
	}
	got := popN(j, 5)
	if got[len(got)-1] != 19 {
		t.Errorf("played %v, want to end with the newest frame 19", got)
	}
	// Oversized payloads are refused.
	j.push(40011, 0, make([]byte, maxPayload+1))
	if j.count != 0 {
		t.Error("oversized payload stored")
	}
}
