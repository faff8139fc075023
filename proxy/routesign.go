package proxy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"sync"

	"github.com/parley-sip/parley/sip"
)

// Record-Route signatures. A dialog's in-dialog requests carry our
// Record-Route back to us as Route (§12.2.1.1), and the proxy forwards
// them wherever their Request-URI points: without a check, anybody could
// put a To tag and a Route naming us on a request and have it relayed. So
// each Record-Route value the proxy writes carries, in its routeSigParam
// parameter, an HMAC over its user part (the flow token) and the
// request's Call-ID, under a key only this server (or its cluster) knows;
// [Proxy.RouteVerified] checks it. Like Kamailio's topology hiding keys,
// the key must be shared by the nodes that share dialogs.
const routeSigParam = "psig"

// routeSigLen is the signature's length in bytes before encoding (96
// bits: forging one is a 2^96 guess per request).
const routeSigLen = 12

type routeSigner struct {
	pool sync.Pool // of hash.Hash (HMAC-SHA256 with the key)
}

func newRouteSigner(key []byte) *routeSigner {
	k := append([]byte(nil), key...)
	s := &routeSigner{}
	s.pool.New = func() any { return hmac.New(sha256.New, k) }
	return s
}

// sign appends the encoded signature of (user, callID) to dst.
func (s *routeSigner) sign(dst []byte, user, callID string) []byte {
	h := s.pool.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte(user))
	h.Write([]byte{0})
	h.Write([]byte(callID))
	var sum [sha256.Size]byte
	mac := h.Sum(sum[:0])
	s.pool.Put(h)
	return base64.RawURLEncoding.AppendEncode(dst, mac[:routeSigLen])
}

// verify reports whether sig signs (user, callID), in constant time.
func (s *routeSigner) verify(sig, user, callID string) bool {
	var buf [32]byte
	want := s.sign(buf[:0], user, callID)
	return hmac.Equal(want, []byte(sig))
}

// RouteVerified reports whether an in-dialog request came along a route
// this proxy recorded: the first of its Route values that names us (or,
// from a strict router, its Request-URI) carries a valid signature for
// the request's Call-ID. Without Config.RouteKey every route of ours
// passes.
func (p *Proxy) RouteVerified(req *sip.Request) bool {
	if p.isOwnRecordRoute(&req.URI) && req.Has("Route") {
		return p.routeSigned(&req.URI, req.CallID())
	}
	for r, err := range req.Routes() {
		if err != nil {
			return false
		}
		if p.isOurs(&r.URI) {
			return p.routeSigned(&r.URI, req.CallID())
		}
		return false // the top Route is someone else's: not through us
	}
	return false
}

func (p *Proxy) routeSigned(u *sip.URI, callID string) bool {
	if p.signer == nil {
		return true
	}
	sig, ok := u.Params.Get(routeSigParam)
	return ok && p.signer.verify(sig, u.User, callID)
}
