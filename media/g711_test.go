package media

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// Golden values come from testdata, made outside this package: the decode
// tables with CPython's audioop, the encoding of every 16-bit sample with a
// transcription of the ITU-T G.191 reference code (ulaw_compress,
// alaw_compress). audioop agrees with it on A-law and on positive µ-law
// samples; on negative ones it follows the Sun code, which is off by one
// magnitude step at 508 decision boundaries.
func TestG711DecodeGolden(t *testing.T) {
	f, err := os.Open("testdata/g711_decode.golden")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		var code uint8
		var u, a int16
		if _, err := fmt.Sscanf(sc.Text(), "%x %d %d", &code, &u, &a); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		var out [1]int16
		if DecodeUlaw(out[:], []byte{code}); out[0] != u {
			t.Errorf("µ-law decode(%#02x) = %d, want %d", code, out[0], u)
		}
		if DecodeAlaw(out[:], []byte{code}); out[0] != a {
			t.Errorf("A-law decode(%#02x) = %d, want %d", code, out[0], a)
		}
		n++
	}
	if n != 256 {
		t.Fatalf("golden file has %d codes", n)
	}
	// A few well-known values, so a broken golden file cannot hide a bug.
	for _, c := range []struct {
		code       uint8
		ulaw, alaw int16
	}{{0x00, -32124, -5504}, {0x80, 32124, 5504}, {0xFF, 0, 848}, {0x7F, 0, -848}, {0xD5, 716, 8}, {0x55, -716, -8}, {0xAA, 5372, 32256}} {
		if ulawDecTable[c.code] != c.ulaw || alawDecTable[c.code] != c.alaw {
			t.Errorf("decode(%#02x) = %d, %d; want %d, %d", c.code, ulawDecTable[c.code], alawDecTable[c.code], c.ulaw, c.alaw)
		}
	}
}

func TestG711EncodeGolden(t *testing.T) {
	pcm := make([]int16, 65536)
	for i := range pcm {
		pcm[i] = int16(uint16(i))
	}
	for _, c := range []struct {
		file string
		enc  func([]byte, []int16) int
	}{{"testdata/g711_ulaw_encode.golden", EncodeUlaw}, {"testdata/g711_alaw_encode.golden", EncodeAlaw}} {
		want, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(pcm))
		c.enc(got, pcm)
		if !bytes.Equal(got, want) {
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%s: encode(%d) = %#02x, want %#02x", c.file, pcm[i], got[i], want[i])
				}
			}
		}
	}
}

// Every code word is a fixed point of decode→encode (G.711's decision
// values sit midway between reconstruction values), except µ-law's
// negative zero, which encodes back as positive zero.
func TestG711CodeRoundTrip(t *testing.T) {
	for c := range 256 {
		var u, a [1]byte
		EncodeUlaw(u[:], []int16{ulawDecTable[c]})
		EncodeAlaw(a[:], []int16{alawDecTable[c]})
		if int(u[0]) != c && !(c == 0x7F && u[0] == 0xFF) {
			t.Errorf("µ-law %#02x → %d → %#02x", c, ulawDecTable[c], u[0])
		}
		if int(a[0]) != c {
			t.Errorf("A-law %#02x → %d → %#02x", c, alawDecTable[c], a[0])
		}
	}
}

// The quantisation error of a sample is at most half a step of its
// segment: 1/32 of the magnitude plus the finest step, and at full scale
// the clip of 32767 to the largest reconstruction value.
func TestG711SampleRoundTripError(t *testing.T) {
	prevU, prevA := int16(-32768), int16(-32768)
	for x := -32768; x <= 32767; x++ {
		in := []int16{int16(x)}
		var b [1]byte
		var out [1]int16
		EncodeUlaw(b[:], in)
		DecodeUlaw(out[:], b[:])
		u := out[0]
		EncodeAlaw(b[:], in)
		DecodeAlaw(out[:], b[:])
		a := out[0]
		mag := max(x, -x)
		if e := abs(int(u) - x); e > mag/32+4 && e > 32768-32124 {
			t.Fatalf("µ-law error %d at %d", e, x)
		}
		if e := abs(int(a) - x); e > mag/32+8 && e > 32768-32256 {
			t.Fatalf("A-law error %d at %d", e, x)
		}
		if u < prevU || a < prevA {
			t.Fatalf("not monotonic at %d", x)
		}
		prevU, prevA = u, a
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestCodec(t *testing.T) {
	for _, c := range []Codec{PCMU, PCMA} {
		spf := c.SamplesPerFrame(20 * time.Millisecond)
		if spf != 160 || c.ClockRate() != 8000 || c.MaxPayloadSize(spf) != 160 {
			t.Errorf("%s: spf %d clock %d", c.Name(), spf, c.ClockRate())
		}
		pcm := make([]int16, spf)
		NewTone(1000, 10000, 8000, 0).ReadFrame(pcm)
		payload := make([]byte, spf)
		if n, err := c.Encode(payload, pcm); n != spf || err != nil {
			t.Fatal(n, err)
		}
		out := make([]int16, spf)
		if n, err := c.Decode(out, payload); n != spf || err != nil {
			t.Fatal(n, err)
		}
		if f, _ := DominantFrequency(out, 8000); f != 1000 {
			t.Errorf("%s: tone came back at %v Hz", c.Name(), f)
		}
		if _, err := c.Encode(payload[:10], pcm); err == nil {
			t.Errorf("%s: short buffer accepted", c.Name())
		}
	}
	if c, err := CodecByName("pcma", 8); err != nil || c.Name() != "PCMA" || c.PayloadType() != 8 {
		t.Errorf("CodecByName(pcma) = %v, %v", c, err)
	}
	if _, err := CodecByName("opus", 111); err == nil {
		t.Error("CodecByName(opus) succeeded")
	}
}
