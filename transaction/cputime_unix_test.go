//go:build unix

package transaction

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time the process has used. Benchmarks report it per
// operation beside ns/op because wall time is meaningless on a loaded
// machine, while CPU time still says what an operation costs.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
