package transaction

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"sync"
	"time"

	"github.com/parley-sip/parley/sip"
)

// A non-INVITE server transaction over an unreliable transport spends
// timer J (64*T1, 32 s) in Completed after its final response, only to
// answer retransmissions of the request with that response (§17.2.2). On a
// registrar that is nearly every transaction. Kept whole — request and
// buffer, response, runtime timer — it cost 3.7 KB per REGISTER for 32 s;
// kept as a small struct of its own it still cost the garbage collector a
// handful of pointer-bearing objects each, and at 12,000 new registrations
// a second the collector's marking of 400,000 of them made the server late
// enough to draw retransmissions.
//
// So the transaction ends for its TU at its final response, and the layer
// keeps for timer J only bytes: the key, the request's Origin and the
// response as sent, appended to chunks of memory in arrival order — which,
// every J being the same length, is expiry order — and found by a map from
// a 64-bit hash of the key to the record's position. Neither the chunks nor
// the map hold pointers, so the collector never looks inside them, and a
// chunk is dropped whole once its last record has expired. A retransmission
// finds its record, the response is parsed back from its bytes and sent
// again.
//
// Two keys with one hash (2^-64 per pair) would make the older record
// unreachable: its retransmission would start a new transaction.

const (
	lingerShards    = 16
	lingerChunkBits = 16 // 64 KiB chunks: a record (a UDP response) fits in one
	lingerChunkSize = 1 << lingerChunkBits
	lingerHeader    = 8 + 8 + 2 + 2 + 4 // expiry, hash, key length, origin length, wire length
)

// lingerStore holds the records of completed non-INVITE server
// transactions until their timer J.
type lingerStore struct {
	seed   maphash.Seed
	d      time.Duration // timer J
	shards [lingerShards]lingerShard
	wake   func() // tells the wait goroutine a shard went from empty to not
}

type lingerShard struct {
	mu    sync.Mutex
	index map[uint64]uint64 // key hash -> position: chunk number << lingerChunkBits | offset
	// chunks[i] is chunk number first+i; the last one is being filled.
	chunks [][]byte
	first  uint64
	count  int // records held
	_      [64]byte
}

func newLingerStore(d time.Duration, wake func()) *lingerStore {
	ls := &lingerStore{seed: maphash.MakeSeed(), d: d, wake: wake}
	for i := range ls.shards {
		ls.shards[i].index = make(map[uint64]uint64)
	}
	return ls
}

// lingerKey is the wire form of a serverKey (RFC 3261 keys only), the
// bytes hashed and compared.
func lingerKey(dst []byte, k *serverKey) []byte {
	dst = append(dst, k.branch...)
	dst = append(dst, 0)
	dst = append(dst, k.host...)
	dst = append(dst, 0)
	dst = append(dst, k.method...)
	return binary.LittleEndian.AppendUint32(dst, uint32(k.port))
}

func (ls *lingerStore) shard(h uint64) *lingerShard { return &ls.shards[h>>60&(lingerShards-1)] }

// add keeps resp, as sent in answer to the request whose key is k, until
// timer J. With resp nil the record only absorbs retransmissions of the
// request (an INVITE in the Accepted state, see ServerTx.Release). It
// reports false (keeping nothing) when the record would not fit a chunk.
func (ls *lingerStore) add(k *serverKey, resp *sip.Response) bool {
	var kb [256]byte
	key := lingerKey(kb[:0], k)
	var ob [128]byte
	var origin []byte
	wireLen := 0
	if resp != nil {
		origin = appendOrigin(ob[:0], &resp.Origin)
		wireLen = resp.MarshalSize()
	}
	size := lingerHeader + len(key) + len(origin) + wireLen
	if size > lingerChunkSize || len(key) > 0xffff || len(origin) > 0xffff {
		return false
	}
	h := maphash.Bytes(ls.seed, key)
	expiry := time.Now().Add(ls.d).UnixNano()

	s := ls.shard(h)
	s.mu.Lock()
	empty := s.count == 0
	n := len(s.chunks)
	if n == 0 || len(s.chunks[n-1])+size > lingerChunkSize {
		s.chunks = append(s.chunks, make([]byte, 0, lingerChunkSize))
		n++
	}
	c := s.chunks[n-1]
	pos := (s.first+uint64(n-1))<<lingerChunkBits | uint64(len(c))
	c = binary.LittleEndian.AppendUint64(c, uint64(expiry))
	c = binary.LittleEndian.AppendUint64(c, h)
	c = binary.LittleEndian.AppendUint16(c, uint16(len(key)))
	c = binary.LittleEndian.AppendUint16(c, uint16(len(origin)))
	wireAt := len(c) + 4 + len(key) + len(origin)
	c = binary.LittleEndian.AppendUint32(c, 0) // wire length, below
	c = append(c, key...)
	c = append(c, origin...)
	if resp != nil {
		c = resp.AppendTo(c)
	}
	binary.LittleEndian.PutUint32(c[wireAt-4-len(key)-len(origin):], uint32(len(c)-wireAt))
	s.chunks[n-1] = c
	s.index[h] = pos
	s.count++
	s.mu.Unlock()
	if empty && ls.wake != nil {
		ls.wake()
	}
	return true
}

// lingerRecord is a decoded record; its slices point into a chunk, which
// is never written again once a record is in it.
type lingerRecord struct {
	expiry int64
	hash   uint64
	key    []byte
	origin []byte
	wire   []byte
	next   int // offset of the next record in the chunk
}

func decodeRecord(c []byte, off int) lingerRecord {
	var r lingerRecord
	r.expiry = int64(binary.LittleEndian.Uint64(c[off:]))
	r.hash = binary.LittleEndian.Uint64(c[off+8:])
	kl := int(binary.LittleEndian.Uint16(c[off+16:]))
	ol := int(binary.LittleEndian.Uint16(c[off+18:]))
	wl := int(binary.LittleEndian.Uint32(c[off+20:]))
	p := off + lingerHeader
	r.key = c[p : p+kl]
	r.origin = c[p+kl : p+kl+ol]
	r.wire = c[p+kl+ol : p+kl+ol+wl]
	r.next = p + kl + ol + wl
	return r
}

// find returns the response kept for k and the Origin to send it to; ok
// with an empty wire is a record that only absorbs.
func (ls *lingerStore) find(k *serverKey) (wire []byte, origin sip.Origin, ok bool) {
	var kb [256]byte
	key := lingerKey(kb[:0], k)
	h := maphash.Bytes(ls.seed, key)
	s := ls.shard(h)
	s.mu.Lock()
	pos, ok := s.index[h]
	if !ok {
		s.mu.Unlock()
		return nil, origin, false
	}
	i := pos>>lingerChunkBits - s.first
	if i >= uint64(len(s.chunks)) {
		s.mu.Unlock()
		return nil, origin, false // cannot happen: expire unindexes what it drops
	}
	r := decodeRecord(s.chunks[i], int(pos&(lingerChunkSize-1)))
	s.mu.Unlock()
	if string(r.key) != string(key) || r.expiry <= time.Now().UnixNano() {
		return nil, origin, false
	}
	if len(r.wire) == 0 {
		return nil, origin, true
	}
	origin, ok = decodeOrigin(r.origin)
	return r.wire, origin, ok
}

// expire drops the chunks whose records have all expired, and returns
// when it next has something to do (zero: nothing held).
func (ls *lingerStore) expire(now time.Time) time.Time {
	t := now.UnixNano()
	var next int64
	for i := range ls.shards {
		s := &ls.shards[i]
		s.mu.Lock()
		for len(s.chunks) > 0 {
			c := s.chunks[0]
			last := lastExpiry(c)
			if last > t {
				if next == 0 || last < next {
					next = last
				}
				break
			}
			// Every record in c has expired: unindex them (unless
			// the key's newer record has taken the index) and let
			// the chunk go.
			for off := 0; off < len(c); {
				r := decodeRecord(c, off)
				pos := s.first<<lingerChunkBits | uint64(off)
				if s.index[r.hash] == pos {
					delete(s.index, r.hash)
				}
				s.count--
				off = r.next
			}
			s.chunks[0] = nil
			s.chunks = s.chunks[1:]
			s.first++
		}
		if len(s.chunks) == 0 {
			s.chunks = nil // let the array go too
		}
		s.mu.Unlock()
	}
	if next == 0 {
		return time.Time{}
	}
	return time.Unix(0, next).Add(ls.d / 256)
}

// lastExpiry is the expiry of the last record in chunk c: the latest.
func lastExpiry(c []byte) int64 {
	var last int64
	for off := 0; off < len(c); {
		r := decodeRecord(c, off)
		last = r.expiry
		off = r.next
	}
	return last
}

// len returns the number of records held.
func (ls *lingerStore) len() int {
	n := 0
	for i := range ls.shards {
		s := &ls.shards[i]
		s.mu.Lock()
		n += s.count
		s.mu.Unlock()
	}
	return n
}

// clear drops every record (Shutdown).
func (ls *lingerStore) clear() {
	for i := range ls.shards {
		s := &ls.shards[i]
		s.mu.Lock()
		s.chunks, s.count = nil, 0
		clear(s.index)
		s.mu.Unlock()
	}
}

// appendOrigin encodes o: transport, then source and local address.
func appendOrigin(dst []byte, o *sip.Origin) []byte {
	dst = append(dst, byte(len(o.Transport)))
	dst = append(dst, o.Transport...)
	for _, ap := range [2]netip.AddrPort{o.Source, o.Local} {
		at := len(dst)
		dst = append(dst, 0)
		dst, _ = ap.AppendBinary(dst)
		dst[at] = byte(len(dst) - at - 1)
	}
	return dst
}

func decodeOrigin(b []byte) (sip.Origin, bool) {
	var o sip.Origin
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return o, false
	}
	o.Transport = internTransport(b[1 : 1+b[0]])
	b = b[1+b[0]:]
	for _, ap := range [2]*netip.AddrPort{&o.Source, &o.Local} {
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return o, false
		}
		if err := ap.UnmarshalBinary(b[1 : 1+b[0]]); err != nil {
			return o, false
		}
		b = b[1+b[0]:]
	}
	return o, true
}

// internTransport returns the transport name without allocating for the
// usual ones.
func internTransport(b []byte) string {
	for _, t := range [...]string{"UDP", "TCP", "TLS", "WS", "WSS", "SCTP"} {
		if string(b) == t {
			return t
		}
	}
	return string(b)
}
