package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"sync"
	"time"
)

// A nonce is base64url(issued ‖ random ‖ mac): issued is the creation time in
// Unix nanoseconds (8 bytes, big endian), random 8 bytes from crypto/rand,
// mac the first 16 bytes of HMAC-SHA-256(key, realm ‖ 0 ‖ issued ‖ random).
// Whoever has the key can tell a nonce it (or a sibling node) made from a
// forged one and how old it is without remembering anything; the random part
// keeps two nonces of the same nanosecond apart. The realm in the MAC stops a
// nonce of one realm from being used in another that shares the key.
const (
	nonceTimeLen = 8
	nonceRandLen = 8
	nonceMACLen  = 16
	nonceRawLen  = nonceTimeLen + nonceRandLen + nonceMACLen
)

var nonceEncoding = base64.RawURLEncoding

// nonceLen is the length of an encoded nonce.
var nonceLen = nonceEncoding.EncodedLen(nonceRawLen)

// maxClockSkew is how far in the future a nonce's time may be: a sibling
// node's clock may run a little ahead of ours.
const maxClockSkew = 30 * time.Second

type nonceState uint8

const (
	nonceValid   nonceState = iota
	nonceExpired            // ours, but older than the TTL
	nonceForeign            // not ours: other key, other realm, garbled
)

// noncer makes and checks nonces.
type noncer struct {
	prefix []byte // realm ‖ 0, the start of every MAC input
	ttl    int64  // nanoseconds
	macs   sync.Pool
}

// macState is a pooled HMAC with buffers of its own: handing a stack array to
// hash.Hash.Write (an interface call) would move it to the heap.
type macState struct {
	h   hash.Hash
	in  [nonceTimeLen + nonceRandLen]byte
	out [sha256.Size]byte
}

func newNoncer(key []byte, realm string, ttl time.Duration) *noncer {
	key = append([]byte(nil), key...)
	n := &noncer{prefix: append([]byte(realm), 0), ttl: int64(ttl)}
	n.macs.New = func() any { return &macState{h: hmac.New(sha256.New, key)} }
	return n
}

// mac sets out to the truncated MAC of head (issued ‖ random).
func (n *noncer) mac(out *[nonceMACLen]byte, head *[nonceTimeLen + nonceRandLen]byte) {
	m := n.macs.Get().(*macState)
	m.h.Reset()
	m.in = *head
	_, _ = m.h.Write(n.prefix)
	_, _ = m.h.Write(m.in[:])
	m.h.Sum(m.out[:0])
	copy(out[:], m.out[:nonceMACLen])
	n.macs.Put(m)
}

// make returns a new nonce created at now (Unix nanoseconds).
func (n *noncer) make(now int64) string {
	var head [nonceTimeLen + nonceRandLen]byte
	binary.BigEndian.PutUint64(head[:nonceTimeLen], uint64(now))
	_, _ = rand.Read(head[nonceTimeLen:]) // never fails since Go 1.24
	var raw [nonceRawLen]byte
	copy(raw[:], head[:])
	var sum [nonceMACLen]byte
	n.mac(&sum, &head)
	copy(raw[len(head):], sum[:])
	return nonceEncoding.EncodeToString(raw[:])
}

// check reports whether s is a nonce of ours and still fresh at now. For a
// nonce of ours it also returns its creation time and MAC, which key the
// replay table.
func (n *noncer) check(s string, now int64) (st nonceState, issued int64, id [nonceMACLen]byte) {
	if len(s) != nonceLen {
		return nonceForeign, 0, id
	}
	var enc [64]byte // nonceLen is 43; a fixed array keeps the copy off the heap
	var raw [nonceRawLen + 2]byte
	m, err := nonceEncoding.Decode(raw[:], enc[:copy(enc[:], s)])
	if err != nil || m != nonceRawLen {
		return nonceForeign, 0, id
	}
	var head [nonceTimeLen + nonceRandLen]byte
	copy(head[:], raw[:])
	var sum [nonceMACLen]byte
	n.mac(&sum, &head)
	if subtle.ConstantTimeCompare(sum[:], raw[len(head):nonceRawLen]) != 1 {
		return nonceForeign, 0, id
	}
	id = sum
	issued = int64(binary.BigEndian.Uint64(head[:nonceTimeLen]))
	age := now - issued
	switch {
	case age < -int64(maxClockSkew):
		// A nonce from the future was made by a node whose clock is badly
		// off; honouring it would stretch its life past the TTL.
		return nonceForeign, issued, id
	case age > n.ttl:
		return nonceExpired, issued, id
	}
	return nonceValid, issued, id
}
