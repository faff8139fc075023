package transaction

import (
	"hash/maphash"
	"sync"
)

// shardCount splits the transaction table so that reader goroutines on many
// cores rarely wait for the same lock. A power of two, for the mask.
const shardCount = 32

type hashable interface {
	comparable
	hash(maphash.Seed) uint64
}

// table is a map from key to transaction, sharded by hash of the key.
type table[K hashable, V comparable] struct {
	seed   maphash.Seed
	shards [shardCount]shard[K, V]
}

type shard[K comparable, V comparable] struct {
	mu sync.Mutex
	m  map[K]V
	// Pad to a cache line so neighbouring shards' locks do not share one.
	_ [64 - 16]byte
}

func newTable[K hashable, V comparable]() *table[K, V] {
	t := &table[K, V]{seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].m = make(map[K]V)
	}
	return t
}

func (t *table[K, V]) shard(k K) *shard[K, V] {
	return &t.shards[k.hash(t.seed)&(shardCount-1)]
}

func (t *table[K, V]) get(k K) (V, bool) {
	s := t.shard(k)
	s.mu.Lock()
	v, ok := s.m[k]
	s.mu.Unlock()
	return v, ok
}

// getOrPut stores v under k unless k is present; it returns the value now
// stored and whether it is v. Two reader goroutines that receive the same
// request at once thus create one transaction.
func (t *table[K, V]) getOrPut(k K, v V) (V, bool) {
	s := t.shard(k)
	s.mu.Lock()
	if old, ok := s.m[k]; ok {
		s.mu.Unlock()
		return old, false
	}
	s.m[k] = v
	s.mu.Unlock()
	return v, true
}

// delete removes k when it still maps to v.
func (t *table[K, V]) delete(k K, v V) {
	s := t.shard(k)
	s.mu.Lock()
	if cur, ok := s.m[k]; ok && cur == v {
		delete(s.m, k)
	}
	s.mu.Unlock()
}

// all returns a snapshot of the values, taken shard by shard; callers act on
// it without holding the shard locks.
func (t *table[K, V]) all() []V {
	var out []V
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for _, v := range s.m {
			out = append(out, v)
		}
		s.mu.Unlock()
	}
	return out
}

func (t *table[K, V]) len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
