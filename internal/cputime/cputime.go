// Package cputime reads the CPU time the process has used, for benchmarks
// that report CPU per operation beside ns/op: on a loaded machine wall time
// says little, CPU time still says what an operation costs.
package cputime

import "time"

// Process returns the user plus system CPU time of the process (zero where
// the system does not tell).
func Process() time.Duration { return process() }
