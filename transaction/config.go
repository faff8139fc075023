package transaction

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/parley-sip/parley/sip"
)

// Default values of the Config fields (RFC 3261 Table 4 for the timers).
const (
	DefaultT1          = 500 * time.Millisecond
	DefaultT2          = 4 * time.Second
	DefaultT4          = 5 * time.Second
	DefaultTimerD      = 32 * time.Second
	DefaultTryingDelay = 200 * time.Millisecond
	DefaultRetryAfter  = 5
	DefaultQueueSize   = 4096
	// DefaultResponseBuffer is the capacity of a ClientTx's Responses channel.
	DefaultResponseBuffer = 8
)

// Config holds the timers and limits of one Layer. The zero value of every
// field means its documented default, so Config{} is a working RFC 3261
// configuration.
type Config struct {
	// T1 is the round-trip time estimate (default 500 ms). The retransmit
	// intervals and the transaction timeouts B, F, H, J, L and M (64*T1)
	// derive from it.
	T1 time.Duration
	// T2 caps the retransmit interval of non-INVITE requests and of INVITE
	// final responses (default 4 s).
	T2 time.Duration
	// T4 is how long a message may stay in the network (default 5 s):
	// timers I and K over unreliable transports.
	T4 time.Duration
	// TimerD is how long an INVITE client transaction absorbs
	// retransmitted final responses over an unreliable transport (default
	// 32 s, the RFC minimum).
	TimerD time.Duration
	// TimerC bounds how long an INVITE client transaction waits for a final
	// response after a provisional one (§16.6 step 11, §16.8). Proxies set it
	// above 3 minutes; when it fires the layer sends a CANCEL, or acts as if
	// a 408 had arrived when nothing had. Zero leaves it off (user agents).
	TimerC time.Duration

	// TryingDelay is how long an INVITE server transaction waits for the TU
	// to answer before it sends 100 Trying itself (§17.2.1; default 200 ms).
	// A negative value turns the automatic 100 off.
	TryingDelay time.Duration

	// Workers is the number of goroutines that run the Handler (default
	// 64 * GOMAXPROCS). Handlers should not block for a call's duration:
	// they may return and answer later from any goroutine.
	Workers int
	// QueueSize bounds the new requests waiting for a worker (default 4096).
	// Beyond it a request is answered 503 without reaching the Handler.
	QueueSize int
	// RetryAfter is the Retry-After value in seconds of the 503 sent when
	// the queue is full or the layer is shutting down (default 5; negative
	// omits the header).
	RetryAfter int

	// Inline, when set, picks requests whose handler is quick and never
	// blocks (stateless answers, OPTIONS to the server itself): those run
	// on the transport's reader goroutine instead of a worker, which saves
	// a goroutine handoff and often a thread wake-up per request. Anything
	// that may wait (I/O, other transactions) must go to the workers.
	Inline func(req *sip.Request) bool

	// MaxServerTransactions bounds the server transactions alive at once
	// (0: no bound), and MaxPerSource those started by requests from one
	// IP address (0: no bound). Beyond either a new request gets a
	// stateless 503 with Retry-After and no transaction: under a flood the
	// memory the layer holds stays bounded by these numbers, not by the
	// flood's rate times the transactions' lifetimes. The per-source count
	// is kept in a fixed table of hashed counters, so sources that share a
	// counter are counted together: the bound errs towards refusing.
	MaxServerTransactions int
	MaxPerSource          int

	// ResponseBuffer is the capacity of a ClientTx's Responses channel
	// (default 8, minimum 2). A provisional response that finds it full is
	// dropped; a final response always has room.
	ResponseBuffer int

	// Logger receives the reports of handler panics (default
	// slog.Default()).
	Logger *slog.Logger

	// OnAck receives ACK requests that match no transaction — the ACK for a
	// 2xx, a transaction of its own (§17.1.1.3) — and ACKs for a 2xx that
	// match an INVITE server transaction in the Accepted state (RFC 6026).
	// It runs on the transport's reader goroutine and must not block.
	// Nil drops them.
	OnAck func(ack *sip.Request)
	// OnStrayResponse receives responses that match no client transaction
	// (§17.1.3); a proxy forwards stray 2xx responses statelessly (§16.7).
	// It runs on the transport's reader goroutine and must not block. Nil
	// drops them.
	OnStrayResponse func(resp *sip.Response)
}

// Validate reports settings that cannot work. Zero values are valid (they
// mean the defaults).
func (c *Config) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"T1", c.T1}, {"T2", c.T2}, {"T4", c.T4}, {"TimerC", c.TimerC}, {"TimerD", c.TimerD}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("transaction: %s must not be negative", d.name))
		}
	}
	if c.Workers < 0 || c.QueueSize < 0 || c.ResponseBuffer < 0 || c.MaxServerTransactions < 0 || c.MaxPerSource < 0 {
		errs = append(errs, errors.New("transaction: Workers, QueueSize, ResponseBuffer, MaxServerTransactions and MaxPerSource must not be negative"))
	}
	d := c.withDefaults()
	if d.T2 < d.T1 {
		errs = append(errs, errors.New("transaction: T2 must not be smaller than T1"))
	}
	if d.TimerC > 0 && d.TimerC < 3*time.Minute {
		errs = append(errs, errors.New("transaction: TimerC must be above 3 minutes (§16.6 step 11)"))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.T1 <= 0 {
		c.T1 = DefaultT1
	}
	if c.T2 <= 0 {
		c.T2 = DefaultT2
	}
	if c.T4 <= 0 {
		c.T4 = DefaultT4
	}
	if c.TimerD <= 0 {
		c.TimerD = DefaultTimerD
	}
	if c.TimerC < 0 {
		c.TimerC = 0
	}
	if c.TryingDelay == 0 {
		c.TryingDelay = DefaultTryingDelay
	}
	if c.Workers <= 0 {
		c.Workers = 64 * runtime.GOMAXPROCS(0)
	}
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.RetryAfter == 0 {
		c.RetryAfter = DefaultRetryAfter
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ResponseBuffer <= 0 {
		c.ResponseBuffer = DefaultResponseBuffer
	}
	if c.ResponseBuffer < 2 {
		c.ResponseBuffer = 2
	}
	return c
}
