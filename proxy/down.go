package proxy

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-sip/parley/transport"
)

// DefaultDownTime is how long a next-hop address that failed is tried
// last when Config.DownTime is zero.
const DefaultDownTime = 30 * time.Second

// maxDown bounds the addresses remembered as down.
const maxDown = 1024

// maxRetryAfter caps how long a 503's Retry-After keeps an address down.
const maxRetryAfter = 5 * time.Minute

type downKey struct {
	transport string
	addr      netip.AddrPort
}

// downList remembers next-hop addresses that failed lately — a transport
// error, a timeout without any response, a 503 — so that new branches try
// them after the others of their list until they are due again (RFC 3263
// §4.3: a 503 with Retry-After says the server is down for that long; for
// the rest, trying a silent address first would cost every request a
// timer B or F). A down address is still tried when nothing else is left.
type downList struct {
	n     atomic.Int32 // entries, to skip the lock when there are none
	mu    sync.Mutex
	until map[downKey]time.Time
	def   time.Duration
	now   func() time.Time
}

func newDownList(def time.Duration) *downList {
	if def <= 0 {
		def = DefaultDownTime
	}
	return &downList{until: map[downKey]time.Time{}, def: def, now: time.Now}
}

// mark notes a as down for d (0: the default).
func (l *downList) mark(a transport.Addr, d time.Duration) {
	if !a.AddrPort.IsValid() {
		return
	}
	if d <= 0 {
		d = l.def
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.until) >= maxDown {
		for k, t := range l.until {
			if !now.Before(t) {
				delete(l.until, k)
			}
		}
		if len(l.until) >= maxDown {
			return
		}
	}
	l.until[downKey{a.Transport, a.AddrPort}] = now.Add(d)
	l.n.Store(int32(len(l.until)))
}

// up forgets a: it answered.
func (l *downList) up(a transport.Addr) {
	if l.n.Load() == 0 {
		return
	}
	l.mu.Lock()
	delete(l.until, downKey{a.Transport, a.AddrPort})
	l.n.Store(int32(len(l.until)))
	l.mu.Unlock()
}

// order moves the addresses that are down to the end of hops, keeping
// the order of each part.
func (l *downList) order(hops []transport.Addr) []transport.Addr {
	if len(hops) < 2 || l.n.Load() == 0 {
		return hops
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	down := func(a transport.Addr) bool {
		t, ok := l.until[downKey{a.Transport, a.AddrPort}]
		return ok && now.Before(t)
	}
	if !slices.ContainsFunc(hops, down) {
		return hops
	}
	out := make([]transport.Addr, 0, len(hops))
	for _, a := range hops {
		if !down(a) {
			out = append(out, a)
		}
	}
	for _, a := range hops {
		if down(a) {
			out = append(out, a)
		}
	}
	return out
}
