package transaction

import (
	"hash/maphash"
	"strconv"
	"strings"

	"github.com/parley-sip/parley/sip"
)

// serverKey identifies a server transaction (§17.2.3). For an RFC 3261 peer
// (a branch with the magic cookie) it is branch + sent-by + method, strings
// that point into the received message, so building it costs nothing. For
// an RFC 2543 peer the fallback rule compares the Request-URI, From tag,
// Call-ID, CSeq and top Via as well: those are packed into legacy (an
// allocation on that rare path only), and the To tag is checked after the
// lookup (see legacyMatch) because an ACK's To tag differs from its
// INVITE's.
type serverKey struct {
	branch string // the branch; for RFC 2543 whatever branch there is (maybe "")
	host   string // sent-by host of the top Via
	port   int    // sent-by port (0 when absent)
	method string // the request method; INVITE for ACK (and for a CANCEL's target)
	legacy string // RFC 2543 only: Call-ID, From tag, CSeq number, Via transport, Request-URI
}

func (k serverKey) hash(seed maphash.Seed) uint64 {
	if k.legacy != "" {
		return maphash.String(seed, k.legacy)
	}
	return maphash.String(seed, k.branch)
}

// serverKeyOf returns the key of the transaction req belongs to. ACK maps to
// its INVITE; a CANCEL maps to its own transaction (use withMethod(INVITE) to
// find the INVITE it cancels).
func serverKeyOf(req *sip.Request) (serverKey, bool) {
	via, err := req.TopVia()
	if err != nil {
		return serverKey{}, false
	}
	method := req.Method
	if method == sip.ACK {
		method = sip.INVITE
	}
	k := serverKey{branch: via.Branch(), host: via.Host, port: via.Port, method: method}
	if strings.HasPrefix(k.branch, sip.MagicCookie) {
		return k, true
	}
	// §17.2.3: requests from RFC 2543 elements are matched on their
	// contents, not the branch.
	cseq, err := req.CSeq()
	if err != nil {
		return serverKey{}, false
	}
	b := make([]byte, 0, 128)
	b = append(b, req.CallID()...)
	b = append(b, 0)
	b = append(b, req.FromTag()...)
	b = append(b, 0)
	b = strconv.AppendUint(b, uint64(cseq.Seq), 10)
	b = append(b, 0)
	b = append(b, via.Transport...)
	b = append(b, 0)
	b = req.URI.AppendTo(b)
	k.legacy = string(b)
	return k, true
}

func (k serverKey) withMethod(m string) serverKey {
	k.method = m
	return k
}

// clientKey identifies a client transaction (§17.1.3): the branch of the
// top Via (which this layer generated) and the CSeq method, because a CANCEL
// shares the branch of the INVITE it cancels.
type clientKey struct {
	branch string
	method string
}

func (k clientKey) hash(seed maphash.Seed) uint64 { return maphash.String(seed, k.branch) }

func clientKeyOf(h *sip.Headers) (clientKey, bool) {
	via, err := h.TopVia()
	if err != nil {
		return clientKey{}, false
	}
	cseq, err := h.CSeq()
	if err != nil {
		return clientKey{}, false
	}
	return clientKey{branch: via.Branch(), method: cseq.Method}, true
}
