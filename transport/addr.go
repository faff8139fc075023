package transport

import (
	"net/netip"
	"strings"
)

// Transport protocol names as they appear in Via (§20.42, RFC 7118).
const (
	UDP  = "UDP"
	TCP  = "TCP"
	TLS  = "TLS"
	SCTP = "SCTP"
	WS   = "WS"
	WSS  = "WSS"
)

// Addr names a peer the way the transaction layer needs it: the transport
// protocol and the address. For a connection-oriented transport an existing
// connection to Addr is reused when there is one (§18.1.1, §18.2.2).
type Addr struct {
	Transport string // UDP, TCP, TLS, WS, WSS, SCTP (upper case)
	AddrPort  netip.AddrPort
	// Host is the name the peer is known by (TLS server name); optional.
	Host string
}

func (a Addr) String() string { return strings.ToLower(a.Transport) + ":" + a.AddrPort.String() }

// Reliable reports whether the transport is reliable, which turns off the
// retransmission timers of the transaction layer (§17.1.1.2, §17.1.2.2).
func Reliable(transport string) bool {
	switch strings.ToUpper(transport) {
	case UDP, "":
		return false
	}
	return true
}
