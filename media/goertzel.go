package media

import "math"

// ToneLevel measures how much of freqHz is in samples using the Goertzel
// algorithm over a Hann window. The result is the estimated peak amplitude
// of that sinusoid in sample units: a sine of amplitude 8000 at 1000 Hz
// gives about 8000 at 1000 Hz and close to 0 far from it. Tests use it to
// check a recording holds the expected tone rather than just noise, and it
// is the building block for in-band DTMF detection.
func ToneLevel(samples []int16, freqHz float64, sampleRate int) float64 {
	if len(samples) == 0 || sampleRate <= 0 {
		return 0
	}
	return goertzel(samples, hann(len(samples)), freqHz, sampleRate)
}

func hann(n int) []float64 {
	w := make([]float64, n)
	step := 2 * math.Pi / float64(n)
	for i := range w {
		w[i] = 0.5 - 0.5*math.Cos(step*float64(i))
	}
	return w
}

func goertzel(samples []int16, window []float64, freqHz float64, sampleRate int) float64 {
	coeff := 2 * math.Cos(2*math.Pi*freqHz/float64(sampleRate))
	var s1, s2, wsum float64
	for i, x := range samples {
		w := window[i]
		wsum += w
		s0 := float64(x)*w + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	power := s1*s1 + s2*s2 - coeff*s1*s2
	if power <= 0 || wsum == 0 {
		return 0
	}
	return 2 * math.Sqrt(power) / wsum
}

// DominantFrequency returns the frequency in Hz (to 5 Hz) with the most
// energy between 50 Hz and just under the Nyquist frequency, and its level
// (RMS over the blocks of the peak amplitude ToneLevel would give). It
// averages the Goertzel power over blocks of 1024 samples (Welch's method),
// so silence at the start of a recording or a few concealed frames do not
// move the peak, and a 5 Hz scan cannot step over the ±15 Hz main lobe.
// Silence returns (0, 0).
func DominantFrequency(samples []int16, sampleRate int) (freqHz, level float64) {
	if sampleRate <= 0 || len(samples) == 0 {
		return 0, 0
	}
	const block = 1024
	// Two seconds are plenty and keep the scan cheap.
	if len(samples) > 2*sampleRate {
		samples = samples[:2*sampleRate]
	}
	n := min(block, len(samples))
	w := hann(n)
	nyq := float64(sampleRate) / 2
	for f := 50.0; f < nyq-25; f += 5 {
		var sum float64
		blocks := 0
		for off := 0; off+n <= len(samples); off += n {
			l := goertzel(samples[off:off+n], w, f, sampleRate)
			sum += l * l
			blocks++
		}
		if l := math.Sqrt(sum / float64(blocks)); l > level {
			freqHz, level = f, l
		}
	}
	if level < 1 {
		return 0, 0
	}
	return freqHz, level
}
