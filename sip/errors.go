package sip

import (
	"errors"
	"strconv"
)

// StatusError is a parse or validation failure together with the response a
// server should send for it. A request (other than ACK) that fails with a
// StatusError and comes back beside it should be answered with Code and
// Reason — to its source when its Via cannot be read (§18.2.2); responses
// that fail are always dropped (§18.1.2).
type StatusError struct {
	Code   int    // SIP status code to answer, e.g. 400
	Reason string // reason phrase naming the bad part, e.g. "Bad CSeq: method mismatch"
	Err    error  // the sentinel kind, for errors.Is
}

func (e *StatusError) Error() string {
	return "sip: " + strconv.Itoa(e.Code) + " " + e.Reason
}

func (e *StatusError) Unwrap() error { return e.Err }

// Sentinel error kinds wrapped by StatusError.
var (
	ErrMalformed       = errors.New("sip: malformed message")
	ErrTooLarge        = errors.New("sip: message too large")
	ErrVersion         = errors.New("sip: unsupported SIP version")
	ErrMissingHeader   = errors.New("sip: missing mandatory header")
	ErrContentLength   = errors.New("sip: bad Content-Length")
	ErrIncomplete      = errors.New("sip: incomplete message")
	ErrUnsupportedURI  = errors.New("sip: unsupported URI scheme")
	ErrBadHeaderValue  = errors.New("sip: bad header value")
	ErrNoHeaderSection = errors.New("sip: no header section")
)

func statusErr(code int, kind error, reason string) *StatusError {
	return &StatusError{Code: code, Reason: reason, Err: kind}
}

func badRequest(reason string) *StatusError {
	return statusErr(400, ErrMalformed, reason)
}

func badHeader(name, what string) *StatusError {
	return statusErr(400, ErrBadHeaderValue, "Bad "+name+": "+what)
}

// AsStatusError reports the StatusError inside err, if any.
func AsStatusError(err error) (*StatusError, bool) {
	var se *StatusError
	ok := errors.As(err, &se)
	return se, ok
}
