//go:build !unix

package guard

import "time"

// cpuTime is not measured on this system; the CPU metrics are left out.
func cpuTime() time.Duration { return 0 }
