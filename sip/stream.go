package sip

import (
	"strings"
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
	// scanned is how many bytes from start were searched for the end of
	// the header section without finding it.
	scanned int
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
//
// Keep-alives: CRLFCRLF is a ping and a CRLF followed by anything else is a
// pong. A CRLF that ends the buffered bytes is reported as a pong at once,
// because a client waiting for a pong must not wait for more bytes; so a
// ping split between two reads after its first CRLF is seen as two pongs.
// Whatever the split, the number of CRLFs reported (two per ping, one per
// pong) and the messages are the same. Other stray CR and LF bytes between
// messages are skipped (§7.5).
func (f *Framer) Next() (kind FrameKind, frame []byte, err error) {
	lim := f.Limits.withDefaults()
	data := f.buf[f.start:]
	// Keep-alives and stray line ends between messages.
	for len(data) > 0 && (data[0] == '\r' || data[0] == '\n') {
		switch {
		case len(data) == 1 && data[0] == '\r',
			len(data) == 3 && string(data) == "\r\n\r":
			// Wait for the rest of a CRLF or of a ping.
			f.compact()
			return FrameNone, nil, nil
		case len(data) >= 4 && string(data[:4]) == "\r\n\r\n":
			f.consume(4)
			return FramePing, nil, nil
		case data[0] == '\r' && data[1] == '\n':
			// A CRLF alone at the end, or followed by something else.
			f.consume(2)
			return FramePong, nil, nil
		default: // a stray LF or CR
			f.consume(1)
			data = f.buf[f.start:]
		}
	}
	if len(data) == 0 {
		f.compact()
		return FrameNone, nil, nil
	}
	// Resume the search for the empty line where the last call stopped; a
	// line end found before scanned-2 was already checked.
	from := max(f.scanned-2, 0)
	hdrEnd, bodyStart := headerEndFrom(data, from)
	if hdrEnd < 0 {
		if len(data) > lim.MaxMessageSize {
			return FrameNone, nil, statusErr(513, ErrTooLarge, "Message Too Large: header section too long")
		}
		f.compact()
		f.scanned = len(data)
		return FrameNone, nil, nil
	}
	if bodyStart > lim.MaxMessageSize {
		return FrameNone, nil, statusErr(513, ErrTooLarge, "Message Too Large: header section too long")
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
	f.scanned = 0
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

// streamContentLength finds Content-Length (or "l") in a header section,
// unfolding continuation lines. On a stream it is mandatory (§18.3, §20.14).
func streamContentLength(head []byte) (int, error) {
	s := unsafe.String(unsafe.SliceData(head), len(head))
	_, s = nextLine(s) // the start line
	found := -1
	for s != "" {
		line, rest := nextLine(s)
		s = rest
		colon := strings.IndexByte(line, ':')
		if colon <= 0 || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		if lookupHeaderID(trimLWS(line[:colon])) != hContentLength {
			continue
		}
		value := trimLWS(line[colon+1:])
		for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
			var cont string
			cont, s = nextLine(s)
			if cont = trimLWS(cont); cont != "" {
				if value != "" {
					value = "x" // "1 2" after unfolding: not a number
				} else {
					value = cont
				}
			}
		}
		n, ok := parseUint(value, 1<<31-1)
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
