// Package postgres is a location.Store on PostgreSQL (github.com/jackc/pgx/v5
// with pgxpool), for several Parley servers sharing their registrations
// (RFC 3261 §10.3 bindings, one row per address-of-record).
//
// The schema is created by the first Open (CREATE TABLE IF NOT EXISTS,
// under an advisory lock so that nodes starting together do not collide),
// so the database user needs the CREATE privilege on the first start; or
// create it beforehand (with Options.Table for the name):
//
//	CREATE TABLE parley_location (
//		aor          text PRIMARY KEY, -- canonical AOR, "sip:user@domain"
//		version      bigint NOT NULL,  -- random, new with every write
//		expires      bigint NOT NULL,  -- latest binding expiry, Unix ns
//		each_expires bigint[] NOT NULL, -- every binding's expiry, for Count
//		bindings     bytea NOT NULL    -- location.AppendBindings form
//	);
//	CREATE INDEX parley_location_expires ON parley_location (expires);
//
// Update is optimistic: it reads the row (version and bindings), lets fn
// compute the new set, and writes it with an UPDATE (or DELETE) that
// matches only the version it read, or an INSERT ... ON CONFLICT DO NOTHING
// when there was no row. No row changed means another node wrote first:
// it reads again and retries fn, with jittered back-off, up to a bound
// (then location.ErrConflict). Two statements per update, no transaction
// held open across fn. The version is random, not a counter, so that a row
// deleted and inserted again between a read and a write cannot present an
// old version by chance.
//
// Every call is bounded by Options.Timeout: a database that is down or
// hung yields an error wrapping location.ErrUnavailable within it, never a
// hang; the pool reconnects by itself when the server is back. Rows whose
// every binding has expired are deleted every SweepInterval by each node
// (harmless when several do it); readers filter by their clock either way.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley-sip/parley/location"
)

// Options configure a Store. Zero values take the defaults.
type Options struct {
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// Table is the table's name (default "parley_location").
	Table string
	// PoolSize is the most connections to the database (default 4 per
	// CPU, at least 4).
	PoolSize int
	// DialTimeout bounds connecting (default 1s).
	DialTimeout time.Duration
	// Timeout bounds each store call, waiting for a pooled connection
	// included (default 1s).
	Timeout time.Duration
	// SweepInterval is how often rows that hold only expired bindings are
	// deleted (default 1m; negative: never).
	SweepInterval time.Duration
}

// DefaultTable is the table name when Options.Table is empty.
const DefaultTable = "parley_location"

// maxAttempts bounds how often Update retries fn after losing a race.
const maxAttempts = 64

// schemaLock is the advisory lock key that serialises schema creation
// ("parley" in ASCII).
const schemaLock = 0x7061726c6579

// Store is the PostgreSQL location store.
type Store struct {
	pool   *pgxpool.Pool
	opts   Options
	closed atomic.Bool

	qLookup, qRead, qUpdate, qDelete, qInsert, qCount, qPage, qSweep string

	stopSweep chan struct{}
	sweepDone chan struct{}
	closeOnce sync.Once
}

// Open connects to the database at url ("postgres://user:password@host:port/db?sslmode=..."
// or a key=value connection string), checks that it answers and creates the
// table if it does not exist.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("location/postgres: %w", err)
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Table == "" {
		opts.Table = DefaultTable
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = max(4, 4*runtime.GOMAXPROCS(0))
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	if opts.SweepInterval == 0 {
		opts.SweepInterval = time.Minute
	}
	pc.MaxConns = int32(min(opts.PoolSize, 1<<20))
	pc.ConnConfig.ConnectTimeout = opts.DialTimeout
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("location/postgres: %w", err)
	}
	s := &Store{pool: pool, opts: opts}
	t := pgx.Identifier{opts.Table}.Sanitize()
	s.qLookup = "SELECT bindings FROM " + t + " WHERE aor = $1"
	s.qRead = "SELECT version, bindings FROM " + t + " WHERE aor = $1"
	s.qUpdate = "UPDATE " + t + " SET version = $3, expires = $4, each_expires = $5, bindings = $6 WHERE aor = $1 AND version = $2"
	s.qDelete = "DELETE FROM " + t + " WHERE aor = $1 AND version = $2"
	s.qInsert = "INSERT INTO " + t + " (aor, version, expires, each_expires, bindings) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (aor) DO NOTHING"
	s.qCount = "SELECT count(*) FROM " + t + ", unnest(each_expires) AS e WHERE expires > $1 AND e > $1"
	s.qPage = "SELECT aor, bindings FROM " + t + " WHERE aor > $1 AND expires > $2 ORDER BY aor LIMIT 500"
	s.qSweep = "DELETE FROM " + t + " WHERE expires <= $1"
	cctx, cancel := context.WithTimeout(ctx, opts.Timeout+opts.DialTimeout)
	defer cancel()
	if err := s.createSchema(cctx); err != nil {
		pool.Close()
		return nil, err
	}
	if opts.SweepInterval > 0 {
		s.stopSweep = make(chan struct{})
		s.sweepDone = make(chan struct{})
		go s.sweeper()
	}
	return s, nil
}

func (s *Store) createSchema(ctx context.Context) error {
	t := pgx.Identifier{s.opts.Table}.Sanitize()
	idx := pgx.Identifier{s.opts.Table + "_expires"}.Sanitize()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(schemaLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+t+` (
			aor text PRIMARY KEY,
			version bigint NOT NULL,
			expires bigint NOT NULL,
			each_expires bigint[] NOT NULL,
			bindings bytea NOT NULL)`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "CREATE INDEX IF NOT EXISTS "+idx+" ON "+t+" (expires)")
		return err
	})
	if err != nil {
		return s.fail(fmt.Errorf("create table %s: %w", t, err))
	}
	return nil
}

// fail turns a database error into the store's error: ErrUnavailable for
// anything that failed on the way to or in the database.
func (s *Store) fail(err error) error {
	if s.closed.Load() {
		return location.ErrClosed
	}
	return fmt.Errorf("%w: postgres: %w", location.ErrUnavailable, err)
}

func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opts.Timeout)
}

// retry runs f again once when it failed before anything reached the
// server (pgconn.SafeToRetry): a pooled connection the server closed while
// it was down fails like that on its first use after the restart.
func retry(f func() error) error {
	err := f()
	if err != nil && pgconn.SafeToRetry(err) {
		err = f()
	}
	return err
}

// live decodes a stored set and keeps its unexpired bindings, sorted.
func (s *Store) live(aor string, data []byte, now time.Time) ([]location.Binding, error) {
	if len(data) == 0 {
		return []location.Binding{}, nil
	}
	bs, err := location.ParseBindings(aor, data)
	if err != nil {
		return nil, fmt.Errorf("location/postgres: %s: %w", aor, err)
	}
	n := 0
	for _, b := range bs {
		if b.Expires.After(now) {
			bs[n] = b
			n++
		}
	}
	bs = bs[:n]
	location.SortBindings(bs)
	return bs, nil
}

// Lookup implements location.Store.
func (s *Store) Lookup(ctx context.Context, aor string) ([]location.Binding, error) {
	if s.closed.Load() {
		return nil, location.ErrClosed
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var data []byte
	err := retry(func() error { return s.pool.QueryRow(ctx, s.qLookup, aor).Scan(&data) })
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, s.fail(err)
	}
	return s.live(aor, data, s.opts.Clock())
}

// Update implements location.Store.
func (s *Store) Update(ctx context.Context, aor string, fn location.UpdateFunc) ([]location.Binding, error) {
	if s.closed.Load() {
		return nil, location.ErrClosed
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var buf []byte
	for attempt := range maxAttempts {
		var version int64
		var data []byte
		exists := true
		err := retry(func() error { return s.pool.QueryRow(ctx, s.qRead, aor).Scan(&version, &data) })
		if errors.Is(err, pgx.ErrNoRows) {
			exists, err = false, nil
		}
		if err != nil {
			return nil, s.fail(err)
		}
		now := s.opts.Clock()
		current, err := s.live(aor, data, now)
		if err != nil {
			return nil, err
		}
		next, err := fn(current)
		if err == nil {
			next, err = location.CheckSet(aor, next, now)
		}
		if err != nil {
			return nil, err
		}
		var tag pgconn.CommandTag
		switch {
		case !exists && len(next) == 0:
			return next, nil // nothing was there and nothing is to be
		case len(next) == 0:
			err = retry(func() error { tag, err = s.pool.Exec(ctx, s.qDelete, aor, version); return err })
		default:
			buf = location.AppendBindings(buf[:0], next)
			each := make([]int64, len(next))
			latest := int64(0)
			for i := range next {
				each[i] = next[i].Expires.UnixNano()
				latest = max(latest, each[i])
			}
			newVersion := int64(rand.Uint64())
			if exists {
				err = retry(func() error {
					tag, err = s.pool.Exec(ctx, s.qUpdate, aor, version, newVersion, latest, each, buf)
					return err
				})
			} else {
				err = retry(func() error {
					tag, err = s.pool.Exec(ctx, s.qInsert, aor, newVersion, latest, each, buf)
					return err
				})
			}
		}
		if err != nil {
			return nil, s.fail(err)
		}
		if tag.RowsAffected() == 1 {
			return next, nil
		}
		if err := location.Backoff(ctx, attempt, 200*time.Microsecond); err != nil {
			return nil, s.fail(err)
		}
	}
	return nil, location.ErrConflict
}

// Put implements location.Store.
func (s *Store) Put(ctx context.Context, b location.Binding) error {
	if err := location.ValidBinding(&b); err != nil {
		return err
	}
	_, err := s.Update(ctx, b.AOR, location.PutFunc(b))
	return err
}

// Remove implements location.Store.
func (s *Store) Remove(ctx context.Context, aor, contactURI string) error {
	_, err := s.Update(ctx, aor, location.RemoveFunc(contactURI))
	return err
}

// RemoveAll implements location.Store.
func (s *Store) RemoveAll(ctx context.Context, aor string) error {
	_, err := s.Update(ctx, aor, location.RemoveAllFunc)
	return err
}

// Count implements location.Store in one query over every binding's
// expiry.
func (s *Store) Count(ctx context.Context) (int, error) {
	if s.closed.Load() {
		return 0, location.ErrClosed
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var n int64
	now := s.opts.Clock().UnixNano()
	if err := retry(func() error { return s.pool.QueryRow(ctx, s.qCount, now).Scan(&n) }); err != nil {
		return 0, s.fail(err)
	}
	return int(n), nil
}

// All implements location.Store: pages of 500 AORs in key order, each
// page one query bounded by Options.Timeout, yielded after it is read so
// that a slow consumer holds no connection.
func (s *Store) All(ctx context.Context) iter.Seq2[location.Binding, error] {
	return func(yield func(location.Binding, error) bool) {
		if s.closed.Load() {
			yield(location.Binding{}, location.ErrClosed)
			return
		}
		type row struct {
			aor  string
			data []byte
		}
		after := ""
		for {
			var page []row
			cctx, cancel := s.bound(ctx)
			now := s.opts.Clock()
			err := retry(func() error {
				page = page[:0]
				rows, err := s.pool.Query(cctx, s.qPage, after, now.UnixNano())
				if err != nil {
					return err
				}
				var r row
				_, err = pgx.ForEachRow(rows, []any{&r.aor, &r.data}, func() error {
					page = append(page, row{r.aor, append([]byte(nil), r.data...)})
					return nil
				})
				return err
			})
			cancel()
			if err != nil {
				yield(location.Binding{}, s.fail(err))
				return
			}
			for _, r := range page {
				bs, err := s.live(r.aor, r.data, now)
				if err != nil {
					yield(location.Binding{}, err)
					return
				}
				for _, b := range bs {
					if !yield(b, nil) {
						return
					}
				}
			}
			if len(page) < 500 {
				return
			}
			after = page[len(page)-1].aor
		}
	}
}

// Sweep deletes the rows whose every binding has expired and returns how
// many it deleted. The sweeper calls it every SweepInterval.
func (s *Store) Sweep(ctx context.Context) (int, error) {
	if s.closed.Load() {
		return 0, location.ErrClosed
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, s.qSweep, s.opts.Clock().UnixNano())
	if err != nil {
		return 0, s.fail(err)
	}
	return int(tag.RowsAffected()), nil
}

func (s *Store) sweeper() {
	defer close(s.sweepDone)
	t := time.NewTicker(s.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stopSweep:
			return
		case <-t.C:
			_, _ = s.Sweep(context.Background()) // a failure is retried next time
		}
	}
}

// Close stops the sweeper and closes the pool. Later calls fail with
// location.ErrClosed.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.stopSweep != nil {
			close(s.stopSweep)
			<-s.sweepDone
		}
		s.pool.Close()
	})
	return nil
}

var _ location.Store = (*Store)(nil)
