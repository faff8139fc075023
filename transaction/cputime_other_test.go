//go:build !unix

package transaction

import "time"

func cpuTime() time.Duration { return 0 }
