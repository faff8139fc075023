// Command compare runs the side-by-side benchmarks of Parley and sipgo in
// one process, interleaved over several rounds, and prints per case the
// median ns/op, allocs/op and B/op of each stack with the ratios
// sipgo/parley (the speed ratio is the median of the per-round ratios). On a small shared machine absolute times drift from run to
// run; interleaving keeps both stacks under the same conditions, so read
// the ratios.
//
//	go run ./cmd/compare [-rounds 5] [-benchtime 300ms] [-run regexp]
package main

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"slices"
	"testing"
	"text/tabwriter"

	"github.com/parley-sip/parley/bench/sipparse"
)

func main() {
	testing.Init()
	rounds := flag.Int("rounds", 5, "rounds; each runs every case on both stacks, alternating which goes first")
	benchtime := flag.String("benchtime", "300ms", "time (or Nx count) per benchmark run")
	run := flag.String("run", "", "only cases whose name matches this regexp")
	flag.Parse()
	if err := flag.Set("test.benchtime", *benchtime); err != nil {
		fmt.Fprintln(os.Stderr, "compare: -benchtime:", err)
		os.Exit(2)
	}
	re, err := regexp.Compile(*run)
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare: -run:", err)
		os.Exit(2)
	}
	var cases []sipparse.Case
	for _, c := range sipparse.Cases() {
		if re.MatchString(c.Name) {
			cases = append(cases, c)
		}
	}
	if len(cases) == 0 {
		fmt.Fprintln(os.Stderr, "compare: no case matches", *run)
		os.Exit(2)
	}

	fmt.Printf("%s/%s, GOMAXPROCS=%d, %s, %d rounds x %s per run, medians\n",
		runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), runtime.Version(), *rounds, *benchtime)
	parley := make([][]testing.BenchmarkResult, len(cases))
	sipgo := make([][]testing.BenchmarkResult, len(cases))
	for r := range *rounds {
		fmt.Fprintf(os.Stderr, "round %d/%d\n", r+1, *rounds)
		for i, c := range cases {
			if r%2 == 0 {
				parley[i] = append(parley[i], bench(c.Name, "parley", c.Parley))
				sipgo[i] = append(sipgo[i], bench(c.Name, "sipgo", c.Sipgo))
			} else {
				sipgo[i] = append(sipgo[i], bench(c.Name, "sipgo", c.Sipgo))
				parley[i] = append(parley[i], bench(c.Name, "parley", c.Parley))
			}
		}
	}

	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "case\tparley ns/op\tsipgo ns/op\tspeed x\tparley allocs\tsipgo allocs\talloc x\tparley B/op\tsipgo B/op\ttarget\t")
	missed := 0
	for i, c := range cases {
		p, g := summarize(parley[i]), summarize(sipgo[i])
		speed := pairedSpeed(parley[i], sipgo[i])
		alloc := ratio(g.allocs, p.allocs)
		target := ""
		if c.Target {
			target = "met"
			if speed < 2 || alloc < 2 {
				target = "MISSED"
				missed++
			}
		}
		fmt.Fprintf(w, "%s\t%.0f\t%.0f\t%s\t%.0f\t%.0f\t%s\t%.0f\t%.0f\t%s\t\n",
			c.Name, p.ns, g.ns, fmtRatio(speed), p.allocs, g.allocs, fmtRatio(alloc), p.bytes, g.bytes, target)
	}
	w.Flush()
	fmt.Println()
	fmt.Println("speed x = median over rounds of sipgo ns/op / parley ns/op within the round; alloc x = sipgo allocs/op / parley allocs/op (higher is better for Parley).")
	fmt.Println("target (parse+access cases): speed x >= 2 and alloc x >= 2.")
	if missed > 0 {
		fmt.Printf("target missed on %d case(s)\n", missed)
		os.Exit(1)
	}
	fmt.Println("target met on every parse+access case")
}

func bench(name, stack string, f func(*testing.B)) testing.BenchmarkResult {
	r := testing.Benchmark(f)
	if r.N == 0 {
		// testing.Benchmark reports a failed benchmark as a zero result.
		fmt.Fprintf(os.Stderr, "compare: %s on %s failed\n", name, stack)
		os.Exit(1)
	}
	return r
}

type summary struct{ ns, allocs, bytes float64 }

// summarize takes the median of each figure over the rounds.
func summarize(rs []testing.BenchmarkResult) summary {
	var ns, allocs, bytes []float64
	for _, r := range rs {
		ns = append(ns, nsPerOp(r))
		allocs = append(allocs, float64(r.MemAllocs)/float64(r.N))
		bytes = append(bytes, float64(r.MemBytes)/float64(r.N))
	}
	return summary{median(ns), median(allocs), median(bytes)}
}

func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// pairedSpeed is the median over rounds of sipgo ns/op ÷ Parley ns/op,
// each ratio taken within one round: the two runs of a round are adjacent
// in time and share the machine's load, so their ratio is steadier than the
// ratio of the two medians.
func pairedSpeed(parley, sipgo []testing.BenchmarkResult) float64 {
	rs := make([]float64, len(parley))
	for i := range parley {
		rs[i] = nsPerOp(sipgo[i]) / nsPerOp(parley[i])
	}
	return median(rs)
}

func nsPerOp(r testing.BenchmarkResult) float64 { return float64(r.T.Nanoseconds()) / float64(r.N) }

func ratio(a, b float64) float64 {
	if b == 0 {
		if a == 0 {
			return 1
		}
		return -1 // infinite: Parley does not allocate
	}
	return a / b
}

func fmtRatio(x float64) string {
	if x < 0 {
		return "inf"
	}
	return fmt.Sprintf("%.2f", x)
}
