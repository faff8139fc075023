package media

// jitterBuffer holds received packets until their playout time. It is keyed
// by extended sequence number in a fixed ring, so pushing and popping never
// allocate once each slot's payload buffer has grown to the packet size.
//
// Playout is driven by pop calls, one per packet time, from the session's
// media clock, so the buffer itself needs no clock (and is deterministic
// under test). Its delay is counted in frames: after the first packet of a
// talkspurt arrives we wait target pops before playing, which absorbs that
// much jitter. The target adapts between min and max at talkspurt starts
// (after an underrun), when changing it does not cut audio.
type jitterBuffer struct {
	slots [jbSlots]jbSlot

	spf      uint32 // timestamp units per frame
	minDelay int    // frames
	maxDelay int    // frames
	target   int    // frames, within [minDelay, maxDelay]

	playing  bool
	waited   int   // pops since the talkspurt's first packet (buffering)
	haveNext bool  // nextSeq is meaningful
	nextSeq  int64 // next extended sequence number to play
	highest  int64 // highest extended sequence number pushed
	haveRef  bool
	playTS   uint32 // timestamp expected for nextSeq
	resyncTS bool   // take playTS from the next packet played
	count    int    // occupied slots

	late       uint64 // arrived after their playout time
	duplicates uint64
	overflow   uint64 // dropped because the buffer was full or too deep
	concealed  uint64 // frames concealed for missing packets
	underruns  uint64
}

const (
	jbSlots = 64 // 1.28 s at 20 ms: more than any max delay we accept
	jbMask  = jbSlots - 1
	// A sequence jump this large is a new stream rather than loss.
	jbResetJump = 1000
	// maxPayload bounds what a slot may hold (1200 bytes is 150 ms of G.711).
	maxPayload = 1200
)

type jbSlot struct {
	ext     int64
	ts      uint32
	valid   bool
	payload []byte
}

// popKind says what pop produced.
type popKind uint8

const (
	popNone    popKind = iota // buffering or idle: play silence
	popFrame                  // a packet's payload
	popConceal                // a packet is missing: conceal
	popGap                    // the sender's timestamps skip here: silence
)

func (j *jitterBuffer) configure(spf uint32, minDelay, maxDelay int) {
	j.spf = spf
	j.minDelay = max(1, minDelay)
	j.maxDelay = max(j.minDelay, min(maxDelay, jbSlots-4))
	j.target = j.minDelay
}

// setTarget asks for a playout delay in frames; it applies from the next
// talkspurt.
func (j *jitterBuffer) setTarget(frames int) {
	j.target = max(j.minDelay, min(frames, j.maxDelay))
}

// reset forgets everything buffered and the sequence reference (new stream).
func (j *jitterBuffer) reset() {
	for i := range j.slots {
		j.slots[i].valid = false
	}
	j.count = 0
	j.playing, j.waited, j.haveNext, j.haveRef = false, 0, false, false
}

// extend maps a 16-bit sequence number to the extended number closest to
// the highest one seen, which handles wrap-around in both directions.
func (j *jitterBuffer) extend(seq uint16) int64 {
	if !j.haveRef {
		return 1<<32 + int64(seq)
	}
	return j.highest + int64(int16(seq-uint16(j.highest)))
}

// push stores a packet. payload is copied.
func (j *jitterBuffer) push(seq uint16, ts uint32, payload []byte) {
	if len(payload) > maxPayload {
		j.overflow++
		return
	}
	ext := j.extend(seq)
	if j.haveNext {
		switch d := ext - j.nextSeq; {
		case d < -jbResetJump || d > jbResetJump:
			// The sender restarted its sequence (or is a new stream that
			// kept the SSRC): start over rather than wait for it.
			j.reset()
			ext = j.extend(seq)
		case d < 0:
			j.late++
			return
		case d >= jbSlots:
			// Too far ahead to hold: skip playout forward so it fits,
			// dropping what we skip over.
			j.advanceTo(ext - jbSlots + 1)
		}
	}
	if !j.haveRef || ext > j.highest {
		j.highest, j.haveRef = ext, true
	}
	s := &j.slots[ext&jbMask]
	if s.valid {
		if s.ext == ext {
			j.duplicates++
			return
		}
		// Only reachable before playout started, when the ring holds
		// packets from more than jbSlots apart: keep the newer one.
		j.overflow++
		j.count--
	}
	s.ext, s.ts, s.valid = ext, ts, true
	s.payload = append(s.payload[:0], payload...)
	j.count++
	// Bound the delay: a queue deeper than the maximum means the sender
	// bursts or its clock runs fast; drop the oldest frame.
	if j.playing && j.count > j.maxDelay+1 {
		j.dropOldest()
	}
}

func (j *jitterBuffer) advanceTo(ext int64) {
	for j.nextSeq < ext {
		s := &j.slots[j.nextSeq&jbMask]
		if s.valid && s.ext == j.nextSeq {
			s.valid = false
			j.count--
			j.overflow++
		}
		j.nextSeq++
	}
	j.resyncTS = true
}

func (j *jitterBuffer) dropOldest() {
	for range jbSlots {
		s := &j.slots[j.nextSeq&jbMask]
		j.nextSeq++
		if s.valid && s.ext == j.nextSeq-1 {
			s.valid = false
			j.count--
			j.overflow++
			break
		}
	}
	j.resyncTS = true
}

// lowest returns the smallest buffered extended sequence number.
func (j *jitterBuffer) lowest() (*jbSlot, bool) {
	var best *jbSlot
	for i := range j.slots {
		s := &j.slots[i]
		if s.valid && (best == nil || s.ext < best.ext) {
			best = s
		}
	}
	return best, best != nil
}

// pop returns the next frame's payload, copied into dst, its timestamp and
// what it is. After a popFrame the caller reports the frame's length in
// timestamp units with played; other kinds advance one frame by themselves.
func (j *jitterBuffer) pop(dst []byte) (n int, ts uint32, kind popKind) {
	if !j.playing {
		if j.count == 0 {
			return 0, 0, popNone
		}
		j.waited++
		if j.waited < j.target {
			return 0, 0, popNone
		}
		s, _ := j.lowest()
		j.playing, j.haveNext = true, true
		j.nextSeq, j.playTS, j.resyncTS = s.ext, s.ts, false
	}
	if j.count == 0 {
		// Underrun: the talkspurt ended or packets stopped. Conceal this
		// frame and rebuffer. Keeping nextSeq makes stragglers count as late.
		j.playing, j.waited = false, 0
		j.underruns++
		j.concealed++
		return 0, 0, popConceal
	}
	s := &j.slots[j.nextSeq&jbMask]
	if !s.valid || s.ext != j.nextSeq {
		// Missing packet with later ones queued: lost or very late.
		j.nextSeq++
		j.playTS += j.spf
		j.concealed++
		return 0, 0, popConceal
	}
	d := int32(s.ts - j.playTS)
	if j.resyncTS || d < 0 || d > int32(j.spf)*50 {
		// Resynchronise on timestamps we cannot make sense of (a jump
		// of more than a second, or backwards) instead of playing a
		// long stretch of silence.
		j.playTS, d, j.resyncTS = s.ts, 0, false
	}
	if d >= int32(j.spf) {
		// The sender skipped time (silence suppression, a DTMF event in
		// between): play silence until its timestamp comes up.
		j.playTS += j.spf
		return 0, 0, popGap
	}
	n = copy(dst, s.payload)
	s.valid = false
	j.count--
	j.nextSeq++
	return n, s.ts, popFrame
}

// played tells the buffer how long (in timestamp units) the popped frame
// with timestamp ts lasts, so it knows the next expected timestamp.
func (j *jitterBuffer) played(ts, dur uint32) { j.playTS = ts + dur }
