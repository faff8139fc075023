package sip

import (
	"bytes"
	"unsafe"
)

// Framer cuts a byte stream (TCP, TLS, SCTP stream) into messages by their
// Content-Length (§18.3), across split and coalesced reads. It also
// recognises the CRLF keep-alives of RFC 5626 §3.5.1 between messages: a
// double CRLF is a ping (answer with a single CRLF), a lone CRLF a pong.
//
// Write appends received bytes; Next returns complete frames. A Framer is
// not safe for concurrent use: one reader goroutine owns it.
type Framer struct {
	Limits Limits
	buf    []byte
	start  int
}

// FrameKind says what Next found.
type FrameKind uint8

const (
	FrameNone    FrameKind = iota // more bytes are needed
	FrameMessage                  // a whole message
	FramePing                     // a CRLFCRLF keep-alive ping
	FramePong                     // a CRLF keep-alive pong
)

// Write appends stream bytes. It never fails; limits are applied by Next.
func (f *Framer) Write(p []byte) (int, error) {
	if f.start > 0 && f.start == len(f.buf) {
		f.buf, f.start = f.buf[:0], 0
	}
	f.buf = append(f.buf, p...)
	return len(p), nil
}

// Buffered returns the number of bytes held that are not yet framed.
func (f *Framer) Buffered() int { return len(f.buf) - f.start }

// Next returns the next frame. For FrameMessage, frame holds the whole
// message; it is valid until the next call to Write or Next. An error means
// the stream cannot be framed any further (a missing or bad Content-Length,
// or a message over the limits): the connection should be closed after
// answering, if the error's status can be sent.
func (f *Framer) Next() (kind FrameKind, frame []byte, err error) {
	lim := f.Limits.withDefaults()
	data := f.buf[f.start:]
	// Keep-alives and stray line ends between messages.
	if len(data) > 0 && (data[0] == '\r' || data[0] == '\n') {
		switch {
		case bytes.HasPrefix(data, []byte("\r\n\r\n")):
			f.consume(4)
			return FramePing, nil, nil
		case len(data) < 4 && bytes.HasPrefix([]byte("\r\n\r\n"), data):
			if len(data) == 2 {
				// "\r\n" alone is a pong, unless more CRLF follows; a pong is
				// sent by itself, so decide when nothing else is buffered.
				f.consume(2)
				return FramePong, nil, nil
			}
			return FrameNone, nil, nil
		case bytes.HasPrefix(data, []byte("\r\n")):
			f.consume(2)
			return FramePong, nil, nil
		default: // a bare LF
			f.consume(1)
			return f.Next()
		}
	}
	if len(data) == 0 {
		f.compact()
		return FrameNone, nil, nil
	}
	hdrEnd, bodyStart := headerEnd(data)
	if hdrEnd < 0 {
		if len(data) > lim.MaxMessageSize {
			return FrameNone, nil, statusErr(513, ErrTooLarge, "Message Too Large: header section too long")
		}
		f.compact()
		return FrameNone, nil, nil
	}
	cl, err := streamContentLength(data[:hdrEnd])
	if err != nil {
		return FrameNone, nil, err
	}
	total := bodyStart + cl
	if total > lim.MaxMessageSize {
		return FrameNone, nil, statusErr(513, ErrTooLarge, "Message Too Large")
	}
	if len(data) < total {
		f.compact()
		return FrameNone, nil, nil
	}
	f.consume(total)
	return FrameMessage, data[:total:total], nil
}

func (f *Framer) consume(n int) {
	f.start += n
	if f.start == len(f.buf) {
		f.buf, f.start = f.buf[:0], 0
	}
}

// compact moves unframed bytes to the front before more are appended, so the
// buffer does not grow without bound on a long-lived connection.
func (f *Framer) compact() {
	if f.start > 0 {
		n := copy(f.buf, f.buf[f.start:])
		f.buf, f.start = f.buf[:n], 0
	}
}

// streamContentLength finds Content-Length (or "l") in a header section.
// On a stream it is mandatory (§18.3, §20.14).
func streamContentLength(head []byte) (int, error) {
	s := unsafe.String(unsafe.SliceData(head), len(head))
	found := -1
	for s != "" {
		line, rest := nextLine(s)
		s = rest
		colon := -1
		for i := 0; i < len(line); i++ {
			if line[i] == ':' {
				colon = i
				break
			}
		}
		if colon <= 0 || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		id := lookupHeaderID(trimLWS(line[:colon]))
		if id != hContentLength {
			continue
		}
		n, ok := parseUint(trimLWS(line[colon+1:]), 1<<31-1)
		if !ok {
			return 0, statusErr(400, ErrContentLength, "Bad Content-Length: not a number")
		}
		if found >= 0 && found != n {
			return 0, statusErr(400, ErrContentLength, "Bad Content-Length: conflicting values")
		}
		found = n
	}
	if found < 0 {
		return 0, statusErr(400, ErrContentLength, "Missing Content-Length on a stream")
	}
	return found, nil
}
