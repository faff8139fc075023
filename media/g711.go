package media

// G.711 as specified by ITU-T Rec. G.711 (11/88). µ-law works on 14-bit and
// A-law on 13-bit linear samples; we accept 16-bit PCM and drop the low bits,
// which is what every G.711 implementation interoperating with 16-bit audio
// does (and what the reference implementation in ITU-T G.191 does).
//
// Encoding goes through tables indexed by the truncated sample (16 KiB for
// µ-law, 8 KiB for A-law) and decoding through 256-entry tables, so a
// 160-sample frame costs 160 loads and no branches. The tables are computed
// once at start-up from the algorithmic definition below and never change.

var (
	ulawEncTable [1 << 14]uint8
	alawEncTable [1 << 13]uint8
	ulawDecTable [256]int16
	alawDecTable [256]int16
	// The relay's transcoding tables: through the linear value, so bit
	// exact with decoding one law and encoding the other.
	ulawToAlawTable [256]uint8
	alawToUlawTable [256]uint8
)

func init() {
	for i := range ulawEncTable {
		// Index is the 14-bit two's complement sample (sample >> 2) as unsigned.
		ulawEncTable[i] = ulawEncode(int16(uint16(i)<<2) >> 2)
	}
	for i := range alawEncTable {
		alawEncTable[i] = alawEncode(int16(uint16(i)<<3) >> 3)
	}
	for i := range 256 {
		ulawDecTable[i] = ulawDecode(uint8(i))
		alawDecTable[i] = alawDecode(uint8(i))
	}
	for i := range 256 {
		ulawToAlawTable[i] = alawEncTable[uint16(ulawDecTable[i])>>3]
		alawToUlawTable[i] = ulawEncTable[uint16(alawDecTable[i])>>2]
	}
}

// ulawEncode encodes a 14-bit sample (-8192..8191) the way G.711 table 2a
// does: bias by 33, find the segment, keep 4 mantissa bits, invert all bits.
func ulawEncode(s14 int16) uint8 {
	const bias = 33
	// G.191 limits the biased magnitude to 0x1FFF; clipping at 8158
	// before adding the bias is the same thing.
	const clip = 8158
	mask := uint8(0xFF)
	v := int32(s14)
	if v < 0 {
		// One's complement magnitude, as ITU-T G.191's ulaw_compress does.
		// The widespread Sun code (and CPython's audioop) negates instead
		// and differs from the ITU on 508 negative 16-bit inputs.
		v = -v - 1
		mask = 0x7F
	}
	if v > clip {
		v = clip
	}
	v += bias
	seg := uint8(0)
	for t := v >> 6; t != 0 && seg < 7; t >>= 1 {
		seg++
	}
	// v is now in [33, 8192]; the segment number is the position of the
	// leading one above bit 5.
	mant := uint8(v>>(seg+1)) & 0x0F
	return (seg<<4 | mant) ^ mask
}

func ulawDecode(u uint8) int16 {
	u = ^u
	t := (int32(u&0x0F) << 3) + 0x84
	t <<= (u & 0x70) >> 4
	if u&0x80 != 0 {
		return int16(0x84 - t)
	}
	return int16(t - 0x84)
}

// alawEncode encodes a 13-bit sample (-4096..4095) per G.711 table 1a,
// including the even-bit inversion (XOR 0x55).
func alawEncode(s13 int16) uint8 {
	mask := uint8(0xD5)
	v := int32(s13)
	if v < 0 {
		v = -v - 1
		mask = 0x55
	}
	seg := uint8(0)
	for t := v >> 5; t != 0 && seg < 7; t >>= 1 {
		seg++
	}
	var mant uint8
	if seg == 0 {
		mant = uint8(v>>1) & 0x0F
	} else {
		mant = uint8(v>>seg) & 0x0F
	}
	return (seg<<4 | mant) ^ mask
}

func alawDecode(a uint8) int16 {
	a ^= 0x55
	t := int32(a&0x0F) << 4
	seg := (a & 0x70) >> 4
	switch seg {
	case 0:
		t += 8
	default:
		t += 0x108
		t <<= seg - 1
	}
	if a&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}

// EncodeUlaw encodes pcm into dst as G.711 µ-law, one byte per sample, and
// returns the number of bytes written: min(len(dst), len(pcm)).
func EncodeUlaw(dst []byte, pcm []int16) int {
	n := min(len(dst), len(pcm))
	dst, pcm = dst[:n], pcm[:n]
	for i, s := range pcm {
		dst[i] = ulawEncTable[uint16(s)>>2]
	}
	return n
}

// DecodeUlaw decodes G.711 µ-law bytes into dst and returns the number of
// samples written: min(len(dst), len(src)).
func DecodeUlaw(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, b := range src {
		dst[i] = ulawDecTable[b]
	}
	return n
}

// EncodeAlaw encodes pcm into dst as G.711 A-law, one byte per sample.
func EncodeAlaw(dst []byte, pcm []int16) int {
	n := min(len(dst), len(pcm))
	dst, pcm = dst[:n], pcm[:n]
	for i, s := range pcm {
		dst[i] = alawEncTable[uint16(s)>>3]
	}
	return n
}

// DecodeAlaw decodes G.711 A-law bytes into dst.
func DecodeAlaw(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, b := range src {
		dst[i] = alawDecTable[b]
	}
	return n
}
