package location

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff waits before a shared store's next attempt at an Update that
// lost a race: a random time below (attempt+1)*step, at most 5 ms, so that
// writers who collided do not collide again in step. It returns early with
// ctx's error.
func Backoff(ctx context.Context, attempt int, step time.Duration) error {
	limit := min(time.Duration(attempt+1)*step, 5*time.Millisecond)
	t := time.NewTimer(rand.N(limit) + 1)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
