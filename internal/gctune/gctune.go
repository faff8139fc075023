// Package gctune sets the Go garbage collector's growth target (GOGC) from
// the live heap after every collection, so that the server gets both of
// what a fixed GOGC can give only one of.
//
// A SIP server's live heap is usually small and its garbage rate high:
// letting the heap grow by four times its live size between collections
// (GOGC=400) instead of by once (the default 100) makes a quarter of the
// collections, and of their thread wake-ups, for a few megabytes. But a
// registrar holding 100,000 contacts has a live heap of 100 MB and more,
// and five times that is hundreds of megabytes for nothing. The tuner
// therefore allows the heap to grow by Headroom bytes beyond its live size,
// expressed as a percentage between MinPercent and MaxPercent: MaxPercent
// while the live heap is small, falling towards MinPercent as it grows.
package gctune

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// Config bounds the tuner. The zero value of a field means its default.
type Config struct {
	// Headroom is how far the heap may grow beyond the live heap before the
	// next collection (default 64 MiB), within the percentages below.
	Headroom uint64
	// MinPercent and MaxPercent bound the GOGC the tuner sets (defaults 50
	// and 400).
	MinPercent, MaxPercent int
}

func (c Config) withDefaults() Config {
	if c.Headroom == 0 {
		c.Headroom = 64 << 20
	}
	if c.MinPercent == 0 {
		c.MinPercent = 50
	}
	if c.MaxPercent == 0 {
		c.MaxPercent = 400
	}
	return c
}

// Percent is the GOGC for a live heap of live bytes.
func (c Config) Percent(live uint64) int {
	c = c.withDefaults()
	if live == 0 {
		return c.MaxPercent
	}
	p := c.Headroom * 100 / live
	return int(max(uint64(c.MinPercent), min(p, uint64(c.MaxPercent))))
}

// Tuner adjusts GOGC after each collection until Stop.
type Tuner struct {
	cfg     Config
	stopped atomic.Bool
	percent atomic.Int64
	sample  []metrics.Sample
}

// Start sets GOGC for the current heap and re-tunes it after every
// collection. Do not start it when the user has set GOGC.
func Start(cfg Config) *Tuner {
	t := &Tuner{cfg: cfg.withDefaults(), sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	t.adjust()
	t.arm()
	return t
}

// Stop ends the tuning; GOGC keeps its last value.
func (t *Tuner) Stop() { t.stopped.Store(true) }

// Percent is the GOGC the tuner set last.
func (t *Tuner) Percent() int { return int(t.percent.Load()) }

// arm attaches a cleanup to a fresh object that nothing references: it
// runs after the next collection that finds the object unreachable, that
// is after (about) every collection, and arms the next one.
func (t *Tuner) arm() {
	sentinel := new([16]byte) // 16 bytes: not batched by the tiny allocator
	runtime.AddCleanup(sentinel, func(t *Tuner) {
		if t.stopped.Load() {
			return
		}
		t.adjust()
		t.arm()
	}, t)
}

// adjust sets GOGC for the live heap just measured, when it moved by more
// than a tenth (SetGCPercent is cheap, but there is no need).
func (t *Tuner) adjust() {
	metrics.Read(t.sample)
	var live uint64
	if t.sample[0].Value.Kind() == metrics.KindUint64 {
		live = t.sample[0].Value.Uint64()
	}
	p := t.cfg.Percent(live)
	old := int(t.percent.Load())
	if old == 0 || p*10 < old*9 || p*10 > old*11 {
		debug.SetGCPercent(p)
		t.percent.Store(int64(p))
	}
}
