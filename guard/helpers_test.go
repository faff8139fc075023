package guard

import (
	"bytes"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is an injected clock that moves only when told.
type fakeClock struct{ ns atomic.Int64 }

var clockBase = time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)

func (c *fakeClock) Now() time.Time          { return clockBase.Add(time.Duration(c.ns.Load())) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// logBuffer collects log output; safe for concurrent handlers.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newTestGuard makes a Guard on a fake clock, logging JSON into a buffer.
func newTestGuard(t testing.TB, cfg Config) (*Guard, *fakeClock, *logBuffer) {
	t.Helper()
	clk := &fakeClock{}
	logs := &logBuffer{}
	if cfg.Now == nil {
		cfg.Now = clk.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return g, clk, logs
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// addrN is the n-th IPv4 address of 10.0.0.0/8 and up.
func addrN(n uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(10 + n>>24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// send admits n packets from src and returns how many were admitted.
func send(g *Guard, src netip.Addr, n int) int {
	ok := 0
	for range n {
		if g.Admit(src) {
			ok++
		}
	}
	return ok
}
