package auth

import "sync"

// ncTable remembers, per nonce, the highest nonce-count accepted, so that a
// captured request cannot be replayed while its nonce is fresh (RFC 7616
// §3.4: the server should check that nc grows).
//
// Memory is bounded: each shard is an LRU of at most cap entries. Forgetting
// a live nonce would open a replay hole, so evicting one raises the shard's
// floor to that nonce's creation time, and a nonce the table does not know
// whose creation time is at or below the floor is refused (the client gets
// stale=true and a fresh nonce). Under pressure that costs some clients one
// extra round trip; it never lets a replay through. Entries for expired
// nonces are dropped without raising the floor: their nonce is refused as
// stale anyway.
type ncTable struct {
	shards [ncShards]ncShard
}

const ncShards = 16

type ncShard struct {
	mu    sync.Mutex
	m     map[[nonceMACLen]byte]*ncEntry
	lru   ncEntry // sentinel: lru.next is the most recent, lru.prev the least
	cap   int
	floor int64
}

type ncEntry struct {
	id         [nonceMACLen]byte
	issued     int64
	nc         uint32
	prev, next *ncEntry
}

func newNCTable(capacity int) *ncTable {
	t := &ncTable{}
	per := max(capacity/ncShards, 1)
	for i := range t.shards {
		s := &t.shards[i]
		s.m = make(map[[nonceMACLen]byte]*ncEntry)
		s.lru.next, s.lru.prev = &s.lru, &s.lru
		s.cap = per
	}
	return t
}

// advance records nc for the nonce and reports whether it is higher than
// every nc seen with it before. now and ttl (nanoseconds) tell expired
// entries from live ones.
func (t *ncTable) advance(id [nonceMACLen]byte, issued int64, nc uint32, now, ttl int64) bool {
	// The id is a MAC, so its bytes are uniformly spread: any byte picks a
	// shard fairly.
	s := &t.shards[id[0]%ncShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[id]; ok {
		if nc <= e.nc {
			return false
		}
		e.nc = nc
		s.unlink(e)
		s.pushFront(e)
		return true
	}
	if issued <= s.floor {
		return false
	}
	e := &ncEntry{id: id, issued: issued, nc: nc}
	s.m[id] = e
	s.pushFront(e)
	for len(s.m) > s.cap {
		old := s.lru.prev
		if now-old.issued <= ttl && old.issued > s.floor {
			s.floor = old.issued
		}
		s.unlink(old)
		delete(s.m, old.id)
	}
	// Drop a few expired entries from the cold end so that a quiet server
	// does not keep a full table forever.
	for range 2 {
		old := s.lru.prev
		if old == &s.lru || old == e || now-old.issued <= ttl {
			break
		}
		s.unlink(old)
		delete(s.m, old.id)
	}
	return true
}

func (s *ncShard) unlink(e *ncEntry) {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
}

func (s *ncShard) pushFront(e *ncEntry) {
	e.prev = &s.lru
	e.next = s.lru.next
	s.lru.next.prev = e
	s.lru.next = e
}

// len returns the number of remembered nonces (for tests).
func (t *ncTable) len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
