package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/parley-sip/parley/sip"
)

// ErrNoRoute means a message could not be given a destination: no listener
// for the transport, an unresolvable host, or a closed connection that
// cannot be reopened.
var ErrNoRoute = errors.New("transport: no route to destination")

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// SendRequest sends a request to dst. Over UDP a request larger than the
// path MTU allows goes over TCP instead when there is a TCP listener, with
// its top Via changed to say so (§18.1.1). Over a stream an existing
// connection to dst is reused, else one is opened.
func (l *Layer) SendRequest(req *sip.Request, dst Addr) error {
	return l.send(req, l.PrepareRequest(req, dst), netip.AddrPort{})
}

// PrepareRequest returns the destination a request will really use: over
// UDP, a request larger than the path MTU allows goes over TCP when there is
// a TCP listener, and its top Via is changed to say so (§18.1.1). The
// transaction layer calls it once per client transaction, so that its
// timers follow the transport used; SendRequest applies it to every send.
func (l *Layer) PrepareRequest(req *sip.Request, dst Addr) Addr {
	if dst.Transport == "" {
		dst.Transport = UDP
	}
	if dst.Transport == UDP && req.MarshalSize() > l.cfg.PathMTU-200 {
		if tcp, ok := l.LocalAddr(TCP); ok {
			l.switchViaTransport(req, TCP, tcp.AddrPort)
			dst.Transport = TCP
		}
	}
	return dst
}

// Ready reports whether SendRequest(req, dst) would send at once, without a
// connection to open first: over UDP unless the request is too large for
// it (see PrepareRequest), over TCP, TLS, WS and WSS when a connection to
// dst is open. Callers on a transport reader use it to keep dials (which
// may take seconds) off that goroutine.
func (l *Layer) Ready(req *sip.Request, dst Addr) bool {
	if dst.Transport == "" || dst.Transport == UDP {
		return req.MarshalSize() <= l.cfg.PathMTU-200
	}
	return l.conn(connKey{dst.Transport, dst.AddrPort}) != nil
}

// switchViaTransport rewrites the transport of the top Via (§18.1.1).
func (l *Layer) switchViaTransport(req *sip.Request, transport string, local netip.AddrPort) {
	v, err := req.TopVia()
	if err != nil {
		return
	}
	v.Transport = transport
	if local.Port() != 0 && v.Port != 0 {
		v.Port = int(local.Port())
	}
	replaceTopVia(&req.Headers, v.String())
}

// SendResponse sends a response where §18.2.2 and RFC 3581 say: over the
// connection the request arrived on for reliable transports (resp.Origin,
// copied from the request, names it), else to the received address and the
// rport or sent-by port of the top Via, from the socket the request came in
// on.
func (l *Layer) SendResponse(resp *sip.Response) error {
	v, err := resp.TopVia()
	if err != nil {
		return fmt.Errorf("%w: response has no Via", ErrNoRoute)
	}
	transport := strings.ToUpper(v.Transport)
	if resp.Origin.Transport != "" && Reliable(resp.Origin.Transport) {
		c := l.conn(connKey{resp.Origin.Transport, resp.Origin.Source})
		if c != nil {
			return l.write(c, resp)
		}
		if resp.Origin.Transport == WS || resp.Origin.Transport == WSS {
			return fmt.Errorf("%w: websocket connection closed", ErrNoRoute)
		}
		transport = resp.Origin.Transport
	} else if resp.Origin.Transport == UDP && transport != UDP && resp.Origin.Source.IsValid() {
		return l.sendUDPResponseViaOther(resp, &v, transport)
	}
	dst, err := l.viaDestination(&v, transport)
	if err != nil {
		return err
	}
	return l.send(resp, dst, resp.Origin.Local)
}

// sendUDPResponseViaOther answers a request that came over UDP although
// its top Via names another transport (TCP, TLS, ...: a misconfigured
// client, or one behind a middlebox that rewrote nothing). §18.2.2 would
// have us connect to the sent-by, but the client has shown it is reachable
// the way the request came: so unless a connection to that destination is
// already open, the response goes back over UDP to the source address,
// from the socket the request arrived on.
func (l *Layer) sendUDPResponseViaOther(resp *sip.Response, v *sip.Via, transport string) error {
	if Reliable(transport) {
		if dst, err := l.viaDestination(v, transport); err == nil {
			if c := l.conn(connKey{dst.Transport, dst.AddrPort}); c != nil {
				return l.write(c, resp)
			}
		}
	}
	return l.send(resp, Addr{Transport: UDP, AddrPort: resp.Origin.Source}, resp.Origin.Local)
}

// viaDestination computes the response address from a Via (§18.2.2).
func (l *Layer) viaDestination(v *sip.Via, transport string) (Addr, error) {
	host := v.Host
	if r := v.Received(); r != "" {
		host = r
	} else if m, ok := v.Params.Get("maddr"); ok {
		host = m
	}
	port := v.Port
	if rp, ok := v.RPort(); ok && rp != 0 && !Reliable(transport) {
		port = rp
	}
	if port == 0 {
		port = defaultPort(transport)
	}
	ap, err := resolve(host, port)
	if err != nil {
		return Addr{}, err
	}
	return Addr{Transport: transport, AddrPort: ap}, nil
}

func defaultPort(transport string) int {
	switch strings.ToUpper(transport) {
	case TLS, WSS:
		return 5061
	}
	return 5060
}

// resolve turns a host (IP literal or name) and port into an address. Names
// are looked up with the system resolver; the NAPTR/SRV selection of RFC
// 3263 is package transport/locate, for the layers that choose next hops.
func resolve(host string, port int) (netip.AddrPort, error) {
	if a, ok := sip.HostAddr(host); ok {
		return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
	}
	h := strings.Trim(host, "[]")
	addrs, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", h)
	if err != nil || len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("%w: cannot resolve %q", ErrNoRoute, host)
	}
	return netip.AddrPortFrom(addrs[0].Unmap(), uint16(port)), nil
}

// Resolve is resolve for the layers above: host and port of a URI or Via to
// an address (port 0 means the transport's default).
func Resolve(host string, port int, transport string) (netip.AddrPort, error) {
	if port == 0 {
		port = defaultPort(transport)
	}
	return resolve(host, port)
}

func (l *Layer) conn(k connKey) *streamConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conns[k]
}

func (l *Layer) send(msg sip.Message, dst Addr, local netip.AddrPort) error {
	switch dst.Transport {
	case UDP:
		sock := l.udpSocket(local, dst.AddrPort)
		if sock == nil {
			return fmt.Errorf("%w: no UDP listener", ErrNoRoute)
		}
		bp := bufPool.Get().(*[]byte)
		b := msg.AppendTo((*bp)[:0])
		err := sock.writeTo(b, dst.AddrPort)
		l.trace("send", dst, b)
		if err == nil && l.tapping() {
			l.tap(Sent, UDP, sockLocal(sock.UDPConn), dst.AddrPort, b)
		}
		*bp = b
		bufPool.Put(bp)
		if err != nil {
			l.stats.sendErrors.Add(1)
			return fmt.Errorf("transport: send to %s: %w", dst, err)
		}
		l.stats.sent.Add(1)
		return nil
	case TCP, TLS, WS, WSS:
		c := l.conn(connKey{dst.Transport, dst.AddrPort})
		if c == nil {
			if dst.Transport == WS || dst.Transport == WSS {
				return fmt.Errorf("%w: no websocket connection to %s", ErrNoRoute, dst.AddrPort)
			}
			var err error
			if c, err = l.dialStream(dst); err != nil {
				l.stats.sendErrors.Add(1)
				return fmt.Errorf("transport: connect to %s: %w", dst, err)
			}
		}
		return l.write(c, msg)
	}
	return fmt.Errorf("%w: unsupported transport %q", ErrNoRoute, dst.Transport)
}

func (l *Layer) write(c *streamConn, msg sip.Message) error {
	bp := bufPool.Get().(*[]byte)
	b := msg.AppendTo((*bp)[:0])
	err := c.send(b)
	l.trace("send", Addr{Transport: c.key.transport, AddrPort: c.key.remote}, b)
	if err == nil {
		l.tap(Sent, c.key.transport, c.local, c.key.remote, b)
	}
	*bp = b
	bufPool.Put(bp)
	if err != nil {
		l.stats.sendErrors.Add(1)
		return fmt.Errorf("transport: send to %s:%s: %w", c.key.transport, c.key.remote, err)
	}
	l.stats.sent.Add(1)
	return nil
}

func (l *Layer) trace(dir string, a Addr, b []byte) {
	if l.cfg.Trace {
		l.log.Debug(dir, "transport", a.Transport, "to", a.AddrPort.String(), "msg", string(b))
	}
}

// ViaHost returns the sent-by host and port to put in a Via for requests
// sent over the transport: the first listener's address.
func (l *Layer) ViaHost(transport string) (string, int, bool) {
	a, ok := l.LocalAddr(transport)
	if !ok {
		return "", 0, false
	}
	host := a.AddrPort.Addr().String()
	if a.AddrPort.Addr().Is6() && !a.AddrPort.Addr().Is4In6() {
		host = "[" + host + "]"
	}
	return host, int(a.AddrPort.Port()), true
}
