package location

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// benchBindings makes n realistic bindings, one per AOR.
func benchBindings(n int) []Binding {
	now := time.Now()
	bs := make([]Binding, n)
	for i := range bs {
		bs[i] = testBinding(now, i, i%3)
	}
	return bs
}

func benchPut(b *testing.B, s Store) {
	bs := benchBindings(10_000)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := s.Put(ctx, bs[i%len(bs)]); err != nil {
			b.Fatal(err)
		}
	}
}

func benchPutParallel(b *testing.B, s Store) {
	bs := benchBindings(10_000)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if err := s.Put(ctx, bs[i%len(bs)]); err != nil {
				b.Error(err)
				return
			}
			i += 7
		}
	})
}

func benchLookup(b *testing.B, s Store) {
	bs := benchBindings(10_000)
	ctx := context.Background()
	for _, x := range bs {
		if err := s.Put(ctx, x); err != nil {
			b.Fatal(err)
		}
		// a second device for a third of the users
		if len(x.AOR)%3 == 0 {
			x.Contact += ";ob"
			x.RegID = 2
			_ = s.Put(ctx, x)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if got, err := s.Lookup(ctx, bs[i%len(bs)].AOR); err != nil || len(got) == 0 {
			b.Fatal(err, len(got))
		}
	}
}

func newBenchFile(b *testing.B, noSync bool) *FileStore {
	s, err := OpenFile(b.TempDir(), FileOptions{NoSync: noSync, SyncInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func BenchmarkMemoryPut(b *testing.B) {
	s := NewMemoryStore(Options{})
	defer s.Close()
	benchPut(b, s)
}

func BenchmarkMemoryPutParallel(b *testing.B) {
	s := NewMemoryStore(Options{})
	defer s.Close()
	benchPutParallel(b, s)
}

func BenchmarkMemoryLookup(b *testing.B) {
	s := NewMemoryStore(Options{})
	defer s.Close()
	benchLookup(b, s)
}

// BenchmarkFilePut is one Put at a time, each waiting for its own fsync:
// the latency a single REGISTER sees.
func BenchmarkFilePut(b *testing.B) { benchPut(b, newBenchFile(b, false)) }

// BenchmarkFilePutParallel shows group commit: many Puts share an fsync.
func BenchmarkFilePutParallel(b *testing.B) {
	b.SetParallelism(16)
	benchPutParallel(b, newBenchFile(b, false))
}

// BenchmarkFilePutNoSync is the CPU cost of journaling without the disk.
func BenchmarkFilePutNoSync(b *testing.B) { benchPut(b, newBenchFile(b, true)) }

func BenchmarkFileLookup(b *testing.B) { benchLookup(b, newBenchFile(b, true)) }

// BenchmarkBytesPerContact measures the heap a MemoryStore holds for
// 100,000 registered contacts (one per AOR, realistic field sizes:
// +sip.instance, reg-id, Call-ID, User-Agent, IPv4 source). It reports
// bytes/contact of live heap after GC, so it counts the store's own
// allocations, not the garbage of building them.
func BenchmarkBytesPerContact(b *testing.B) {
	const n = 100_000
	for b.Loop() {
		b.StopTimer()
		bs := benchBindings(n)
		ctx := context.Background()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()
		s := NewMemoryStore(Options{SweepInterval: -1})
		for i := range bs {
			if err := s.Put(ctx, bs[i]); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/n, "bytes/contact")
		runtime.KeepAlive(bs)
		runtime.KeepAlive(s)
		s.Close()
		b.StartTimer()
	}
}
