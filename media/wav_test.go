package media

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

var goldenSamples = []int16{0, 1, -1, 32767, -32768, 1000, -1000, 12345, -12345, 2, 3, 4, 5, 6, 7, 8}

// memWS is an in-memory io.WriteSeeker.
type memWS struct {
	buf []byte
	pos int
}

func (m *memWS) Write(p []byte) (int, error) {
	if need := m.pos + len(p); need > len(m.buf) {
		m.buf = append(m.buf, make([]byte, need-len(m.buf))...)
	}
	copy(m.buf[m.pos:], p)
	m.pos += len(p)
	return len(p), nil
}

func (m *memWS) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		m.pos = int(off)
	case io.SeekCurrent:
		m.pos += int(off)
	case io.SeekEnd:
		m.pos = len(m.buf) + int(off)
	}
	return int64(m.pos), nil
}

// The golden file was written by Python's wave module.
func TestWAVWriterGolden(t *testing.T) {
	want, err := os.ReadFile("testdata/golden_8k_mono.wav")
	if err != nil {
		t.Fatal(err)
	}
	var m memWS
	w, err := NewWAVWriter(&m, 8000)
	if err != nil {
		t.Fatal(err)
	}
	// Two writes: the sizes must add up.
	if err := w.Write(goldenSamples[:5]); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFrame(goldenSamples[5:]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.buf, want) {
		t.Errorf("writer output differs from golden\n got %x\nwant %x", m.buf, want)
	}
	if err := w.Write(goldenSamples); err == nil {
		t.Error("Write after Close succeeded")
	}
}

func TestWAVReaderGolden(t *testing.T) {
	for _, name := range []string{"golden_8k_mono.wav", "chunks_8k_mono.wav", "extensible_8k_mono.wav"} {
		t.Run(name, func(t *testing.T) {
			r, err := OpenWAV(filepath.Join("testdata", name), 8000)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.Format != (WAVFormat{SampleRate: 8000, Channels: 1, BitsPerSample: 16}) {
				t.Errorf("format %+v", r.Format)
			}
			got := make([]int16, 20)
			n, err := r.Read(got)
			if err != nil || n != len(goldenSamples) {
				t.Fatalf("Read = %d, %v", n, err)
			}
			for i, s := range goldenSamples {
				if got[i] != s {
					t.Errorf("sample %d = %d, want %d", i, got[i], s)
				}
			}
			if n, err := r.Read(got); n != 0 || err != io.EOF {
				t.Errorf("Read at end = %d, %v; want 0, EOF", n, err)
			}
		})
	}
}

func TestWAVReaderFrames(t *testing.T) {
	r, err := OpenWAV("testdata/golden_8k_mono.wav", 8000)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	frame := make([]int16, 10)
	if err := r.ReadFrame(frame); err != nil {
		t.Fatal(err)
	}
	// The second frame has 6 samples and 4 of padding.
	if err := r.ReadFrame(frame); err != nil {
		t.Fatal(err)
	}
	if frame[5] != 8 || frame[6] != 0 || frame[9] != 0 {
		t.Errorf("last frame %v", frame)
	}
	if err := r.ReadFrame(frame); err != io.EOF {
		t.Errorf("ReadFrame at end = %v, want EOF", err)
	}
}

func TestWAVReaderUnsupported(t *testing.T) {
	for name, want := range map[string]error{
		"unsupported_8bit.wav":  ErrUnsupportedWAV,
		"unsupported_float.wav": ErrUnsupportedWAV,
		"unsupported_ulaw.wav":  ErrUnsupportedWAV,
	} {
		_, err := OpenWAV(filepath.Join("testdata", name), 8000)
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", name, err, want)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	golden, _ := os.ReadFile("testdata/golden_8k_mono.wav")
	for name, c := range map[string]struct {
		b    []byte
		want error
	}{
		"empty":           {nil, ErrNotWAV},
		"not riff":        {[]byte("RIFX\x00\x00\x00\x00WAVE"), ErrNotWAV},
		"truncated fmt":   {golden[:30], ErrMalformedWAV},
		"no data":         {golden[:36], ErrMalformedWAV},
		"data before fmt": {append([]byte("RIFF\x00\x00\x00\x00WAVEdata\x00\x00\x00\x00"), golden[12:]...), ErrMalformedWAV},
	} {
		if _, err := NewWAVReader(bytes.NewReader(c.b), 8000); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

func TestWAVReaderTruncatedData(t *testing.T) {
	// A recording cut short: the header promises more than there is.
	b, _ := os.ReadFile("testdata/golden_8k_mono.wav")
	r, err := NewWAVReader(bytes.NewReader(b[:44+7]), 8000) // 3.5 samples
	if err != nil {
		t.Fatal(err)
	}
	got := make([]int16, 16)
	n, _ := r.Read(got)
	if n != 3 || got[2] != -1 {
		t.Errorf("read %d samples %v, want the 3 complete ones", n, got[:n])
	}
}

// A 16 kHz stereo file (written by Python's wave module) holding a 1 kHz
// tone comes out as 8 kHz mono with the tone still at 1 kHz, at its level.
func TestWAVResample16kStereo(t *testing.T) {
	samples := readWAVSamples(t, "testdata/tone1k_16k_stereo.wav")
	if len(samples) < 3990 || len(samples) > 4010 {
		t.Errorf("0.5 s at 16 kHz gave %d samples at 8 kHz, want 4000", len(samples))
	}
	f, level := DominantFrequency(samples, 8000)
	if f != 1000 || level < 5500 || level > 6500 {
		t.Errorf("dominant %v Hz at level %.0f, want 1000 Hz at 6000", f, level)
	}
}

// Resampling must filter: a 5 kHz component of a 16 kHz file cannot be
// carried at 8 kHz and must not alias to 3 kHz.
func TestResampleAntiAlias(t *testing.T) {
	for _, rate := range []int{16000, 44100, 48000} {
		in := make([]int16, rate)
		a, b := NewTone(1000, 6000, rate, 0), NewTone(5000, 6000, rate, 0)
		tmp := make([]int16, rate)
		a.ReadFrame(in)
		b.ReadFrame(tmp)
		for i := range in {
			in[i] += tmp[i]
		}
		var m memWS
		w, _ := NewWAVWriter(&m, rate)
		w.Write(in)
		w.Close()
		r, err := NewWAVReader(bytes.NewReader(m.buf), 8000)
		if err != nil {
			t.Fatal(err)
		}
		out := readAll(r)
		if len(out) < 7990 || len(out) > 8010 {
			t.Errorf("%d Hz: 1 s became %d samples", rate, len(out))
		}
		steady := out[1000:7000]
		l1k := ToneLevel(steady, 1000, 8000)
		alias := ToneLevel(steady, 3000, 8000)
		if l1k < 5700 || l1k > 6300 || alias > 60 {
			t.Errorf("%d Hz: 1 kHz level %.0f (want 6000), alias at 3 kHz %.0f (want < 1%%)", rate, l1k, alias)
		}
	}
}

func readAll(r *WAVReader) []int16 {
	var out []int16
	buf := make([]int16, 333)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return out
		}
	}
}
