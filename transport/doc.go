// Package transport moves SIP messages over the network: UDP, TCP, TLS,
// WebSocket and secure WebSocket (RFC 7118) listeners and connections,
// stream framing, connection reuse and idle timeouts, CRLF keep-alives
// (RFC 5626 §3.5.1), and the routing rules of RFC 3261 §18: Via received and
// rport on the way in (§18.2.1, RFC 3581), responses sent where §18.2.2 says,
// requests larger than the path MTU sent over TCP (§18.1.1). A request that
// fails to parse is answered statelessly with the status its error names
// (§8.2), back to its source when its Via cannot be used; responses and ACKs
// that fail are dropped. Subpackage locate finds the addresses a SIP URI
// names (RFC 3263 §4: NAPTR, SRV, A/AAAA) in failover order.
package transport
