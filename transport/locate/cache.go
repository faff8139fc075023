package locate

import (
	"container/list"
	"sync"
	"time"

	"github.com/miekg/dns"
)

type cacheKey struct {
	name  string // fully qualified, as asked
	qtype uint16
}

type cacheEntry struct {
	key     cacheKey
	rrs     []dns.RR // nil: the name or type does not exist
	expires time.Time
}

// cache keeps DNS answers for their TTL, the least recently used going
// first when it is full. A nil *cache caches nothing.
type cache struct {
	mu      sync.Mutex
	size    int
	maxTTL  time.Duration
	negTTL  time.Duration
	now     func() time.Time
	entries map[cacheKey]*list.Element
	lru     list.List // front: most recently used
}

func newCache(size int, maxTTL, negTTL time.Duration, now func() time.Time) *cache {
	if maxTTL <= 0 {
		maxTTL = DefaultMaxTTL
	}
	if negTTL <= 0 {
		negTTL = DefaultNegativeTTL
	}
	if now == nil {
		now = time.Now
	}
	return &cache{size: size, maxTTL: maxTTL, negTTL: negTTL, now: now, entries: make(map[cacheKey]*list.Element)}
}

// get returns a live entry; rrs nil with ok means a cached "no such".
func (c *cache) get(k cacheKey) ([]dns.RR, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[k]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	if !c.now().Before(e.expires) {
		c.lru.Remove(el)
		delete(c.entries, k)
		return nil, false
	}
	c.lru.MoveToFront(el)
	return e.rrs, true
}

func (c *cache) put(k cacheKey, rrs []dns.RR, ttl uint32) {
	if ttl == 0 {
		return // RFC 1035: TTL 0 means use once, do not cache
	}
	c.store(k, rrs, min(time.Duration(ttl)*time.Second, c.maxTTLOr()))
}

// putNegative caches a "no such" for ttl (negative: the configured
// NegativeTTL), at most NegativeTTL.
func (c *cache) putNegative(k cacheKey, ttl time.Duration) {
	if c == nil {
		return
	}
	if ttl < 0 || ttl > c.negTTL {
		ttl = c.negTTL
	}
	if ttl == 0 {
		return
	}
	c.store(k, nil, ttl)
}

func (c *cache) maxTTLOr() time.Duration {
	if c == nil {
		return 0
	}
	return c.maxTTL
}

func (c *cache) store(k cacheKey, rrs []dns.RR, ttl time.Duration) {
	if c == nil || ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	exp := c.now().Add(ttl)
	if el, ok := c.entries[k]; ok {
		e := el.Value.(*cacheEntry)
		e.rrs, e.expires = rrs, exp
		c.lru.MoveToFront(el)
		return
	}
	for len(c.entries) >= c.size {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.entries, old.Value.(*cacheEntry).key)
	}
	c.entries[k] = c.lru.PushFront(&cacheEntry{key: k, rrs: rrs, expires: exp})
}

// len is the number of entries, live or not (tests).
func (c *cache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
