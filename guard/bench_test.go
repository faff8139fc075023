package guard

import (
	"github.com/parley-sip/parley/internal/cputime"
	"log/slog"
	"net/netip"
	"testing"
	"time"
)

// reportCPU reports the process CPU time per packet and per 10,000
// packets at the end of the benchmark, under the given name ("admitted",
// "dropped"). Call it after the set-up.
func reportCPU(b *testing.B, what string) {
	start := cputime.Process()
	b.Cleanup(func() {
		if start == 0 || b.N == 0 {
			return
		}
		perPacket := float64(cputime.Process()-start) / float64(b.N)
		b.ReportMetric(perPacket, "cpu-ns/"+what+"-packet")
		b.ReportMetric(perPacket*10000/1000, "cpu-µs/10k-"+what)
	})
}

// BenchmarkAdmit measures Admit on the real clock: packets below the
// budget from 10,000 sources, packets of a banned flood source, trusted
// packets, and a flood of spoofed sources that makes every packet replace
// a tracked source.
func BenchmarkAdmit(b *testing.B) {
	srcs := make([]netip.Addr, 10000)
	for i := range srcs {
		srcs[i] = addrN(uint32(i))
	}
	b.Run("admitted", func(b *testing.B) {
		g, _ := New(Config{Window: time.Hour, MaxRequests: 1 << 30})
		for _, s := range srcs {
			g.Admit(s)
		}
		b.ReportAllocs()
		reportCPU(b, "admitted")
		b.ResetTimer()
		for i := range b.N {
			if !g.Admit(srcs[i%len(srcs)]) {
				b.Fatal("dropped")
			}
		}
	})
	b.Run("dropped", func(b *testing.B) {
		g, _ := New(Config{Logger: slog.New(slog.DiscardHandler)})
		flood := addr("198.51.100.1")
		for g.Admit(flood) {
		}
		b.ReportAllocs()
		reportCPU(b, "dropped")
		b.ResetTimer()
		for range b.N {
			if g.Admit(flood) {
				b.Fatal("admitted")
			}
		}
	})
	b.Run("trusted", func(b *testing.B) {
		g, _ := New(Config{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
		b.ReportAllocs()
		reportCPU(b, "trusted")
		b.ResetTimer()
		for i := range b.N {
			g.Admit(srcs[i%len(srcs)])
		}
	})
	b.Run("spoofed", func(b *testing.B) {
		g, _ := New(Config{MaxSources: 4096})
		for i := range uint32(8192) {
			g.Admit(addrN(1<<20 + i))
		}
		b.ReportAllocs()
		reportCPU(b, "spoofed")
		b.ResetTimer()
		for i := range b.N {
			g.Admit(addrN(uint32(i)))
		}
	})
}

// BenchmarkAdmitParallel runs Admit from all Ps at once, as the UDP
// readers do: the shards keep them from serializing on one lock.
func BenchmarkAdmitParallel(b *testing.B) {
	g, _ := New(Config{Window: time.Hour, MaxRequests: 1 << 30})
	b.ReportAllocs()
	reportCPU(b, "admitted")
	b.RunParallel(func(pb *testing.PB) {
		i := uint32(0)
		for pb.Next() {
			g.Admit(addrN(i % 10000))
			i++
		}
	})
}

func BenchmarkIsScanner(b *testing.B) {
	g, _ := New(Config{})
	for _, ua := range []string{"Yealink SIP-T46S 66.86.0.15", "friendly-scanner", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 JsSIP/3.10.0"} {
		b.Run(ua[:min(len(ua), 16)], func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				g.IsScanner(ua)
			}
		})
	}
}

func BenchmarkAuthLocked(b *testing.B) {
	g, _ := New(Config{})
	src := addr("192.0.2.1")
	g.AuthFailed(src, "alice")
	b.ReportAllocs()
	for range b.N {
		g.AuthLocked(src)
	}
}
