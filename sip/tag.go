package sip

import "strconv"

// StatelessTagPrefix starts every tag made by [StatelessTag].
const StatelessTagPrefix = "sl"

// StatelessTag derives the To tag of a response sent statelessly
// (§8.2.7, §16.11) from the request's Call-ID and From tag, so that every
// retransmission of the request gets the same response (§8.2.6.2) and the
// ACK of a non-2xx answer to an INVITE can be recognised as such by
// [IsStatelessAck] with no state kept.
func StatelessTag(callID, fromTag string) string {
	h := uint32(2166136261)
	for _, s := range [2]string{callID, fromTag} {
		for i := 0; i < len(s); i++ {
			h ^= uint32(s[i])
			h *= 16777619
		}
		h ^= 0xff // separates ("ab","c") from ("a","bc")
		h *= 16777619
	}
	var b [2 + 7]byte
	return string(strconv.AppendUint(append(b[:0], StatelessTagPrefix...), uint64(h), 36))
}

// IsStatelessAck reports whether an ACK acknowledges a response whose To
// tag [StatelessTag] made: the ACK of a stateless non-2xx answer, which
// ends there (§17.1.1.3) and must not be forwarded.
func IsStatelessAck(ack *Request) bool {
	tag := ack.ToTag()
	return len(tag) > len(StatelessTagPrefix) && tag[:len(StatelessTagPrefix)] == StatelessTagPrefix &&
		tag == StatelessTag(ack.CallID(), ack.FromTag())
}
