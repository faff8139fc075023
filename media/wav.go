package media

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// WAV (RIFF WAVE) files are the softphone's microphone and speaker. We read
// 16-bit integer PCM of any rate and channel count, downmix to mono and
// resample to the rate the codec wants; we write 16-bit mono PCM.

// Errors returned by the WAV reader; they are wrapped with details.
var (
	ErrNotWAV            = errors.New("media: not a RIFF/WAVE file")
	ErrUnsupportedWAV    = errors.New("media: unsupported WAV format")
	ErrMalformedWAV      = errors.New("media: malformed WAV file")
	errWriterClosed      = errors.New("media: WAV writer closed")
	waveFormatPCM        = uint16(1)
	waveFormatExtensible = uint16(0xFFFE)
)

// WAVFormat describes the stored audio of a WAV file.
type WAVFormat struct {
	SampleRate    int
	Channels      int
	BitsPerSample int
}

// WAVReader reads a WAV file as mono 16-bit PCM at a chosen rate. It is a
// Source.
type WAVReader struct {
	// Format is the file's own format, before downmix and resampling.
	Format WAVFormat

	r         io.Reader
	closer    io.Closer
	remaining int64 // data bytes left; -1 when unknown (streamed files)
	outRate   int
	rs        *resampler
	raw       []byte
	mono      []float32
	pcm       []int16
	pending   []int16 // converted samples not yet returned
	eof       bool
}

// OpenWAV opens a WAV file for reading at outRate Hz (0 means 8000).
func OpenWAV(path string, outRate int) (*WAVReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	w, err := NewWAVReader(bufio.NewReaderSize(f, 32<<10), outRate)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	w.closer = f
	return w, nil
}

// NewWAVReader parses the header of a WAV stream and returns a reader that
// delivers mono 16-bit PCM at outRate Hz (0 means 8000). Anything but
// 16-bit integer PCM (plain or WAVE_FORMAT_EXTENSIBLE) is rejected with an
// error wrapping ErrUnsupportedWAV.
func NewWAVReader(r io.Reader, outRate int) (*WAVReader, error) {
	if outRate <= 0 {
		outRate = 8000
	}
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("%w: short header", ErrNotWAV)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return nil, ErrNotWAV
	}
	w := &WAVReader{r: r, outRate: outRate}
	var haveFmt bool
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return nil, fmt.Errorf("%w: no data chunk", ErrMalformedWAV)
		}
		id, size := string(ch[0:4]), binary.LittleEndian.Uint32(ch[4:8])
		switch id {
		case "fmt ":
			if err := w.readFmt(size); err != nil {
				return nil, err
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, fmt.Errorf("%w: data chunk before fmt chunk", ErrMalformedWAV)
			}
			w.remaining = int64(size)
			// 0 and 0xFFFFFFFF are what streaming writers leave when they
			// could not seek back: read to the end of the file.
			if size == 0 || size == 0xFFFFFFFF {
				w.remaining = -1
			}
			if w.Format.SampleRate != outRate {
				w.rs = newResampler(w.Format.SampleRate, outRate)
			}
			frameBytes := 2 * w.Format.Channels
			w.raw = make([]byte, (4096/frameBytes)*frameBytes)
			return w, nil
		default:
			// Skip LIST, fact, cue and friends; chunks are word aligned.
			skip := int64(size) + int64(size&1)
			if n, err := io.CopyN(io.Discard, r, skip); err != nil || n != skip {
				return nil, fmt.Errorf("%w: truncated %q chunk", ErrMalformedWAV, id)
			}
		}
	}
}

func (w *WAVReader) readFmt(size uint32) error {
	if size < 16 || size > 1024 {
		return fmt.Errorf("%w: fmt chunk of %d bytes", ErrMalformedWAV, size)
	}
	var b [1024 + 1]byte
	n := int(size) + int(size&1)
	if _, err := io.ReadFull(w.r, b[:n]); err != nil {
		return fmt.Errorf("%w: truncated fmt chunk", ErrMalformedWAV)
	}
	tag := binary.LittleEndian.Uint16(b[0:])
	channels := int(binary.LittleEndian.Uint16(b[2:]))
	rate := int(binary.LittleEndian.Uint32(b[4:]))
	align := int(binary.LittleEndian.Uint16(b[12:]))
	bits := int(binary.LittleEndian.Uint16(b[14:]))
	w.Format = WAVFormat{SampleRate: rate, Channels: channels, BitsPerSample: bits}
	if tag == waveFormatExtensible {
		// The sub-format GUID starts with the real format tag.
		if size < 40 {
			return fmt.Errorf("%w: short WAVE_FORMAT_EXTENSIBLE fmt chunk", ErrMalformedWAV)
		}
		tag = binary.LittleEndian.Uint16(b[24:])
	}
	switch {
	case tag != waveFormatPCM:
		return fmt.Errorf("%w: format tag %#x (only integer PCM is supported)", ErrUnsupportedWAV, tag)
	case bits != 16:
		return fmt.Errorf("%w: %d bits per sample (only 16 is supported)", ErrUnsupportedWAV, bits)
	case channels < 1 || channels > 8:
		return fmt.Errorf("%w: %d channels", ErrUnsupportedWAV, channels)
	case rate < 1000 || rate > 384000:
		return fmt.Errorf("%w: sample rate %d Hz", ErrUnsupportedWAV, rate)
	case align != 2*channels:
		return fmt.Errorf("%w: block align %d for %d channels", ErrMalformedWAV, align, channels)
	}
	return nil
}

// Read fills dst with up to len(dst) mono samples at the output rate and
// returns how many it wrote. It returns io.EOF only when no sample is left.
func (w *WAVReader) Read(dst []int16) (int, error) {
	n := 0
	for n < len(dst) {
		if len(w.pending) > 0 {
			c := copy(dst[n:], w.pending)
			w.pending = w.pending[c:]
			n += c
			continue
		}
		if w.rs != nil {
			// Drain the resampler before reading more.
			if c := w.rs.pull(dst[n:]); c > 0 {
				n += c
				continue
			}
		}
		if w.eof {
			break
		}
		if err := w.fill(); err != nil {
			return n, err
		}
	}
	if n == 0 && w.eof {
		return 0, io.EOF
	}
	return n, nil
}

// fill reads one block of raw data, downmixes it and hands it to the
// resampler, or into pending when the rate already matches.
func (w *WAVReader) fill() error {
	want := int64(len(w.raw))
	if w.remaining >= 0 && w.remaining < want {
		want = w.remaining
	}
	frameBytes := 2 * w.Format.Channels
	want -= want % int64(frameBytes)
	var got int
	var err error
	if want > 0 {
		got, err = io.ReadFull(w.r, w.raw[:want])
	}
	got -= got % frameBytes
	if w.remaining >= 0 {
		w.remaining -= int64(got)
	}
	if want == 0 || err != nil {
		// A data chunk that claims more bytes than the file holds is
		// common (truncated recordings): play what is there.
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return err
		}
		w.eof = true
	}
	frames := got / frameBytes
	ch := w.Format.Channels
	if w.rs == nil {
		// Same rate: convert into pending, which Read hands out.
		w.pcm = w.pcm[:0]
		for i := range frames {
			w.pcm = append(w.pcm, downmix(w.raw[i*frameBytes:], ch))
		}
		w.pending = w.pcm
	} else {
		w.mono = w.mono[:0]
		for i := range frames {
			w.mono = append(w.mono, float32(downmix(w.raw[i*frameBytes:], ch)))
		}
		w.rs.push(w.mono)
		if w.eof {
			w.rs.close()
		}
	}
	return nil
}

func downmix(b []byte, ch int) int16 {
	if ch == 1 {
		return int16(binary.LittleEndian.Uint16(b))
	}
	var sum int32
	for c := range ch {
		sum += int32(int16(binary.LittleEndian.Uint16(b[2*c:])))
	}
	return int16(sum / int32(ch))
}

// ReadFrame implements Source: it fills frame, padding the last partial
// frame with silence, and returns io.EOF once the file is exhausted.
func (w *WAVReader) ReadFrame(frame []int16) error {
	n, err := w.Read(frame)
	if n == 0 {
		if err == nil {
			err = io.EOF
		}
		return err
	}
	clear(frame[n:])
	return nil
}

// Close closes the underlying file when the reader was made by OpenWAV.
func (w *WAVReader) Close() error {
	if w.closer != nil {
		return w.closer.Close()
	}
	return nil
}

// WAVWriter writes 16-bit mono PCM. The RIFF and data sizes are written as
// zero first and fixed on Close, so an interrupted recording is still
// readable by most tools (and by our reader, which treats a zero data size
// as "read to the end"). It is a Sink.
type WAVWriter struct {
	ws     io.WriteSeeker
	bw     *bufio.Writer
	closer io.Closer
	bytes  int64
	buf    []byte
	closed bool
}

// CreateWAV creates (or truncates) path for a recording at rate Hz.
func CreateWAV(path string, rate int) (*WAVWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w, err := NewWAVWriter(f, rate)
	if err != nil {
		f.Close()
		return nil, err
	}
	w.closer = f
	return w, nil
}

// NewWAVWriter writes a WAV header for mono 16-bit PCM at rate Hz (0 means
// 8000) to ws, which must be positioned at its start.
func NewWAVWriter(ws io.WriteSeeker, rate int) (*WAVWriter, error) {
	if rate <= 0 {
		rate = 8000
	}
	w := &WAVWriter{ws: ws, bw: bufio.NewWriterSize(ws, 16<<10), buf: make([]byte, 0, 640)}
	var h [44]byte
	copy(h[0:], "RIFF")
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], waveFormatPCM)
	binary.LittleEndian.PutUint16(h[22:], 1)
	binary.LittleEndian.PutUint32(h[24:], uint32(rate))
	binary.LittleEndian.PutUint32(h[28:], uint32(rate*2))
	binary.LittleEndian.PutUint16(h[32:], 2)
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	if _, err := w.bw.Write(h[:]); err != nil {
		return nil, err
	}
	return w, nil
}

// Write appends samples to the data chunk.
func (w *WAVWriter) Write(samples []int16) error {
	if w.closed {
		return errWriterClosed
	}
	for len(samples) > 0 {
		chunk := samples[:min(len(samples), cap(w.buf)/2)]
		samples = samples[len(chunk):]
		b := w.buf[:0]
		for _, s := range chunk {
			b = binary.LittleEndian.AppendUint16(b, uint16(s))
		}
		if _, err := w.bw.Write(b); err != nil {
			return err
		}
		w.bytes += int64(len(b))
	}
	return nil
}

// WriteFrame implements Sink.
func (w *WAVWriter) WriteFrame(frame []int16) error { return w.Write(frame) }

// Close flushes the data, writes the final chunk sizes into the header and
// closes the file if CreateWAV opened it.
func (w *WAVWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	err := w.bw.Flush()
	if err == nil {
		err = w.patchSizes()
	}
	if w.closer != nil {
		if cerr := w.closer.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

func (w *WAVWriter) patchSizes() error {
	// Sizes are 32-bit; past 4 GiB leave the streaming sentinel.
	data := uint32(0xFFFFFFFF)
	if w.bytes <= 0xFFFFFFFF-36 {
		data = uint32(w.bytes)
	}
	var b [4]byte
	riff := data + 36
	if data > 0xFFFFFFFF-36 {
		riff = 0xFFFFFFFF
	}
	binary.LittleEndian.PutUint32(b[:], riff)
	if _, err := w.ws.Seek(4, io.SeekStart); err != nil {
		return err
	}
	if _, err := w.ws.Write(b[:]); err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(b[:], data)
	if _, err := w.ws.Seek(40, io.SeekStart); err != nil {
		return err
	}
	if _, err := w.ws.Write(b[:]); err != nil {
		return err
	}
	_, err := w.ws.Seek(0, io.SeekEnd)
	return err
}
