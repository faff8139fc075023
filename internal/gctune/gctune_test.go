package gctune

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	var c Config
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, 400},
		{1 << 20, 400},
		{16 << 20, 400},
		{32 << 20, 200},
		{64 << 20, 100},
		{128 << 20, 50},
		{1 << 30, 50},
	} {
		if got := c.Percent(tc.live); got != tc.want {
			t.Errorf("Percent(%d MiB) = %d, want %d", tc.live>>20, got, tc.want)
		}
	}
	c = Config{Headroom: 8 << 20, MinPercent: 100, MaxPercent: 200}
	if got := c.Percent(1 << 20); got != 200 {
		t.Errorf("small heap: %d", got)
	}
	if got := c.Percent(1 << 30); got != 100 {
		t.Errorf("large heap: %d", got)
	}
}

// TestTunerFollowsHeap grows the live heap past the headroom and checks
// that the tuner lowers GOGC after the collections that see it.
func TestTunerFollowsHeap(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	tu := Start(Config{Headroom: 8 << 20})
	defer tu.Stop()
	runtime.GC()
	if p := waitPercent(tu, func(p int) bool { return p >= 360 }); p < 360 {
		t.Fatalf("small heap: GOGC %d, want 400", p)
	}
	ballast := make([][]byte, 64)
	for i := range ballast {
		ballast[i] = make([]byte, 1<<20)
	}
	runtime.GC()
	runtime.GC()
	// MinPercent's default, give or take the tenth the tuner lets pass
	// before it changes GOGC.
	if p := waitPercent(tu, func(p int) bool { return p <= 55 }); p > 55 {
		t.Fatalf("64 MiB live: GOGC %d, want 50", p)
	}
	runtime.KeepAlive(ballast)
}

// waitPercent waits (bounded) for the cleanup goroutine to adjust.
func waitPercent(tu *Tuner, ok func(int) bool) int {
	deadline := time.Now().Add(5 * time.Second)
	for !ok(tu.Percent()) && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	return tu.Percent()
}
