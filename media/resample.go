package media

import "math"

// resampler converts a mono stream between sample rates with a windowed-sinc
// (Hann, 32 taps at the lower of the two rates) low-pass interpolator. The
// cutoff sits at 45% of the lower rate, so a 16 kHz file loses what G.711
// could not carry anyway (above 3.6 kHz) instead of aliasing it back into
// the voice band, which plain linear interpolation would do.
//
// The kernel is tabulated at kernelPhases fractional offsets; the nearest
// phase is used, which is far below G.711's own quantisation noise.
type resampler struct {
	step   float64   // input samples per output sample
	half   int       // taps on each side of the interpolation point
	table  []float32 // kernelPhases+1 rows of 2*half taps
	buf    []float32 // input history; buf[0] is input index base
	pos    float64   // position of the next output sample in buf
	closed bool
}

const kernelPhases = 512

func newResampler(inRate, outRate int) *resampler {
	r := &resampler{step: float64(inRate) / float64(outRate)}
	fc := 0.45 * float64(min(inRate, outRate)) / float64(inRate) // cycles per input sample
	// Scale the kernel's width with the decimation ratio so the filter
	// keeps its shape in output terms.
	r.half = int(math.Ceil(16 * max(1, r.step)))
	r.table = make([]float32, (kernelPhases+1)*2*r.half)
	for p := 0; p <= kernelPhases; p++ {
		frac := float64(p) / kernelPhases
		row := r.table[p*2*r.half : (p+1)*2*r.half]
		for j := range row {
			// Tap j multiplies buf[i0-half+1+j]; its distance from the
			// interpolation point i0+frac is:
			x := frac + float64(r.half-1-j)
			row[j] = float32(kernel(x, fc, float64(r.half)))
		}
	}
	// Zeros in front let the first output sample line up with input 0.
	r.buf = make([]float32, r.half, 4096)
	r.pos = float64(r.half)
	return r
}

func kernel(x, fc, half float64) float64 {
	if math.Abs(x) >= half {
		return 0
	}
	w := 0.5 + 0.5*math.Cos(math.Pi*x/half)
	arg := 2 * fc * x
	sinc := 1.0
	if arg != 0 {
		sinc = math.Sin(math.Pi*arg) / (math.Pi * arg)
	}
	return 2 * fc * sinc * w
}

func (r *resampler) push(x []float32) { r.buf = append(r.buf, x...) }

// close appends the trailing zeros that flush the filter.
func (r *resampler) close() {
	if !r.closed {
		r.closed = true
		r.buf = append(r.buf, make([]float32, r.half)...)
	}
}

// pull writes as many output samples as the buffered input allows.
func (r *resampler) pull(dst []int16) int {
	n := 0
	for n < len(dst) {
		i0 := int(r.pos)
		if i0+r.half >= len(r.buf) {
			break
		}
		frac := r.pos - float64(i0)
		p := int(frac*kernelPhases + 0.5)
		row := r.table[p*2*r.half : (p+1)*2*r.half]
		taps := r.buf[i0-r.half+1 : i0+r.half+1]
		var sum float32
		for j, t := range row {
			sum += t * taps[j]
		}
		dst[n] = clamp16(sum)
		n++
		r.pos += r.step
	}
	// Drop input no future output sample can reach.
	if drop := int(r.pos) - r.half + 1; drop > 0 && drop <= len(r.buf) {
		m := copy(r.buf, r.buf[drop:])
		r.buf = r.buf[:m]
		r.pos -= float64(drop)
	}
	return n
}

func clamp16(v float32) int16 {
	switch {
	case v >= 32767:
		return 32767
	case v <= -32768:
		return -32768
	case v < 0:
		return int16(v - 0.5)
	default:
		return int16(v + 0.5)
	}
}
