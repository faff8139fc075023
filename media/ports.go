package media

import (
	"errors"
	"fmt"
	"sync"

	"github.com/parley-sip/parley/sip"
)

// PortAllocator hands out RTP/RTCP port pairs from one configured range: the
// RTP port even, RTCP on the odd port above it (RFC 3550 §11). One allocator
// serves every user of media ports in a process — relayed calls (Relay) and
// terminated ones (Session with Config.Ports) — so they never compete for
// the same pair, and exhaustion is seen and counted in one place.
//
// Pairs are handed out round robin from a cursor, not lowest first: a port
// just released is reused as late as possible, so late packets of an ended
// call do not reach the next call given the same port. A pair whose bind
// fails (another process holds it) is skipped and tried again later.
// All methods are safe for concurrent use.
type PortAllocator struct {
	lo, hi int // first and last RTP port (both even)

	mu     sync.Mutex
	used   []bool // per pair, index (port-lo)/2
	next   int    // cursor: the pair tried first by the next Acquire
	inUse  int
	failed uint64 // Acquire calls that found no pair
}

// PortStats is a snapshot of an allocator's use.
type PortStats struct {
	Pairs     int    // pairs in the range
	InUse     int    // pairs handed out and not yet released
	Exhausted uint64 // Acquire calls that found no free pair (each became a 503)
}

// ErrNoPorts is the kind of error returned when no port pair is free; the
// error itself is a *sip.StatusError with code 503, which is what a B2BUA
// answers the INVITE with.
var ErrNoPorts = errors.New("media: no free port pair in range")

// NewPortAllocator makes an allocator for RTP ports lo..hi (inclusive). The
// range must hold at least one even port with its odd partner.
func NewPortAllocator(lo, hi int) (*PortAllocator, error) {
	if lo < 1024 || hi > 65535 || hi <= lo {
		return nil, fmt.Errorf("media: invalid port range %d-%d (want 1024 <= lo < hi <= 65535)", lo, hi)
	}
	first := lo + lo&1
	last := hi - 1 // the highest RTP port whose RTCP partner is in range
	last -= last & 1
	if last < first {
		return nil, fmt.Errorf("media: port range %d-%d holds no even/odd pair", lo, hi)
	}
	return &PortAllocator{lo: first, hi: last, used: make([]bool, (last-first)/2+1)}, nil
}

// Range returns the first and last RTP port handed out.
func (a *PortAllocator) Range() (lo, hi int) { return a.lo, a.hi }

// Acquire reserves a free pair and calls bind with its RTP port; bind opens
// the sockets (RTP on port, RTCP on port+1) and returns an error when the
// system refuses one, in which case the pair is skipped and the next one
// tried. When every free pair has been tried the error is a
// *sip.StatusError{Code: 503} wrapping ErrNoPorts. The caller gives the
// port back with Release after closing its sockets.
func (a *PortAllocator) Acquire(bind func(rtpPort int) error) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := len(a.used)
	for tried := 0; tried < n; tried++ {
		i := a.next
		a.next = (a.next + 1) % n
		if a.used[i] {
			continue
		}
		port := a.lo + 2*i
		if err := bind(port); err != nil {
			continue
		}
		a.used[i] = true
		a.inUse++
		return port, nil
	}
	a.failed++
	return 0, &sip.StatusError{Code: 503, Reason: fmt.Sprintf("media ports %d-%d exhausted", a.lo, a.hi+1), Err: ErrNoPorts}
}

// Release gives back the pair whose RTP port is port. Releasing a port
// that is not held is a no-op.
func (a *PortAllocator) Release(port int) {
	if port < a.lo || port > a.hi || port&1 != 0 {
		return
	}
	a.mu.Lock()
	if i := (port - a.lo) / 2; a.used[i] {
		a.used[i] = false
		a.inUse--
	}
	a.mu.Unlock()
}

// Stats returns a snapshot of the allocator's use.
func (a *PortAllocator) Stats() PortStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return PortStats{Pairs: len(a.used), InUse: a.inUse, Exhausted: a.failed}
}
