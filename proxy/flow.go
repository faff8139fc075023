package proxy

import (
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// Phones behind NAT put private addresses in their Contact, so the remote
// target of a dialog (§12) may be unreachable. Like the flow tokens of
// RFC 5626 §5.3, the proxy writes into the user part of its Record-Route
// the flows of both ends — the address and transport the INVITE came from
// when its Contact does not match it, and the registered flow of the
// target — and when an in-dialog request comes back through that route
// from one end, it is sent over the other end's flow instead of to the
// Request-URI.
//
// Token: "pf." caller "." callee, each flow "" or transport-hexaddr-port,
// e.g. "pf.udp-c0000201-40001." (caller only). Only letters, digits, '-'
// and '.': valid in a SIP user part without escaping.
const flowTokenPrefix = "pf."

// dialogFlows are the two ends' flows read back from a Route.
type dialogFlows struct {
	caller, callee transport.Addr
}

// flowToken builds the Record-Route user part for a request forwarded to
// t, or "" when neither end needs its flow remembered.
func flowToken(in *sip.Request, t *Target) string {
	var caller, callee transport.Addr
	if behindNAT(in) {
		caller = transport.Addr{Transport: strings.ToUpper(in.Origin.Transport), AddrPort: in.Origin.Source}
	}
	if t.Flow.AddrPort.IsValid() && len(t.Path) == 0 {
		callee = t.Flow
	}
	if !caller.AddrPort.IsValid() && !callee.AddrPort.IsValid() {
		return ""
	}
	b := make([]byte, 0, 64)
	b = append(b, flowTokenPrefix...)
	b = appendFlow(b, caller)
	b = append(b, '.')
	b = appendFlow(b, callee)
	return string(b)
}

// behindNAT reports whether the request's Contact differs from the address
// it came from, the way nathelper's tests do: then the Contact cannot be
// trusted to reach the caller.
func behindNAT(in *sip.Request) bool {
	if !in.Origin.Source.IsValid() || in.Origin.Transport == "" {
		return false
	}
	for c, err := range in.Contacts() {
		if err != nil || c.Wildcard {
			return false
		}
		a, ok := c.URI.Addr()
		port := c.URI.Port
		if port == 0 {
			port = defaultPort(uriTransport(&c.URI))
		}
		return !ok || a.Unmap() != in.Origin.Source.Addr().Unmap() || port != int(in.Origin.Source.Port())
	}
	return false
}

func appendFlow(b []byte, f transport.Addr) []byte {
	if !f.AddrPort.IsValid() {
		return b
	}
	b = append(b, strings.ToLower(f.Transport)...)
	b = append(b, '-')
	ip := f.AddrPort.Addr().Unmap().AsSlice()
	b = hex.AppendEncode(b, ip)
	b = append(b, '-')
	return strconv.AppendUint(b, uint64(f.AddrPort.Port()), 10)
}

// parseFlowToken reads a token back; ok is false when user is not one.
func parseFlowToken(user string) (dialogFlows, bool) {
	rest, ok := strings.CutPrefix(user, flowTokenPrefix)
	if !ok {
		return dialogFlows{}, false
	}
	c, e, ok := strings.Cut(rest, ".")
	if !ok {
		return dialogFlows{}, false
	}
	var f dialogFlows
	if f.caller, ok = parseFlow(c); !ok {
		return dialogFlows{}, false
	}
	if f.callee, ok = parseFlow(e); !ok {
		return dialogFlows{}, false
	}
	return f, true
}

func parseFlow(s string) (transport.Addr, bool) {
	if s == "" {
		return transport.Addr{}, true
	}
	parts := strings.Split(s, "-")
	if len(parts) != 3 {
		return transport.Addr{}, false
	}
	raw, err := hex.DecodeString(parts[1])
	if err != nil {
		return transport.Addr{}, false
	}
	ip, ok := netip.AddrFromSlice(raw)
	port, err := strconv.ParseUint(parts[2], 10, 16)
	if !ok || err != nil {
		return transport.Addr{}, false
	}
	t := strings.ToUpper(parts[0])
	switch t {
	case transport.UDP, transport.TCP, transport.TLS, transport.WS, transport.WSS:
	default:
		return transport.Addr{}, false
	}
	return transport.Addr{Transport: t, AddrPort: netip.AddrPortFrom(ip, uint16(port))}, true
}

// other returns the flow of the end that did not send a request from src
// (zero when src is neither end's flow, or the other end has none).
func (f dialogFlows) other(src netip.AddrPort) transport.Addr {
	switch {
	case f.caller.AddrPort.IsValid() && src == f.caller.AddrPort:
		return f.callee
	case f.callee.AddrPort.IsValid() && src == f.callee.AddrPort:
		return f.caller
	}
	return transport.Addr{}
}
