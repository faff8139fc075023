// Package redis is a location.Store on Redis (github.com/redis/go-redis/v9),
// for several Parley servers sharing their registrations (RFC 3261 §10.3
// bindings, one value per address-of-record).
//
// Layout: one hash per AOR under KeyPrefix+AOR with two fields, "b" the
// binding set in location.AppendBindings form and "v" a random version
// that changes with every write. The key expires (PEXPIREAT) when its last
// binding does, so Redis drops dead registrations by itself; readers also
// filter by their clock, so a binding is never returned after its expiry.
//
// Update is optimistic: it reads the set and its version (HMGET), lets fn
// compute the new set, and writes it with a Lua script that stores only if
// the version is still the one read (compare-and-set, atomic in Redis). A
// writer that lost the race reads again and retries fn, with jittered
// back-off, up to a bound (then location.ErrConflict). Two round trips per
// update and no lock held between them, so a node that dies mid-update
// blocks nobody. The version is random, not a counter, so that a key
// deleted and created again between a read and a write cannot present an
// old version by chance.
//
// Every call is bounded by Options.Timeout: a Redis that is down or hung
// yields an error wrapping location.ErrUnavailable within it, never a
// hang, and the client reconnects by itself when the server is back.
//
// Count and All scan the key space (SCAN with MATCH on the prefix): for
// the admin page and tests, not for the call path.
package redis

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/parley-sip/parley/location"
)

// Options configure a Store. Zero values take the defaults.
type Options struct {
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// KeyPrefix is put before each AOR to make its key (default
	// "parley:location:"). Servers sharing registrations use the same.
	KeyPrefix string
	// PoolSize is the most connections to Redis (default 10 per CPU).
	PoolSize int
	// DialTimeout bounds connecting (default 1s).
	DialTimeout time.Duration
	// Timeout bounds each store call, waiting for a pooled connection
	// included (default 1s).
	Timeout time.Duration
}

// DefaultKeyPrefix is the key prefix when Options.KeyPrefix is empty.
const DefaultKeyPrefix = "parley:location:"

// maxAttempts bounds how often Update retries fn after losing a race.
const maxAttempts = 64

// Store is the Redis location store.
type Store struct {
	c      *goredis.Client
	opts   Options
	match  string // SCAN pattern of our keys
	closed atomic.Bool
	owner  bool // Close closes c
}

// casScript writes the set if the version is still the one read. KEYS[1]
// the AOR's key; ARGV: version read ("" when there was none), new version,
// new set ("" to delete), expiry in Unix milliseconds.
var casScript = goredis.NewScript(`
local v = redis.call('HGET', KEYS[1], 'v')
if not v then v = '' end
if v ~= ARGV[1] then return 0 end
if ARGV[3] == '' then
	redis.call('DEL', KEYS[1])
	return 1
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'b', ARGV[3])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
return 1
`)

// Open connects to the Redis at url ("redis://[user:password@]host:port/db",
// "rediss://" for TLS) and checks that it answers.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	ro, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("location/redis: %w", err)
	}
	opts = withDefaults(opts)
	ro.PoolSize = opts.PoolSize
	ro.DialTimeout = opts.DialTimeout
	ro.ReadTimeout = opts.Timeout
	ro.WriteTimeout = opts.Timeout
	ro.PoolTimeout = opts.Timeout
	ro.ContextTimeoutEnabled = true
	// One dial per attempt: with the library's default of five dials 100ms
	// apart, a refused connection would take half a second to report.
	ro.DialerRetries = 1
	ro.MaxRetries = 1 // a connection the server dropped is redialled once
	ro.DisableIdentity = true
	s := newStore(goredis.NewClient(ro), opts)
	s.owner = true
	cctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	if err := s.c.Ping(cctx).Err(); err != nil {
		s.c.Close()
		return nil, s.fail(err)
	}
	return s, nil
}

// New returns a Store on a client the caller made and closes.
func New(c *goredis.Client, opts Options) *Store { return newStore(c, withDefaults(opts)) }

func withDefaults(opts Options) Options {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = DefaultKeyPrefix
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = 10 * runtime.GOMAXPROCS(0)
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	return opts
}

func newStore(c *goredis.Client, opts Options) *Store {
	return &Store{c: c, opts: opts, match: globEscape(opts.KeyPrefix) + "*"}
}

// globEscape escapes the characters SCAN's MATCH treats specially.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\^-`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (s *Store) key(aor string) string { return s.opts.KeyPrefix + aor }

// fail turns a client error into the store's error: ErrUnavailable for
// anything that failed on the way to or in Redis.
func (s *Store) fail(err error) error {
	if s.closed.Load() || errors.Is(err, goredis.ErrClosed) {
		return location.ErrClosed
	}
	return fmt.Errorf("%w: redis: %w", location.ErrUnavailable, err)
}

func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opts.Timeout)
}

// live decodes a stored set and keeps its unexpired bindings, sorted.
func (s *Store) live(aor, data string, now time.Time) ([]location.Binding, error) {
	if data == "" {
		return []location.Binding{}, nil
	}
	bs, err := location.ParseBindings(aor, []byte(data))
	if err != nil {
		return nil, fmt.Errorf("location/redis: %s: %w", aor, err)
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
	data, err := s.c.HGet(ctx, s.key(aor), "b").Result()
	if err != nil && err != goredis.Nil {
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
	key := s.key(aor)
	var buf []byte
	for attempt := range maxAttempts {
		vals, err := s.c.HMGet(ctx, key, "v", "b").Result()
		if err != nil {
			return nil, s.fail(err)
		}
		version, _ := vals[0].(string)
		data, _ := vals[1].(string)
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
		if version == "" && len(next) == 0 {
			return next, nil // nothing was there and nothing is to be
		}
		set, expiry := "", int64(0)
		if len(next) > 0 {
			buf = location.AppendBindings(buf[:0], next)
			set = string(buf)
			for i := range next {
				expiry = max(expiry, next[i].Expires.UnixMilli()+1)
			}
		}
		newVersion := strconv.FormatUint(rand.Uint64(), 36)
		ok, err := casScript.Run(ctx, s.c, []string{key}, version, newVersion, set, expiry).Int()
		if err != nil {
			return nil, s.fail(err)
		}
		if ok == 1 {
			return next, nil
		}
		if err := location.Backoff(ctx, attempt, 100*time.Microsecond); err != nil {
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
	if s.closed.Load() {
		return location.ErrClosed
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	// Deleting needs no version check: whatever was there, nothing is.
	if err := s.c.Del(ctx, s.key(aor)).Err(); err != nil {
		return s.fail(err)
	}
	return nil
}

// Count implements location.Store by scanning every AOR.
func (s *Store) Count(ctx context.Context) (int, error) {
	n := 0
	for _, err := range s.All(ctx) {
		if err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// All implements location.Store: SCAN over our keys, a batch at a time,
// each batch's sets fetched in one pipeline. Each call to Redis is bounded
// by Options.Timeout; the whole iteration only by ctx.
func (s *Store) All(ctx context.Context) iter.Seq2[location.Binding, error] {
	return func(yield func(location.Binding, error) bool) {
		if s.closed.Load() {
			yield(location.Binding{}, location.ErrClosed)
			return
		}
		var cursor uint64
		for {
			cctx, cancel := s.bound(ctx)
			keys, next, err := s.c.Scan(cctx, cursor, s.match, 500).Result()
			if err != nil {
				cancel()
				yield(location.Binding{}, s.fail(err))
				return
			}
			cmds := make([]*goredis.StringCmd, len(keys))
			if len(keys) > 0 {
				_, err = s.c.Pipelined(cctx, func(p goredis.Pipeliner) error {
					for i, k := range keys {
						cmds[i] = p.HGet(cctx, k, "b")
					}
					return nil
				})
			}
			cancel()
			if err != nil && err != goredis.Nil {
				yield(location.Binding{}, s.fail(err))
				return
			}
			now := s.opts.Clock()
			for i, k := range keys {
				data, err := cmds[i].Result()
				if err == goredis.Nil {
					continue // expired or removed since the scan
				}
				var bs []location.Binding
				if err == nil {
					bs, err = s.live(strings.TrimPrefix(k, s.opts.KeyPrefix), data, now)
				}
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
			if cursor = next; cursor == 0 {
				return
			}
		}
	}
}

// Close closes the connections (when Open made them). Later calls fail
// with location.ErrClosed.
func (s *Store) Close() error {
	if s.closed.Swap(true) || !s.owner {
		return nil
	}
	return s.c.Close()
}

var _ location.Store = (*Store)(nil)
