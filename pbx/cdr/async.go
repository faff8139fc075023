package cdr

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// AsyncConfig tunes Async.
type AsyncConfig struct {
	// Queue is how many records may wait for the writer (default 4096).
	Queue int
	// Batch is the most records written in one transaction (default 256).
	Batch int
	// Overflow receives each record that could not be stored — the queue
	// was full or closed, or the store failed it — with the reason. It
	// must not block. Default: one log line at error level with every
	// field, so that no record is lost without a trace.
	Overflow func(r Record, err error)
	// Log is the default Overflow's logger (default slog.Default()).
	Log *slog.Logger
	// WriteTimeout bounds one batch's write (default 30s).
	WriteTimeout time.Duration
}

// AsyncStats is a snapshot of an Async's counters.
type AsyncStats struct {
	Written  uint64 // records stored
	Dropped  uint64 // records refused because the queue was full or closed
	Failed   uint64 // records the store refused
	Queued   int    // records waiting now
	Batches  uint64 // transactions
	Capacity int    // the queue's size
}

type item struct {
	r     Record
	flush chan struct{} // not nil: a Flush marker, closed when reached
}

// Async puts a bounded queue and one writer goroutine in front of a
// Store, so that Write never waits for the disk. It is itself a Store:
// reads go to the underlying store and see what has been written so far
// (Flush first to see everything).
type Async struct {
	store Store
	cfg   AsyncConfig
	queue chan item

	mu     sync.RWMutex // held shared by Write's send, exclusively by Close
	closed bool
	done   chan struct{}

	written, dropped, failed, batches atomic.Uint64
}

// NewAsync starts the writer over store. Close stops it and closes store.
func NewAsync(store Store, cfg AsyncConfig) *Async {
	if cfg.Queue <= 0 {
		cfg.Queue = 4096
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 256
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if cfg.Overflow == nil {
		log := cfg.Log
		if log == nil {
			log = slog.Default()
		}
		cfg.Overflow = func(r Record, err error) { logRecord(log, r, err) }
	}
	a := &Async{store: store, cfg: cfg, queue: make(chan item, cfg.Queue), done: make(chan struct{})}
	go a.run()
	return a
}

// logRecord writes a record that could not be stored as one log line.
func logRecord(log *slog.Logger, r Record, err error) {
	log.Error("cdr: record not stored", "err", err,
		"caller", r.Caller, "callee", r.Callee, "dialled", r.Dialled,
		"start", r.Start, "answer", r.Answer, "end", r.End, "duration", r.Duration,
		"disposition", r.Disposition.String(), "cause", r.Cause.String(),
		"call_ids", r.CallIDs, "anchored", r.Anchored, "route", r.Route, "recording", r.Recording)
}

// Write queues r and returns at once. When the queue is full (the disk
// is far behind) it returns ErrQueueFull, after Overflow got the record;
// after Close, ErrClosed likewise. A record that fails Check is refused
// with that error (and not queued).
func (a *Async) Write(_ context.Context, r Record) error {
	if err := r.Check(); err != nil {
		a.failed.Add(1)
		a.cfg.Overflow(r, err)
		return err
	}
	a.mu.RLock()
	if a.closed {
		a.mu.RUnlock()
		a.dropped.Add(1)
		a.cfg.Overflow(r, ErrClosed)
		return ErrClosed
	}
	select {
	case a.queue <- item{r: r}:
		a.mu.RUnlock()
		return nil
	default:
		a.mu.RUnlock()
		a.dropped.Add(1)
		a.cfg.Overflow(r, ErrQueueFull)
		return ErrQueueFull
	}
}

// Flush waits until every record queued before it is written (or ctx
// ends).
func (a *Async) Flush(ctx context.Context) error {
	ch := make(chan struct{})
	a.mu.RLock()
	if a.closed {
		a.mu.RUnlock()
		return ErrClosed
	}
	select {
	case a.queue <- item{flush: ch}:
		a.mu.RUnlock()
	case <-ctx.Done():
		a.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *Async) run() {
	defer close(a.done)
	batch := make([]Record, 0, a.cfg.Batch)
	var flushes []chan struct{}
	for it := range a.queue {
		batch, flushes = a.add(batch, flushes, it)
		// Take what else is waiting, up to a batch, without waiting.
	more:
		for len(batch) < a.cfg.Batch {
			select {
			case it, ok := <-a.queue:
				if !ok {
					break more
				}
				batch, flushes = a.add(batch, flushes, it)
			default:
				break more
			}
		}
		a.write(batch)
		batch = batch[:0]
		for _, f := range flushes {
			close(f)
		}
		flushes = flushes[:0]
	}
}

func (a *Async) add(batch []Record, flushes []chan struct{}, it item) ([]Record, []chan struct{}) {
	if it.flush != nil {
		return batch, append(flushes, it.flush)
	}
	return append(batch, it.r), flushes
}

// write stores a batch; when the batch fails, each record is tried alone
// so that one bad record does not take the others with it.
func (a *Async) write(batch []Record) {
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.WriteTimeout)
	defer cancel()
	if bw, ok := a.store.(BatchWriter); ok {
		a.batches.Add(1)
		if bw.WriteBatch(ctx, batch) == nil {
			a.written.Add(uint64(len(batch)))
			return
		}
	}
	for _, r := range batch {
		if err := a.store.Write(ctx, r); err != nil {
			a.failed.Add(1)
			a.cfg.Overflow(r, err)
			continue
		}
		a.written.Add(1)
	}
}

// Last reads from the store.
func (a *Async) Last(ctx context.Context, n int) ([]Record, error) { return a.store.Last(ctx, n) }

// Query reads from the store.
func (a *Async) Query(ctx context.Context, f Filter) ([]Record, error) {
	return a.store.Query(ctx, f)
}

// Close stops accepting records, writes every queued one, and closes the
// store. It waits as long as the store takes.
func (a *Async) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		<-a.done
		return nil
	}
	a.closed = true
	close(a.queue)
	a.mu.Unlock()
	<-a.done
	return a.store.Close()
}

// Stats returns a snapshot of the counters.
func (a *Async) Stats() AsyncStats {
	return AsyncStats{
		Written: a.written.Load(), Dropped: a.dropped.Load(), Failed: a.failed.Load(),
		Batches: a.batches.Load(), Queued: len(a.queue), Capacity: cap(a.queue),
	}
}
