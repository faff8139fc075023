package location

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func openFile(t testing.TB, dir string, clk *fakeClock, tweak ...func(*FileOptions)) *FileStore {
	t.Helper()
	opts := FileOptions{Options: Options{Clock: clk.Now, SweepInterval: -1}}
	for _, f := range tweak {
		f(&opts)
	}
	s, err := OpenFile(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fill puts users×devices bindings, removes some and returns the state.
func fill(t testing.TB, s Store, clk *fakeClock, users, devices int) map[string]Binding {
	t.Helper()
	ctx := context.Background()
	for u := range users {
		for d := range devices {
			b := testBinding(clk.Now(), u, d)
			b.Q = (u*devices + d) % (QMax + 1)
			if d == 1 {
				b.Path = []string{"<sip:edge.example.com;lr>"}
			}
			mustPut(t, s, b)
		}
	}
	for u := 0; u < users; u += 5 {
		b := testBinding(clk.Now(), u, 0)
		if err := s.Remove(ctx, b.AOR, b.Contact); err != nil {
			t.Fatal(err)
		}
	}
	if users > 3 {
		if err := s.RemoveAll(ctx, testBinding(clk.Now(), 3, 0).AOR); err != nil {
			t.Fatal(err)
		}
	}
	return snapshotAll(t, s)
}

func sameState(t *testing.T, got, want map[string]Binding) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d bindings, want %d", len(got), len(want))
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || !same(g, w) {
			t.Fatalf("binding %s:\n got %+v\nwant %+v", k, g, w)
		}
	}
}

func TestFileRestart(t *testing.T) {
	dir := t.TempDir()
	clk := newFakeClock()
	s := openFile(t, dir, clk)
	want := fill(t, s, clk, 40, 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openFile(t, dir, clk)
	sameState(t, snapshotAll(t, s), want)
	// And once more: the second open starts from the snapshot the first wrote.
	s.Close()
	s = openFile(t, dir, clk)
	defer s.Close()
	sameState(t, snapshotAll(t, s), want)
	if got := mustLookup(t, s, testBinding(clk.Now(), 3, 0).AOR); len(got) != 0 {
		t.Fatalf("RemoveAll undone by restart: %v", got)
	}
}

func TestFileDropsExpiredOnOpen(t *testing.T) {
	dir := t.TempDir()
	clk := newFakeClock()
	s := openFile(t, dir, clk)
	short := testBinding(clk.Now(), 1, 0)
	short.Expires = clk.Now().Add(time.Minute)
	mustPut(t, s, short)
	mustPut(t, s, testBinding(clk.Now(), 2, 0))
	s.Close()
	clk.Advance(2 * time.Minute)
	s = openFile(t, dir, clk)
	defer s.Close()
	if n, _ := s.Count(context.Background()); n != 1 {
		t.Fatalf("count %d after restart past expiry, want 1", n)
	}
	total := 0 // the expired binding is gone from memory, not just hidden
	for i := range s.MemoryStore.shards {
		total += len(s.MemoryStore.shards[i].m)
	}
	if total != 1 {
		t.Fatalf("%d AORs in memory, want 1", total)
	}
}

// currentJournal returns the path of the newest journal in dir.
func currentJournal(t *testing.T, dir string) string {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, journalGlob))
	if len(names) == 0 {
		t.Fatal("no journal")
	}
	return names[len(names)-1]
}

func TestFileTornTail(t *testing.T) {
	for _, cut := range []int{1, 4, 8, 20} {
		dir := t.TempDir()
		clk := newFakeClock()
		s := openFile(t, dir, clk)
		var want map[string]Binding
		for u := range 5 {
			mustPut(t, s, testBinding(clk.Now(), u, 0))
			if u == 3 {
				want = snapshotAll(t, s)
			}
		}
		s.Close()
		// A crash in the middle of writing the last record: its bytes are
		// only partly on disk.
		j := currentJournal(t, dir)
		fi, err := os.Stat(j)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(j, fi.Size()-int64(cut)); err != nil {
			t.Fatal(err)
		}
		s = openFile(t, dir, clk)
		sameState(t, snapshotAll(t, s), want)
		s.Close()
	}
}

func TestFileCorruptTail(t *testing.T) {
	dir := t.TempDir()
	clk := newFakeClock()
	s := openFile(t, dir, clk)
	mustPut(t, s, testBinding(clk.Now(), 1, 0))
	want := snapshotAll(t, s)
	mustPut(t, s, testBinding(clk.Now(), 2, 0))
	s.Close()
	// Flip a byte inside the last record: its CRC no longer matches.
	j := currentJournal(t, dir)
	data, _ := os.ReadFile(j)
	data[len(data)-3] ^= 0xff
	// And garbage after it, as a torn multi-record batch might leave.
	data = append(data, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3)
	if err := os.WriteFile(j, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s = openFile(t, dir, clk)
	defer s.Close()
	sameState(t, snapshotAll(t, s), want)
}

// TestFileCrashCopy copies the directory while the store runs, as a crash
// would leave it: everything whose Put returned must be there.
func TestFileCrashCopy(t *testing.T) {
	dir := t.TempDir()
	clk := newFakeClock()
	s := openFile(t, dir, clk)
	defer s.Close()
	want := fill(t, s, clk, 30, 2)
	crash := t.TempDir()
	names, _ := os.ReadDir(dir)
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(crash, n.Name()), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := openFile(t, crash, clk)
	defer c.Close()
	sameState(t, snapshotAll(t, c), want)
}

func TestFileCompaction(t *testing.T) {
	dir := t.TempDir()
	clk := newFakeClock()
	s := openFile(t, dir, clk, func(o *FileOptions) { o.CompactBytes = 4 << 10 })
	// Refresh the same bindings over and over: the journal grows, the state
	// does not.
	for range 20 {
		fill(t, s, clk, 20, 2)
		clk.Advance(time.Second)
	}
	want := snapshotAll(t, s)
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	names, _ := filepath.Glob(filepath.Join(dir, journalGlob))
	if len(names) != 1 {
		t.Fatalf("journals after Compact: %v", names)
	}
	fi, _ := os.Stat(names[0])
	if fi.Size() != fileHeaderLen {
		t.Fatalf("journal after Compact has %d bytes", fi.Size())
	}
	if s.j.gen < 3 {
		t.Fatalf("generation %d: automatic compaction never ran", s.j.gen)
	}
	// Changes after the compaction land in the new journal.
	extra := testBinding(clk.Now(), 99, 0)
	mustPut(t, s, extra)
	want[extra.AOR+" "+extra.Contact+" "+extra.InstanceID] = mustLookup(t, s, extra.AOR)[0]
	s.Close()
	s = openFile(t, dir, clk)
	defer s.Close()
	sameState(t, snapshotAll(t, s), want)
}

func TestFileLock(t *testing.T) {
	dir := t.TempDir()
	clk := newFakeClock()
	s := openFile(t, dir, clk)
	if _, err := OpenFile(dir, FileOptions{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	s.Close()
	s2 := openFile(t, dir, clk)
	s2.Close()
}

func TestFileCorruptSnapshot(t *testing.T) {
	dir := t.TempDir()
	clk := newFakeClock()
	s := openFile(t, dir, clk)
	fill(t, s, clk, 10, 1)
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	p := filepath.Join(dir, snapshotName)
	data, _ := os.ReadFile(p)
	if err := os.WriteFile(p, data[:len(data)-5], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFile(dir, FileOptions{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open with truncated snapshot: %v, want ErrCorrupt", err)
	}
	// The failed open released the lock.
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s = openFile(t, dir, clk)
	s.Close()
}

func TestFileCrashAfterSnapshotBeforeJournal(t *testing.T) {
	// A snapshot of generation g with no journal g yet (crash between the
	// two) opens fine, and stale older journals are ignored.
	dir := t.TempDir()
	clk := newFakeClock()
	s := openFile(t, dir, clk)
	want := fill(t, s, clk, 10, 1)
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	gen := s.j.gen
	s.Close()
	os.Remove(filepath.Join(dir, journalName(gen)))
	// A leftover journal from before the snapshot, with a record the
	// snapshot already reflects as removed.
	f, err := createJournal(dir, gen-1)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(encodePut(nil, &Binding{AOR: "sip:ghost@example.com", Contact: "sip:ghost@h", Expires: clk.Now().Add(time.Hour)}))
	f.Close()
	s = openFile(t, dir, clk)
	defer s.Close()
	sameState(t, snapshotAll(t, s), want)
}

func TestFileConcurrentWithCompaction(t *testing.T) {
	dir := t.TempDir()
	clk := newFakeClock()
	s := openFile(t, dir, clk, func(o *FileOptions) { o.CompactBytes = 2 << 10; o.SyncInterval = -1 })
	ctx := context.Background()
	done := make(chan struct{})
	errc := make(chan error, 4)
	for w := range 4 {
		go func() {
			for i := range 300 {
				b := testBinding(clk.Now(), (w*300+i)%50, w)
				if err := s.Put(ctx, b); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	go func() {
		for {
			select {
			case <-done:
				return
			default:
				for range s.All(ctx) {
				}
			}
		}
	}()
	for range 4 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	want := snapshotAll(t, s)
	s.Close()
	s = openFile(t, dir, clk)
	defer s.Close()
	sameState(t, snapshotAll(t, s), want)
}

func TestPutWaitsForContext(t *testing.T) {
	dir := t.TempDir()
	clk := newFakeClock()
	s := openFile(t, dir, clk, func(o *FileOptions) { o.SyncInterval = time.Hour })
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	// The first Put after open syncs at once (no fsync yet this run)...
	_ = s.Put(context.Background(), testBinding(clk.Now(), 1, 0))
	// ...the next waits for the hour-long window; the context ends it.
	if err := s.Put(ctx, testBinding(clk.Now(), 2, 0)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put: %v, want deadline exceeded", err)
	}
}

// TestFileSyncPeriod: with a periodic fsync the changes still reach the
// journal before Put returns, so a process that stops without Close (a
// crash) finds them on reopen; Close fsyncs.
func TestFileSyncPeriod(t *testing.T) {
	dir := t.TempDir()
	clk := newFakeClock()
	periodic := func(o *FileOptions) { o.SyncPeriod = time.Hour }
	s := openFile(t, dir, clk, periodic)
	want := fill(t, s, clk, 20, 2)
	// A crash: copy the directory as it is now, without Close.
	crash := t.TempDir()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() == lockName {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(crash, e.Name()), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{crash, dir} {
		r := openFile(t, d, clk, periodic)
		sameState(t, snapshotAll(t, r), want)
		r.Close()
	}
}

// TestFileSyncPeriodCompacts: direct writes still trigger compaction.
func TestFileSyncPeriodCompacts(t *testing.T) {
	dir := t.TempDir()
	clk := newFakeClock()
	opts := func(o *FileOptions) { o.SyncPeriod = time.Hour; o.CompactBytes = 4096 }
	s := openFile(t, dir, clk, opts)
	want := fill(t, s, clk, 60, 3)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if info, err := os.Stat(filepath.Join(dir, snapshotName)); err == nil && info.Size() > 4096 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no compaction after the journal grew past CompactBytes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r := openFile(t, dir, clk, opts)
	defer r.Close()
	sameState(t, snapshotAll(t, r), want)
}

// TestFileSnapshotWhileChanging races every kind of change with frequent
// compactions, whose snapshots are copied shard by shard while changes go
// on (see rotate), in both journal modes, and checks that a restart
// restores exactly the state the store had.
func TestFileSnapshotWhileChanging(t *testing.T) {
	for _, mode := range []struct {
		name  string
		tweak func(*FileOptions)
	}{
		{"group commit", func(o *FileOptions) { o.CompactBytes = 1 << 10; o.SyncInterval = -1; o.NoSync = true }},
		{"sync period", func(o *FileOptions) { o.CompactBytes = 1 << 10; o.SyncPeriod = time.Second; o.NoSync = true }},
	} {
		t.Run(mode.name, func(t *testing.T) {
			dir := t.TempDir()
			clk := newFakeClock()
			s := openFile(t, dir, clk, mode.tweak)
			ctx := context.Background()
			errc := make(chan error, 4)
			for w := range 4 {
				go func() {
					rng := rand.New(rand.NewPCG(uint64(w), 7))
					for i := range 600 {
						u := rng.IntN(30)
						b := testBinding(clk.Now(), u, rng.IntN(3))
						if rng.IntN(2) == 0 {
							b.InstanceID, b.RegID, b.Params = "", 0, "" // match by contact URI
						}
						var err error
						switch op := rng.IntN(10); {
						case op < 6:
							err = s.Put(ctx, b)
						case op < 8:
							b.Expires = clk.Now() // removes what it matches
							err = s.Put(ctx, b)
						case op < 9:
							err = s.Remove(ctx, b.AOR, b.Contact)
						default:
							err = s.RemoveAll(ctx, b.AOR)
						}
						if err != nil {
							errc <- fmt.Errorf("op %d: %w", i, err)
							return
						}
					}
					errc <- nil
				}()
			}
			// Compactions of our own too, all along, besides the
			// automatic ones: the writers may be quicker than those.
			writing := make(chan struct{})
			compacted := make(chan int)
			go func() {
				n := 0
				for {
					select {
					case <-writing:
						compacted <- n
						return
					default:
					}
					if err := s.Compact(); err != nil {
						t.Error(err)
					}
					n++
				}
			}()
			for range 4 {
				if err := <-errc; err != nil {
					t.Fatal(err)
				}
			}
			close(writing)
			if n := <-compacted; n == 0 {
				t.Fatal("no compaction while changing")
			}
			want := snapshotAll(t, s)
			s.Close()
			s = openFile(t, dir, clk)
			defer s.Close()
			sameState(t, snapshotAll(t, s), want)
		})
	}
}
