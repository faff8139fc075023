package location

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FileOptions configure a FileStore.
type FileOptions struct {
	Options

	// SyncInterval is the group-commit window: the least time between two
	// fsyncs of the journal. Puts arriving within it share one fsync. 0
	// means 2ms; negative means no wait (fsync as soon as the previous
	// one ends, which still batches whatever queued meanwhile).
	SyncInterval time.Duration

	// NoSync skips fsync: records reach the OS but a power loss may drop
	// the last ones. For tests and benchmarks, not for production.
	NoSync bool

	// SyncPeriod, when positive, trades the per-change fsync for a periodic
	// one: a change is released once its record is written to the journal
	// (so it survives a crash or restart of the process), and the journal
	// is fsynced every SyncPeriod and on Close, so a power loss drops at
	// most that much. An fsync costs far more CPU than the write; a
	// registrar whose phones re-register anyway is the use.
	SyncPeriod time.Duration

	// CompactBytes is the journal size that starts a compaction (a new
	// snapshot, then the old journal removed). 0 means 8 MiB. A
	// compaction also waits until the journal outgrows the last snapshot,
	// so that a large store is not rewritten over and over.
	CompactBytes int64
}

// File names in the data directory.
const (
	lockName     = "LOCK"
	snapshotName = "snapshot"
	journalGlob  = "journal-*"
)

var (
	journalMagic  = [8]byte{'P', 'R', 'L', 'Y', 'J', 'R', 'N', '1'}
	snapshotMagic = [8]byte{'P', 'R', 'L', 'Y', 'S', 'N', 'P', '1'}
)

const fileHeaderLen = 16 // magic + generation (uint64 LE)

// FileStore is the embedded location store: a MemoryStore that answers
// every read, plus durability in a data directory.
//
//   - Every change is appended to a journal file. A writer goroutine group-
//     commits: it writes whatever records queued, fsyncs once, and releases
//     their callers, so Put, Remove and RemoveAll return only after their
//     record is durable (a concurrent Lookup may see a change a moment
//     before it is durable; it is never reported durable before it is).
//     With SyncPeriod the callers are released once their records are
//     written, and the fsync comes every SyncPeriod instead.
//   - When the journal grows past CompactBytes, the writer switches to a new
//     journal generation at a consistent cut and a background goroutine
//     writes the state at that cut as a snapshot (temp file, fsync,
//     rename, directory fsync), then deletes the older journals.
//   - Open loads the snapshot and the journals after it, drops a torn last
//     record (CRC-32C per record), drops expired bindings, and compacts
//     right away so that each run starts from one snapshot and an empty
//     journal.
//   - A LOCK file held with flock(2) keeps a second server off the
//     directory.
//
// If a journal write or fsync fails, the store keeps serving reads from
// memory but every later change fails with that error: the disk no longer
// says what memory says, and pretending otherwise would lose registrations
// silently at the next restart.
type FileStore struct {
	*MemoryStore
	dir        string
	lock       *os.File
	j          *journal
	opts       FileOptions
	compactWG  sync.WaitGroup
	compacting atomic.Bool
	snapSize   atomic.Int64
	closeOnce  sync.Once
	closeErr   error
}

// journal is the write side of the FileStore. Producers append framed
// records to pending under mu (and under their shard lock, which orders
// them); the writer goroutine owns the file.
type journal struct {
	mu      sync.Mutex
	pending []byte
	cur     *batch // the batch that pending belongs to
	err     error  // sticky write failure
	closed  bool

	kick       chan struct{}   // cap 1: "there is something pending"
	compactReq chan chan error // Compact asks the writer
	stop       chan struct{}
	done       chan struct{}

	// direct (SyncPeriod mode): producers write their record to f
	// themselves, under mu and their shard lock, instead of waking the
	// writer goroutine and waiting for it — the handoff and its thread
	// wake-ups cost more than the write. The writer only fsyncs,
	// compacts and rotates; rotation holds every shard lock, so it never
	// swaps f under a direct write.
	direct     bool
	compactAt  int64 // CompactBytes, for the direct producers' kick
	directSize int64 // bytes written directly since the writer last looked (under mu)

	// owned by the writer goroutine (and by OpenFile before it starts)
	f        *os.File
	fd       uintptr // f's descriptor, for writeDirect
	gen      uint64
	size     int64
	spare    []byte
	lastSync time.Time
	dirty    bool // written since the last fsync (SyncPeriod mode; under mu)
}

// batch is one group commit; its callers wait on done.
type batch struct {
	done chan struct{}
	err  error
}

func newBatch() *batch { return &batch{done: make(chan struct{})} }

// doneBatch is the batch of every successful direct write: already
// durable as far as this mode promises, nothing to wait for.
var doneBatch = failedBatch(nil)

func failedBatch(err error) *batch {
	b := newBatch()
	b.err = err
	close(b.done)
	return b
}

// wait blocks until the batch is durable (or failed) or ctx ends. A nil
// batch (no journal) is durable at once. When ctx ends first the record
// may still become durable; the caller only stops waiting.
func (b *batch) wait(ctx context.Context) error {
	if b == nil {
		return nil
	}
	select {
	case <-b.done:
		return b.err
	default:
	}
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// add queues a framed record. The caller holds the shard lock of the
// record's AOR.
func (j *journal) add(rec []byte) *batch {
	j.mu.Lock()
	if j.err != nil || j.closed {
		err := j.err
		j.mu.Unlock()
		if err == nil {
			err = ErrClosed
		}
		return failedBatch(err)
	}
	if j.direct {
		err := j.writeDirect(rec)
		if err != nil {
			j.err = fmt.Errorf("location: journal: %w", err)
			err = j.err
		}
		j.dirty = true
		j.directSize += int64(len(rec))
		grow := j.size+j.directSize >= j.compactAt
		j.mu.Unlock()
		if grow {
			select {
			case j.kick <- struct{}{}:
			default:
			}
		}
		if err != nil {
			return failedBatch(err)
		}
		return doneBatch
	}
	j.pending = append(j.pending, rec...)
	b := j.cur
	j.mu.Unlock()
	select {
	case j.kick <- struct{}{}:
	default:
	}
	return b
}

// OpenFile opens (creating if needed) the store in dir. It fails with
// ErrLocked when another process (or another FileStore in this one) holds
// the directory, and with ErrCorrupt when the snapshot is damaged: a
// snapshot is written whole and renamed into place, so damage there is not
// a crash artefact but a disk problem an operator should see.
func OpenFile(dir string, opts FileOptions) (*FileStore, error) {
	if opts.SyncInterval == 0 {
		opts.SyncInterval = 2 * time.Millisecond
	}
	if opts.CompactBytes <= 0 {
		opts.CompactBytes = 8 << 20
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("location: %w", err)
	}
	lock, err := lockDir(filepath.Join(dir, lockName))
	if err != nil {
		return nil, err
	}
	s := &FileStore{MemoryStore: newMemory(opts.Options), dir: dir, lock: lock, opts: opts}
	gen, err := s.load()
	if err != nil {
		unlockDir(lock)
		return nil, err
	}
	s.Sweep()

	// Start the run from one fresh snapshot and an empty journal.
	gen++
	if err := s.writeSnapshot(gen); err != nil {
		unlockDir(lock)
		return nil, err
	}
	f, err := createJournal(dir, gen)
	if err != nil {
		unlockDir(lock)
		return nil, err
	}
	s.j = &journal{
		cur:        newBatch(),
		kick:       make(chan struct{}, 1),
		compactReq: make(chan chan error),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
		f:          f,
		fd:         f.Fd(),
		gen:        gen,
		size:       fileHeaderLen,
		direct:     opts.SyncPeriod > 0,
		compactAt:  opts.CompactBytes,
	}
	s.MemoryStore.j = s.j
	go s.writer()
	s.startSweeper(opts.SweepInterval)
	return s, nil
}

func journalName(gen uint64) string { return fmt.Sprintf("journal-%016x", gen) }

func parseJournalName(name string) (uint64, bool) {
	hex, ok := strings.CutPrefix(name, "journal-")
	if !ok || len(hex) != 16 {
		return 0, false
	}
	g, err := strconv.ParseUint(hex, 16, 64)
	return g, err == nil
}

func fileHeader(magic [8]byte, gen uint64) []byte {
	h := make([]byte, fileHeaderLen)
	copy(h, magic[:])
	binary.LittleEndian.PutUint64(h[8:], gen)
	return h
}

func createJournal(dir string, gen uint64) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, journalName(gen)), os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("location: %w", err)
	}
	if _, err := f.Write(fileHeader(journalMagic, gen)); err != nil {
		f.Close()
		return nil, fmt.Errorf("location: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("location: %w", err)
	}
	// The directory entry must be durable before records in the file are
	// acknowledged.
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("location: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("location: sync dir: %w", err)
	}
	return nil
}

// load reads the snapshot and the journals after it into memory and
// returns the highest generation seen.
func (s *FileStore) load() (uint64, error) {
	var snapGen uint64
	data, err := os.ReadFile(filepath.Join(s.dir, snapshotName))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return 0, fmt.Errorf("location: %w", err)
	default:
		snapGen, err = s.loadSnapshot(data)
		if err != nil {
			return 0, err
		}
	}
	gens, err := s.journalGens()
	if err != nil {
		return 0, err
	}
	maxGen := snapGen
	for _, g := range gens {
		maxGen = max(maxGen, g)
		if g < snapGen {
			continue // already in the snapshot; removed by the next compaction
		}
		data, err := os.ReadFile(filepath.Join(s.dir, journalName(g)))
		if err != nil {
			return 0, fmt.Errorf("location: %w", err)
		}
		if len(data) < fileHeaderLen || !bytes.Equal(data[:8], journalMagic[:]) ||
			binary.LittleEndian.Uint64(data[8:]) != g {
			// A journal whose header is not whole was created just before
			// a crash and never held an acknowledged record.
			if len(data) <= fileHeaderLen {
				continue
			}
			return 0, fmt.Errorf("%w: %s: bad header", ErrCorrupt, journalName(g))
		}
		s.replay(data[fileHeaderLen:])
	}
	return maxGen, nil
}

func (s *FileStore) journalGens() ([]uint64, error) {
	names, err := filepath.Glob(filepath.Join(s.dir, journalGlob))
	if err != nil {
		return nil, fmt.Errorf("location: %w", err)
	}
	var gens []uint64
	for _, n := range names {
		if g, ok := parseJournalName(filepath.Base(n)); ok {
			gens = append(gens, g)
		}
	}
	slices.Sort(gens)
	return gens, nil
}

func (s *FileStore) loadSnapshot(data []byte) (uint64, error) {
	if len(data) < fileHeaderLen || !bytes.Equal(data[:8], snapshotMagic[:]) {
		return 0, fmt.Errorf("%w: snapshot: bad header", ErrCorrupt)
	}
	gen := binary.LittleEndian.Uint64(data[8:])
	size := int64(len(data))
	data = data[fileHeaderLen:]
	var puts uint64
	for {
		payload, n, err := nextFrame(data)
		if err != nil {
			return 0, fmt.Errorf("%w: snapshot: %v", ErrCorrupt, err)
		}
		if n == 0 {
			return 0, fmt.Errorf("%w: snapshot: no end record", ErrCorrupt)
		}
		data = data[n:]
		e, err := decodePayload(payload)
		if err != nil {
			return 0, fmt.Errorf("snapshot: %w", err)
		}
		if e.op == opEnd {
			if e.count != puts || len(data) != 0 {
				return 0, fmt.Errorf("%w: snapshot: %d records, trailer says %d", ErrCorrupt, puts, e.count)
			}
			s.snapSize.Store(size)
			return gen, nil
		}
		if e.op != opPut {
			return 0, fmt.Errorf("%w: snapshot: op %d", ErrCorrupt, e.op)
		}
		puts++
		s.apply(&e)
	}
}

// replay applies the records of a journal body, stopping at the first
// record that is torn or fails its CRC: everything before it is intact,
// and nothing after it was ever acknowledged (a crash leaves damage only
// at the tail, and each run writes to a new journal). It returns the
// number of bytes of whole records.
func (s *FileStore) replay(data []byte) int {
	off := 0
	for {
		payload, n, err := nextFrame(data[off:])
		if err != nil || n == 0 {
			return off
		}
		e, err := decodePayload(payload)
		if err != nil {
			return off
		}
		s.apply(&e)
		off += n
	}
}

// apply performs a decoded record on memory without journaling it.
func (s *FileStore) apply(e *entry) {
	ctx := context.Background()
	m := s.MemoryStore
	switch e.op {
	case opPut:
		if u, err := validate(&e.b); err == nil {
			_ = m.put(ctx, &e.b, &u, nil) // no journal yet: cannot fail
		}
	case opRemove:
		_ = m.remove(ctx, e.b.AOR, e.b.Contact, nil)
	case opRemoveAll:
		_ = m.removeAll(ctx, e.b.AOR, nil)
	case opSet:
		m.applySet(e.b.AOR, e.set)
	}
}

// writeSnapshot writes the snapshot of generation gen (the first journal
// generation it does not need), then removes older journals. The records
// are encoded straight from memory, one shard at a time under its read
// lock, into the file: no copy of the whole store, and nothing for the
// collector to scan (an earlier copy of 100,000 records brought on
// collections that delayed registrations). Taken after the journal switch
// and while changes go on, the snapshot is fuzzy; see rotate for why
// replay is still exact.
func (s *FileStore) writeSnapshot(gen uint64) error {
	tmp := filepath.Join(s.dir, snapshotName+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("location: %w", err)
	}
	w := bufio.NewWriterSize(f, 256<<10)
	size := int64(fileHeaderLen)
	_, _ = w.Write(fileHeader(snapshotMagic, gen))
	var buf []byte
	count := uint64(0)
	m := s.MemoryStore
	for i := range m.shards {
		sh := &m.shards[i]
		now := m.clock().UnixNano()
		buf = buf[:0]
		sh.mu.RLock()
		for aor, list := range sh.m {
			for j := range list {
				if list[j].expires > now {
					b := list[j].binding(aor)
					buf = encodePut(buf, &b)
					count++
				}
			}
		}
		sh.mu.RUnlock()
		size += int64(len(buf))
		_, _ = w.Write(buf)
	}
	_, _ = w.Write(encodeEnd(buf[:0], count))
	err = w.Flush()
	if err == nil && !s.opts.NoSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(s.dir, snapshotName))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("location: write snapshot: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		return err
	}
	s.snapSize.Store(size)
	gens, err := s.journalGens()
	if err != nil {
		return err
	}
	for _, g := range gens {
		if g < gen {
			os.Remove(filepath.Join(s.dir, journalName(g)))
		}
	}
	return nil
}

// writer is the goroutine that owns the journal file: it group-commits
// queued records and starts compactions.
func (s *FileStore) writer() {
	j := s.j
	defer close(j.done)
	var tick <-chan time.Time
	if s.opts.SyncPeriod > 0 && !s.opts.NoSync {
		t := time.NewTicker(s.opts.SyncPeriod)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-tick:
			s.syncJournal()
			continue
		case <-j.kick:
		case reply := <-j.compactReq:
			s.compactWG.Wait()
			reply <- s.compact(true)
			continue
		case <-j.stop:
			s.flush()
			if s.opts.SyncPeriod > 0 {
				s.syncJournal()
			}
			return
		}
		if wait := s.opts.SyncInterval - time.Since(j.lastSync); wait > 0 && !s.opts.NoSync && s.opts.SyncPeriod <= 0 {
			// Hold the door open so that more records share the fsync.
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-j.stop:
				t.Stop()
			}
		}
		s.flush()
		if j.direct {
			j.mu.Lock()
			j.size += j.directSize
			j.directSize = 0
			j.mu.Unlock()
		}
		if j.size >= s.opts.CompactBytes && j.size >= s.snapSize.Load() && !s.compacting.Load() {
			_ = s.compact(false)
		}
	}
}

// flush writes and fsyncs whatever is pending and releases its batch.
func (s *FileStore) flush() {
	j := s.j
	j.mu.Lock()
	buf, b := j.pending, j.cur
	if len(buf) == 0 {
		j.mu.Unlock()
		return
	}
	j.pending = j.spare[:0]
	j.cur = newBatch()
	j.mu.Unlock()

	_, err := j.f.Write(buf)
	if err == nil && !s.opts.NoSync && s.opts.SyncPeriod <= 0 {
		err = j.f.Sync()
	}
	j.lastSync = time.Now()
	j.size += int64(len(buf))
	if s.opts.SyncPeriod > 0 {
		j.mu.Lock()
		j.dirty = true
		j.mu.Unlock()
	}
	if cap(buf) <= 1<<20 {
		j.spare = buf[:0]
	} else {
		j.spare = nil // do not keep a burst's buffer forever
	}
	if err != nil {
		err = fmt.Errorf("location: journal: %w", err)
		j.mu.Lock()
		j.err = err
		j.mu.Unlock()
	}
	b.err = err
	close(b.done)
}

// syncJournal is the periodic fsync of SyncPeriod mode; a failure is
// recorded like a write failure, so later changes fail loudly.
func (s *FileStore) syncJournal() {
	j := s.j
	j.mu.Lock()
	dirty := j.dirty
	j.dirty = false
	j.size += j.directSize
	j.directSize = 0
	j.mu.Unlock()
	if !dirty {
		return
	}
	if err := j.f.Sync(); err != nil {
		j.mu.Lock()
		j.err = fmt.Errorf("location: journal: %w", err)
		j.mu.Unlock()
	}
}

// rotate switches to a new journal generation and returns it; the caller
// then writes the snapshot of that generation (writeSnapshot). The switch
// happens with every shard read-locked, so each change lands wholly in the
// old journals or wholly in the new one; Puts wait for one flush and the
// swap. The snapshot is taken afterwards, shard by shard, while changes go
// on, so it is fuzzy: a shard read late may already hold changes that are
// also in the new journal. Replay is still exact, because the new journal
// holds every change since the switch, in order, and replaying a run of
// changes over a state that already reflects a prefix of it ends where the
// run alone ends: each change replaces what it matches by a value of its
// own (put) or removes it (remove, removeAll), so applying it again changes
// nothing that the rest of the run does not set anew.
func (s *FileStore) rotate() (uint64, error) {
	j := s.j
	m := s.MemoryStore
	// The new journal is made (and fsynced, with its directory entry)
	// before the shards are locked: registrations wait only for the flush,
	// the copy and the swap, not for three fsyncs.
	f, err := createJournal(s.dir, j.gen+1)
	if err != nil {
		return 0, err // keep journaling to the old file; retry after a later batch
	}
	for i := range m.shards {
		m.shards[i].mu.RLock()
	}
	s.flush()
	j.mu.Lock()
	old, oldDirty := j.f, j.dirty
	j.f, j.fd, j.gen, j.size = f, f.Fd(), j.gen+1, fileHeaderLen
	j.directSize, j.dirty = 0, false
	j.mu.Unlock()
	for i := range m.shards {
		m.shards[i].mu.RUnlock()
	}
	// What the old journal got since its last fsync (direct writes, in
	// SyncPeriod mode) is made durable as the period promised.
	if oldDirty && !s.opts.NoSync {
		if err := old.Sync(); err != nil {
			j.mu.Lock()
			j.err = fmt.Errorf("location: journal: %w", err)
			j.mu.Unlock()
		}
	}
	old.Close()
	return j.gen, nil
}

// compact rotates and writes the snapshot: in the background (sync false,
// the writer's automatic compaction, so Puts do not wait for it) or before
// returning (Compact). Only the writer goroutine calls it. If writing the
// snapshot fails, the older journals stay and the next open replays them:
// nothing is lost.
func (s *FileStore) compact(sync bool) error {
	gen, err := s.rotate()
	if err != nil {
		return err
	}
	if sync {
		return s.writeSnapshot(gen)
	}
	s.compacting.Store(true)
	s.compactWG.Add(1)
	go func() {
		defer s.compactWG.Done()
		defer s.compacting.Store(false)
		_ = s.writeSnapshot(gen)
	}()
	return nil
}

// Compact writes a snapshot now and drops the journals it covers. The store
// compacts by itself as the journal grows; this is for tests and tools.
func (s *FileStore) Compact() error {
	reply := make(chan error, 1)
	select {
	case s.j.compactReq <- reply:
	case <-s.j.done:
		return ErrClosed
	}
	return <-reply
}

// Close flushes the journal, stops the goroutines and releases the lock.
func (s *FileStore) Close() error {
	s.closeOnce.Do(func() {
		s.MemoryStore.Close()
		s.j.mu.Lock()
		s.j.closed = true
		s.j.mu.Unlock()
		close(s.j.stop)
		<-s.j.done
		s.compactWG.Wait()
		err := s.j.f.Close()
		if jerr := s.j.err; jerr != nil {
			err = jerr
		}
		unlockDir(s.lock)
		s.closeErr = err
	})
	return s.closeErr
}

var _ Store = (*FileStore)(nil)
