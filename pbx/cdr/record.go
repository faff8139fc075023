package cdr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Disposition is how a call ended.
type Disposition uint8

const (
	// Answered: someone answered (whatever ended it later).
	Answered Disposition = iota + 1
	// Busy: the callee was busy (486, 600) or on do-not-disturb.
	Busy
	// NoAnswer: nobody answered before the ring timeout (480, 408).
	NoAnswer
	// Failed: the call could not be placed (404, 488, 503, ...).
	Failed
	// Cancelled: the caller gave up before an answer (CANCEL, 487).
	Cancelled
)

var dispositionNames = [...]string{"", "answered", "busy", "no-answer", "failed", "cancelled"}

func (d Disposition) String() string {
	if int(d) < len(dispositionNames) && d != 0 {
		return dispositionNames[d]
	}
	return fmt.Sprintf("Disposition(%d)", uint8(d))
}

// ParseDisposition reads the String form.
func ParseDisposition(s string) (Disposition, error) {
	for i, n := range dispositionNames {
		if i > 0 && n == s {
			return Disposition(i), nil
		}
	}
	return 0, fmt.Errorf("cdr: unknown disposition %q", s)
}

// Side is who ended a call.
type Side uint8

const (
	SideUnknown Side = iota
	SideCaller
	SideCallee
	SidePBX // the PBX itself: a timeout, a failure, a shutdown
)

var sideNames = [...]string{"", "caller", "callee", "pbx"}

func (s Side) String() string {
	if int(s) < len(sideNames) {
		return sideNames[s]
	}
	return fmt.Sprintf("Side(%d)", uint8(s))
}

// ParseSide reads the String form ("" is SideUnknown).
func ParseSide(s string) (Side, error) {
	for i, n := range sideNames {
		if n == s {
			return Side(i), nil
		}
	}
	return 0, fmt.Errorf("cdr: unknown side %q", s)
}

// Cause is why a call ended: the final SIP status (Code 0 for a BYE) and
// its reason phrase, and the side that ended it.
type Cause struct {
	Code   int
	Reason string
	Side   Side
}

// String is "486 Busy Here (callee)"; a BYE with no reason is "BYE (caller)".
func (c Cause) String() string {
	if c.Code == 0 && c.Reason == "" {
		c.Reason = "BYE"
	}
	var parts []string
	if c.Code != 0 {
		parts = append(parts, fmt.Sprint(c.Code))
	}
	if c.Reason != "" {
		parts = append(parts, c.Reason)
	}
	s := strings.Join(parts, " ")
	if c.Side != SideUnknown {
		if s != "" {
			s += " "
		}
		s += "(" + c.Side.String() + ")"
	}
	return s
}

// Record is one call.
type Record struct {
	// ID is the store's key, set by the store when read; ignored by Write.
	ID int64
	// Caller and Callee are users (or the URIs of outsiders); Callee is
	// who answered, else who was rung last. Dialled is the number as
	// dialled (the Request-URI's user part).
	Caller, Callee, Dialled string
	// Start is when the INVITE arrived, Answer when the 200 was sent to
	// the caller (zero when never answered), End when the call ended.
	Start, Answer, End time.Time
	// Duration is the talk time, End - Answer (zero when not answered).
	Duration    time.Duration
	Disposition Disposition
	Cause       Cause
	// CallIDs are the Call-IDs of the call's dialogs: the caller's leg
	// first, then the callee legs.
	CallIDs []string
	// Anchored says whether the media went through the PBX.
	Anchored bool
	// Route is the dial-plan route that handled the call ("200",
	// "_9."); Recording is the recording's file, when recorded.
	Route, Recording string
}

// Finish sets End, Disposition and Cause, and Duration from Answer.
func (r *Record) Finish(end time.Time, d Disposition, c Cause) {
	r.End, r.Disposition, r.Cause = end, d, c
	r.Duration = 0
	if !r.Answer.IsZero() && end.After(r.Answer) {
		r.Duration = end.Sub(r.Answer)
	}
}

// Limits on a record's text, enforced by Check.
const (
	MaxFieldLen = 1024 // bytes per text field
	MaxCallIDs  = 64
)

// Check reports why a record cannot be stored.
func (r *Record) Check() error {
	switch {
	case r.Start.IsZero() || r.End.IsZero():
		return errors.New("cdr: a record needs Start and End")
	case r.End.Before(r.Start):
		return errors.New("cdr: End is before Start")
	case !r.Answer.IsZero() && (r.Answer.Before(r.Start) || r.Answer.After(r.End)):
		return errors.New("cdr: Answer is outside Start..End")
	case r.Disposition < Answered || r.Disposition > Cancelled:
		return fmt.Errorf("cdr: bad disposition %d", r.Disposition)
	case r.Cause.Side > SidePBX:
		return fmt.Errorf("cdr: bad side %d", r.Cause.Side)
	case r.Cause.Code != 0 && (r.Cause.Code < 100 || r.Cause.Code > 699):
		return fmt.Errorf("cdr: bad SIP code %d", r.Cause.Code)
	case r.Duration < 0:
		return errors.New("cdr: negative duration")
	case len(r.CallIDs) > MaxCallIDs:
		return fmt.Errorf("cdr: more than %d Call-IDs", MaxCallIDs)
	}
	if max(len(r.Caller), len(r.Callee), len(r.Dialled), len(r.Cause.Reason), len(r.Route), len(r.Recording)) > MaxFieldLen {
		return fmt.Errorf("cdr: a field is longer than %d bytes", MaxFieldLen)
	}
	for _, id := range r.CallIDs {
		if len(id) > MaxFieldLen {
			return fmt.Errorf("cdr: a Call-ID is longer than %d bytes", MaxFieldLen)
		}
		if id == "" || strings.ContainsAny(id, " \t\r\n") {
			return fmt.Errorf("cdr: Call-ID %q is empty or has white space", id)
		}
	}
	return nil
}

// Filter selects records for Query. Zero fields select everything.
type Filter struct {
	// User matches records whose Caller or Callee is User.
	User string
	// From and To bound Start: From <= Start < To.
	From, To time.Time
	// Limit keeps only the latest Limit matching records (0: all).
	Limit int
}

// Store keeps records. Implementations are safe for concurrent use.
// Reads return records in the order of Start (oldest first; ties by ID).
type Store interface {
	// Write stores one record (its ID is ignored). With Async it does not
	// wait for the disk.
	Write(ctx context.Context, r Record) error
	// Last returns the latest n records, oldest first.
	Last(ctx context.Context, n int) ([]Record, error)
	// Query returns the records the filter selects, oldest first.
	Query(ctx context.Context, f Filter) ([]Record, error)
	Close() error
}

// BatchWriter is implemented by stores that write many records at once
// faster than one by one (one transaction); Async uses it when present.
type BatchWriter interface {
	WriteBatch(ctx context.Context, rs []Record) error
}

// Flusher is implemented by stores that buffer writes (Async): Flush
// returns once everything written before it is stored.
type Flusher interface {
	Flush(ctx context.Context) error
}

var (
	// ErrQueueFull is Async.Write's answer when its queue is full.
	ErrQueueFull = errors.New("cdr: write queue full")
	// ErrClosed is returned by a closed store.
	ErrClosed = errors.New("cdr: store closed")
)
