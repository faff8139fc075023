package location

import (
	"context"
	"fmt"
	"hash/maphash"
	"iter"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unique"

	"github.com/parley-sip/parley/sip"
)

// Options configure a MemoryStore (and the memory index of a FileStore).
type Options struct {
	// Clock returns the current time; nil means time.Now. Tests inject a
	// fake clock to expire bindings without waiting.
	Clock func() time.Time

	// SweepInterval is how often a background goroutine drops expired
	// bindings from memory. 0 means 30 seconds; negative disables the
	// sweeper (call Sweep yourself). Lookups filter by the clock either
	// way; the sweeper only returns the memory.
	SweepInterval time.Duration
}

const numShards = 64 // a power of two; enough that 2 to 64 cores rarely meet on one lock

// MemoryStore is a Store held in memory: the AORs spread over sharded maps,
// each under its own lock, and each binding packed into one compact record
// (one string allocation for its text, interned User-Agent, Path and
// transport, times as Unix nanoseconds).
type MemoryStore struct {
	shards [numShards]shard
	seed   maphash.Seed
	clock  func() time.Time
	closed atomic.Bool

	// j is the journal of a FileStore, nil for a plain memory store. When
	// set, every change appends its record under the shard lock, so the
	// journal order of changes to one AOR is their order in memory.
	j *journal

	stopSweep chan struct{}
	sweepDone chan struct{}
	closeOnce sync.Once
}

type shard struct {
	mu sync.RWMutex
	m  map[string][]record
	_  [64 - 32]byte // keep each lock on its own cache line
}

// record is a packed Binding without its AOR (the map key holds that).
// The text fields live back to back in s; the ends index it.
type record struct {
	s         string // contact + params + callID + instance
	cEnd      uint32 // end of contact in s
	pEnd      uint32 // end of params
	iEnd      uint32 // end of callID; instance follows
	cseq      uint32
	regID     uint32
	q         uint16
	ua        unique.Handle[string]
	path      unique.Handle[string] // Path values joined by '\n'
	transport unique.Handle[string]
	node      unique.Handle[string]
	source    netip.AddrPort
	local     netip.AddrPort
	expires   int64 // Unix nanoseconds
	updated   int64
}

func (r *record) contact() string  { return r.s[:r.cEnd] }
func (r *record) params() string   { return r.s[r.cEnd:r.pEnd] }
func (r *record) callID() string   { return r.s[r.pEnd:r.iEnd] }
func (r *record) instance() string { return r.s[r.iEnd:] }

var zeroHandle unique.Handle[string]

func intern(s string) unique.Handle[string] {
	if s == "" {
		return zeroHandle
	}
	return unique.Make(s)
}

func handleValue(h unique.Handle[string]) string {
	if h == zeroHandle {
		return ""
	}
	return h.Value()
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func pack(b *Binding) record {
	var sb strings.Builder
	sb.Grow(len(b.Contact) + len(b.Params) + len(b.CallID) + len(b.InstanceID))
	sb.WriteString(b.Contact)
	sb.WriteString(b.Params)
	sb.WriteString(b.CallID)
	sb.WriteString(b.InstanceID)
	cEnd := len(b.Contact)
	pEnd := cEnd + len(b.Params)
	return record{
		s:         sb.String(), // a fresh copy: the record never pins a received datagram
		cEnd:      uint32(cEnd),
		pEnd:      uint32(pEnd),
		iEnd:      uint32(pEnd + len(b.CallID)),
		cseq:      b.CSeq,
		regID:     b.RegID,
		q:         uint16(b.Q),
		ua:        intern(b.UserAgent),
		path:      intern(strings.Join(b.Path, "\n")),
		transport: intern(b.Transport),
		node:      intern(b.Node),
		source:    b.Source,
		local:     b.Local,
		expires:   unixNano(b.Expires),
		updated:   unixNano(b.Updated),
	}
}

func (r *record) binding(aor string) Binding {
	b := Binding{
		AOR:        aor,
		Contact:    r.contact(),
		Params:     r.params(),
		Expires:    fromUnixNano(r.expires),
		Q:          int(r.q),
		CallID:     r.callID(),
		CSeq:       r.cseq,
		Source:     r.source,
		Local:      r.local,
		Transport:  handleValue(r.transport),
		InstanceID: r.instance(),
		RegID:      r.regID,
		UserAgent:  handleValue(r.ua),
		Updated:    fromUnixNano(r.updated),
		Node:       handleValue(r.node),
	}
	if p := handleValue(r.path); p != "" {
		b.Path = strings.Split(p, "\n")
	}
	return b
}

// matches reports whether stored record r is the binding that a new binding
// with contact URI u, instance and regID refreshes (RFC 5626 §6 when both
// are flows, §19.1.4 URI equality otherwise).
func (r *record) matches(u *sip.URI, instance string, regID uint32) bool {
	if regID != 0 && instance != "" && r.regID != 0 && r.iEnd < uint32(len(r.s)) {
		return r.regID == regID && strings.EqualFold(r.instance(), instance)
	}
	return uriMatches(r.contact(), u)
}

func uriMatches(stored string, u *sip.URI) bool {
	su, err := sip.ParseURI(stored)
	if err != nil {
		return false
	}
	return su.Equal(u)
}

// NewMemoryStore returns an empty memory store and starts its sweeper.
func NewMemoryStore(opts Options) *MemoryStore {
	m := newMemory(opts)
	m.startSweeper(opts.SweepInterval)
	return m
}

func newMemory(opts Options) *MemoryStore {
	m := &MemoryStore{seed: maphash.MakeSeed(), clock: opts.Clock}
	if m.clock == nil {
		m.clock = time.Now
	}
	for i := range m.shards {
		m.shards[i].m = make(map[string][]record)
	}
	return m
}

func (m *MemoryStore) startSweeper(every time.Duration) {
	if every == 0 {
		every = 30 * time.Second
	}
	if every < 0 {
		return
	}
	m.stopSweep = make(chan struct{})
	m.sweepDone = make(chan struct{})
	go func() {
		defer close(m.sweepDone)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-m.stopSweep:
				return
			case <-t.C:
				m.Sweep()
			}
		}
	}()
}

func (m *MemoryStore) shard(aor string) *shard {
	return &m.shards[maphash.String(m.seed, aor)&(numShards-1)]
}

// Lookup implements Store.
func (m *MemoryStore) Lookup(_ context.Context, aor string) ([]Binding, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	now := m.clock().UnixNano()
	sh := m.shard(aor)
	sh.mu.RLock()
	recs := sh.m[aor]
	out := make([]Binding, 0, len(recs))
	for i := range recs {
		if recs[i].expires > now {
			out = append(out, recs[i].binding(aor))
		}
	}
	sh.mu.RUnlock()
	SortBindings(out)
	return out, nil
}

// encBufs recycles the buffers journal records are encoded in.
var encBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Put implements Store.
func (m *MemoryStore) Put(ctx context.Context, b Binding) error {
	u, err := validate(&b)
	if err != nil {
		return err
	}
	var enc []byte
	if m.j != nil {
		// The journal writes or copies the record before put returns,
		// so the buffer goes back to the pool at once.
		bp := encBufs.Get().(*[]byte)
		defer encBufs.Put(bp)
		enc = encodePut((*bp)[:0], &b)
		*bp = enc
	}
	return m.put(ctx, &b, &u, enc)
}

func (m *MemoryStore) put(ctx context.Context, b *Binding, u *sip.URI, enc []byte) error {
	if m.closed.Load() {
		return ErrClosed
	}
	rec := pack(b)
	now := m.clock().UnixNano()
	sh := m.shard(b.AOR)
	sh.mu.Lock()
	list := sh.m[b.AOR]
	if len(list) >= MaxBindings && rec.expires > now && !m.roomFor(list, u, b, now) {
		sh.mu.Unlock()
		return fmt.Errorf("%w: AOR already has %d bindings (max %d)", ErrInvalid, len(list), MaxBindings)
	}
	n := 0
	for _, r := range list {
		if !r.matches(u, b.InstanceID, b.RegID) {
			list[n] = r
			n++
		}
	}
	clear(list[n:])
	list = list[:n]
	if rec.expires > now {
		list = append(list, rec)
	}
	m.store(sh, b.AOR, list)
	w := m.log(enc)
	sh.mu.Unlock()
	return w.wait(ctx)
}

// roomFor reports whether putting b into a full list keeps it within
// MaxBindings: b replaces what it matches, and expired records go.
func (m *MemoryStore) roomFor(list []record, u *sip.URI, b *Binding, now int64) bool {
	kept := 0
	for i := range list {
		if list[i].expires > now && !list[i].matches(u, b.InstanceID, b.RegID) {
			kept++
		}
	}
	return kept < MaxBindings
}

// Update implements Store: fn runs under the AOR's shard lock, so it sees
// and replaces the bindings with nothing in between; a FileStore journals
// the new set as one record.
func (m *MemoryStore) Update(ctx context.Context, aor string, fn UpdateFunc) ([]Binding, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	next, w, err := m.update(aor, fn)
	if err != nil {
		return nil, err
	}
	return next, w.wait(ctx)
}

// update is Update under the shard lock; the deferred unlock keeps the
// shard usable even if fn panics (the server recovers panics in handlers).
func (m *MemoryStore) update(aor string, fn UpdateFunc) ([]Binding, *batch, error) {
	sh := m.shard(aor)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := m.clock()
	nowNano := now.UnixNano()
	list := sh.m[aor]
	current := make([]Binding, 0, len(list))
	for i := range list {
		if list[i].expires > nowNano {
			current = append(current, list[i].binding(aor))
		}
	}
	SortBindings(current)
	next, err := fn(current)
	if err == nil {
		next, err = CheckSet(aor, next, now)
	}
	if err != nil {
		return nil, nil, err
	}
	if m.j == nil {
		m.set(sh, aor, next, list)
		return next, nil, nil
	}
	bp := encBufs.Get().(*[]byte)
	enc := encodeSet((*bp)[:0], aor, next)
	*bp = enc[:0]
	if cap(enc) <= 64<<10 {
		defer encBufs.Put(bp) // the journal copies or writes the record before add returns
	}
	if len(enc) > maxRecordLen {
		return nil, nil, fmt.Errorf("%w: bindings of %s take %d bytes (max %d)", ErrInvalid, aor, len(enc), maxRecordLen)
	}
	m.set(sh, aor, next, list)
	return next, m.log(enc), nil
}

// applySet replays a journaled Update: the bindings of aor become bs
// (those still valid and unexpired), without journaling.
func (m *MemoryStore) applySet(aor string, bs []Binding) {
	if aor == "" {
		return
	}
	now := m.clock().UnixNano()
	bs = slices.DeleteFunc(bs, func(b Binding) bool { return unixNano(b.Expires) <= now || ValidBinding(&b) != nil || b.AOR != aor })
	sh := m.shard(aor)
	sh.mu.Lock()
	m.set(sh, aor, bs, sh.m[aor])
	sh.mu.Unlock()
}

// set replaces the records of aor (list, under the shard lock) by bs.
// A binding that fn kept unchanged keeps its record, and the slice is
// reused when it fits: an update of an AOR allocates only for what
// changed.
func (m *MemoryStore) set(sh *shard, aor string, bs []Binding, list []record) {
	if len(bs) == 0 {
		clear(list)
		delete(sh.m, aor)
		return
	}
	var recs []record
	if cap(list) >= len(bs) {
		recs = list[:len(bs)]
	} else {
		recs = make([]record, len(bs))
	}
	// Overwriting recs[i] while list is searched is safe: a record already
	// overwritten holds a binding of bs, and reusing it for an equal one is
	// still right; an old record lost to the overwrite is only packed anew.
	for i := range bs {
		recs[i] = packReusing(&bs[i], list)
	}
	if len(list) > len(bs) && cap(list) >= len(bs) {
		clear(list[len(bs):])
	}
	m.store(sh, aor, recs)
}

// packReusing packs b, or returns the record of list that already holds
// exactly b.
func packReusing(b *Binding, list []record) record {
	for i := range list {
		if list[i].holds(b) {
			return list[i]
		}
	}
	return pack(b)
}

// holds reports whether r is the packed form of b (without the AOR).
func (r *record) holds(b *Binding) bool {
	if r.cseq != b.CSeq || r.regID != b.RegID || int(r.q) != b.Q || r.source != b.Source || r.local != b.Local ||
		r.expires != unixNano(b.Expires) || r.updated != unixNano(b.Updated) ||
		r.contact() != b.Contact || r.params() != b.Params || r.callID() != b.CallID || r.instance() != b.InstanceID ||
		handleValue(r.ua) != b.UserAgent || handleValue(r.transport) != b.Transport || handleValue(r.node) != b.Node {
		return false
	}
	if len(b.Path) == 0 {
		return r.path == zeroHandle
	}
	return handleValue(r.path) == strings.Join(b.Path, "\n")
}

// store sets the list of an AOR, deleting the key when it is empty and
// trimming a slice left mostly empty so removed bindings return memory.
func (m *MemoryStore) store(sh *shard, aor string, list []record) {
	switch {
	case len(list) == 0:
		delete(sh.m, aor)
	case cap(list) > 4 && len(list) <= cap(list)/4:
		sh.m[aor] = append([]record(nil), list...)
	default:
		sh.m[aor] = list
	}
}

// log appends an encoded change to the journal (when there is one); the
// caller holds the shard lock.
func (m *MemoryStore) log(enc []byte) *batch {
	if m.j == nil || enc == nil {
		return nil
	}
	return m.j.add(enc)
}

// Remove implements Store.
func (m *MemoryStore) Remove(ctx context.Context, aor, contactURI string) error {
	var enc []byte
	if m.j != nil {
		enc = encodeRemove(nil, aor, contactURI)
	}
	return m.remove(ctx, aor, contactURI, enc)
}

func (m *MemoryStore) remove(ctx context.Context, aor, contactURI string, enc []byte) error {
	if m.closed.Load() {
		return ErrClosed
	}
	u, err := sip.ParseURI(contactURI)
	parsed := err == nil
	sh := m.shard(aor)
	sh.mu.Lock()
	list := sh.m[aor]
	n := 0
	for _, r := range list {
		if parsed && uriMatches(r.contact(), &u) || !parsed && r.contact() == contactURI {
			continue
		}
		list[n] = r
		n++
	}
	if n != len(list) {
		clear(list[n:])
		m.store(sh, aor, list[:n])
	}
	w := m.log(enc)
	sh.mu.Unlock()
	return w.wait(ctx)
}

// RemoveAll implements Store.
func (m *MemoryStore) RemoveAll(ctx context.Context, aor string) error {
	var enc []byte
	if m.j != nil {
		enc = encodeRemoveAll(nil, aor)
	}
	return m.removeAll(ctx, aor, enc)
}

func (m *MemoryStore) removeAll(ctx context.Context, aor string, enc []byte) error {
	if m.closed.Load() {
		return ErrClosed
	}
	sh := m.shard(aor)
	sh.mu.Lock()
	delete(sh.m, aor)
	w := m.log(enc)
	sh.mu.Unlock()
	return w.wait(ctx)
}

// Count implements Store.
func (m *MemoryStore) Count(context.Context) (int, error) {
	if m.closed.Load() {
		return 0, ErrClosed
	}
	now := m.clock().UnixNano()
	n := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.RLock()
		for _, list := range sh.m {
			for j := range list {
				if list[j].expires > now {
					n++
				}
			}
		}
		sh.mu.RUnlock()
	}
	return n, nil
}

// All implements Store. It copies one shard at a time and yields outside
// the lock, so a slow consumer never holds up registrations.
func (m *MemoryStore) All(ctx context.Context) iter.Seq2[Binding, error] {
	return func(yield func(Binding, error) bool) {
		if m.closed.Load() {
			yield(Binding{}, ErrClosed)
			return
		}
		var buf []Binding
		for i := range m.shards {
			if err := ctx.Err(); err != nil {
				yield(Binding{}, err)
				return
			}
			now := m.clock().UnixNano()
			sh := &m.shards[i]
			buf = buf[:0]
			sh.mu.RLock()
			for aor, list := range sh.m {
				for j := range list {
					if list[j].expires > now {
						buf = append(buf, list[j].binding(aor))
					}
				}
			}
			sh.mu.RUnlock()
			for _, b := range buf {
				if !yield(b, nil) {
					return
				}
			}
		}
	}
}

// Sweep drops every expired binding from memory and returns how many it
// dropped. The sweeper calls it; tests on a fake clock call it directly.
func (m *MemoryStore) Sweep() int {
	now := m.clock().UnixNano()
	dropped := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		for aor, list := range sh.m {
			n := 0
			for _, r := range list {
				if r.expires > now {
					list[n] = r
					n++
				}
			}
			if n != len(list) {
				dropped += len(list) - n
				clear(list[n:])
				m.store(sh, aor, list[:n])
			}
		}
		sh.mu.Unlock()
	}
	return dropped
}

// Close stops the sweeper. Later calls fail with ErrClosed.
func (m *MemoryStore) Close() error {
	m.closed.Store(true)
	m.closeOnce.Do(func() {
		if m.stopSweep != nil {
			close(m.stopSweep)
			<-m.sweepDone
		}
	})
	return nil
}

var _ Store = (*MemoryStore)(nil)
