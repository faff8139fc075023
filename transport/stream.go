package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/parley-sip/parley/sip"
)

// streamListener is a TCP, TLS, WS or WSS listener.
type streamListener interface {
	transport() string
	local() netip.AddrPort
	close()
}

type tcpListener struct {
	proto string
	ln    net.Listener
	addr  netip.AddrPort
}

func (t *tcpListener) transport() string     { return t.proto }
func (t *tcpListener) local() netip.AddrPort { return t.addr }
func (t *tcpListener) close()                { t.ln.Close() }

// connKey identifies a stream connection by transport and remote address,
// which is how responses and new requests find it again (§18.2.2).
type connKey struct {
	transport string
	remote    netip.AddrPort
}

// msgConn is one message-oriented or stream connection: TCP/TLS (framed by
// Content-Length) or WebSocket (one SIP message per WebSocket message).
type msgConn interface {
	writeMessage(ctx context.Context, b []byte) error
	closeConn() error
}

// roomer is an optional msgConn method: whether the connection's socket
// takes n more bytes at once, without the write waiting for the peer.
type roomer interface {
	roomFor(n int) bool
}

// maxBacklog bounds what waits for a connection whose peer does not read:
// beyond it the connection is closed.
const maxBacklog = 1 << 20

// errCongested: the peer did not read what we sent (see maxBacklog).
var errCongested = errors.New("transport: peer not reading (send backlog full), connection closed")

type streamConn struct {
	layer  *Layer
	key    connKey
	local  netip.AddrPort
	conn   msgConn
	closed chan struct{}
	once   sync.Once

	// Sends normally write at once, on the sender's goroutine, so that
	// a failure is the sender's error. When the socket would make the
	// write wait (the peer reads slowly or not at all), the message
	// queues in backlog for a writer goroutine instead: a sender may be a
	// transport reader relaying between connections (the proxy does, on
	// the goroutine that received the message), and one stalled peer
	// must not stop it. Later sends queue behind, to keep the order.
	wmu      sync.Mutex
	backlog  [][]byte
	queued   int  // bytes in backlog
	draining bool // the writer goroutine runs
}

func (c *streamConn) close() {
	c.once.Do(func() {
		close(c.closed)
		// A TLS close_notify or a WebSocket close handshake may wait
		// for the peer (up to 5 s): not on the caller's goroutine,
		// which may be a sender giving up on a peer that does not read.
		go c.conn.closeConn()
		l := c.layer
		l.mu.Lock()
		if l.conns[c.key] == c {
			delete(l.conns, c.key)
		}
		src := c.key.remote.Addr()
		if l.perSource[src]--; l.perSource[src] <= 0 {
			delete(l.perSource, src)
		}
		l.mu.Unlock()
		l.stats.connsOpen.Add(-1)
	})
}

func (c *streamConn) send(b []byte) error {
	c.wmu.Lock()
	select {
	case <-c.closed:
		c.wmu.Unlock()
		return net.ErrClosed
	default:
	}
	if !c.draining {
		if r, ok := c.conn.(roomer); !ok || r.roomFor(len(b)) {
			err := c.write(b)
			c.wmu.Unlock()
			if err != nil {
				c.close()
			}
			return err
		}
	}
	if c.queued+len(b) > maxBacklog {
		c.wmu.Unlock()
		c.layer.log.Debug("closing connection: peer not reading", "remote", c.key.remote.String())
		c.close()
		return errCongested
	}
	c.backlog = append(c.backlog, append([]byte(nil), b...)) // b is the caller's buffer
	c.queued += len(b)
	if !c.draining {
		c.draining = true
		go c.drain()
	}
	c.wmu.Unlock()
	return nil
}

// backlogged reports whether messages wait for the writer goroutine.
func (c *streamConn) backlogged() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.draining
}

// write writes one message, bounded by WriteTimeout.
func (c *streamConn) write(b []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.layer.cfg.WriteTimeout)
	defer cancel()
	return c.conn.writeMessage(ctx, b)
}

// drain writes the backlog in order; a failure closes the connection.
func (c *streamConn) drain() {
	for {
		c.wmu.Lock()
		if len(c.backlog) == 0 {
			c.draining = false
			c.wmu.Unlock()
			return
		}
		b := c.backlog[0]
		c.backlog[0] = nil
		c.backlog = c.backlog[1:]
		c.queued -= len(b)
		c.wmu.Unlock()
		if err := c.write(b); err != nil {
			c.close()
			c.wmu.Lock()
			c.backlog, c.queued, c.draining = nil, 0, false
			c.wmu.Unlock()
			return
		}
	}
}

// tcpConn frames SIP over a byte stream.
type tcpConn struct {
	nc net.Conn
}

func (t *tcpConn) writeMessage(ctx context.Context, b []byte) error {
	if dl, ok := ctx.Deadline(); ok {
		t.nc.SetWriteDeadline(dl)
	}
	_, err := t.nc.Write(b)
	return err
}

func (t *tcpConn) closeConn() error { return t.nc.Close() }

func (t *tcpConn) roomFor(n int) bool { return socketRoom(t.nc, n) }

// register adds a connection to the table, enforcing the limits. It
// returns nil when the connection must be refused.
func (l *Layer) register(transport string, remote, local netip.AddrPort, mc msgConn) *streamConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	src := remote.Addr()
	if l.closed || len(l.conns) >= l.cfg.MaxConns || l.perSource[src] >= l.cfg.MaxConnsPerSource ||
		l.cfg.Filter != nil && !l.cfg.Filter.Admit(src) {
		l.stats.rejected.Add(1)
		return nil
	}
	c := &streamConn{layer: l, key: connKey{transport, remote}, local: local, conn: mc, closed: make(chan struct{})}
	l.conns[c.key] = c
	l.perSource[src]++
	l.stats.connsOpen.Add(1)
	return c
}

func (l *Layer) listenStream(proto, addr string) error {
	var ln net.Listener
	var err error
	if proto == TLS {
		if l.cfg.TLS == nil || len(l.cfg.TLS.Certificates) == 0 && l.cfg.TLS.GetCertificate == nil {
			return errors.New("transport: tls listener needs a certificate and key")
		}
		ln, err = tls.Listen("tcp", addr, l.cfg.TLS)
	} else {
		ln, err = net.Listen("tcp", addr)
	}
	if err != nil {
		return err
	}
	tl := &tcpListener{proto: proto, ln: ln, addr: ln.Addr().(*net.TCPAddr).AddrPort()}
	l.mu.Lock()
	l.streams = append(l.streams, tl)
	l.mu.Unlock()
	l.wg.Add(1)
	go l.acceptLoop(tl)
	l.log.Info("listening", "transport", proto, "addr", tl.addr.String())
	return nil
}

func (l *Layer) acceptLoop(tl *tcpListener) {
	defer l.wg.Done()
	var backoff time.Duration
	for {
		nc, err := tl.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary errors (EMFILE...): back off like net/http.
			if backoff == 0 {
				backoff = 5 * time.Millisecond
			} else if backoff *= 2; backoff > time.Second {
				backoff = time.Second
			}
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		remote := netAddrPort(nc.RemoteAddr())
		c := l.register(tl.proto, remote, tl.addr, &tcpConn{nc: nc})
		if c == nil {
			nc.Close()
			continue
		}
		l.wg.Add(1)
		go l.readStream(c, nc)
	}
}

func netAddrPort(a net.Addr) netip.AddrPort {
	switch t := a.(type) {
	case *net.TCPAddr:
		return t.AddrPort()
	case *net.UDPAddr:
		return t.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// readStream owns the reading side of a TCP or TLS connection.
func (l *Layer) readStream(c *streamConn, nc net.Conn) {
	defer l.wg.Done()
	defer c.close()
	if tc, ok := nc.(*tls.Conn); ok {
		tc.SetDeadline(time.Now().Add(l.cfg.DialTimeout))
		if err := tc.Handshake(); err != nil {
			l.log.Debug("tls handshake failed", "remote", c.key.remote.String(), "err", err)
			return
		}
		tc.SetDeadline(time.Time{})
	}
	framer := sip.Framer{Limits: l.cfg.Limits}
	buf := make([]byte, 32*1024)
	origin := sip.Origin{Source: c.key.remote, Local: c.local, Transport: c.key.transport}
	reply := func(b []byte) error { return c.send(b) }
	for {
		nc.SetReadDeadline(time.Now().Add(l.cfg.IdleTimeout))
		n, err := nc.Read(buf)
		if n > 0 {
			framer.Write(buf[:n])
			for {
				kind, frame, ferr := framer.Next()
				if ferr != nil {
					// Framing is lost: answer if we can, then close (§18.3).
					l.stats.malformed.Add(1)
					l.log.Debug("stream framing error", "remote", c.key.remote.String(), "err", ferr)
					return
				}
				if kind == sip.FrameNone {
					break
				}
				switch kind {
				case sip.FramePing:
					l.stats.keepalives.Add(1)
					c.send([]byte("\r\n")) // RFC 5626 §3.5.1 pong
				case sip.FramePong:
					l.stats.keepalives.Add(1)
				case sip.FrameMessage:
					if !l.admit(origin.Source.Addr()) {
						return // a banned or flooding source: close
					}
					l.deliver(frame, origin, reply)
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// dialStream opens a TCP or TLS connection to dst and starts reading it.
func (l *Layer) dialStream(dst Addr) (*streamConn, error) {
	d := net.Dialer{Timeout: l.cfg.DialTimeout}
	var nc net.Conn
	var err error
	switch dst.Transport {
	case TCP:
		nc, err = d.Dial("tcp", dst.AddrPort.String())
	case TLS:
		cfg := &tls.Config{}
		if l.cfg.TLS != nil {
			cfg = l.cfg.TLS.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = dst.Host
			if cfg.ServerName == "" {
				cfg.ServerName = dst.AddrPort.Addr().String()
			}
		}
		nc, err = tls.DialWithDialer(&d, "tcp", dst.AddrPort.String(), cfg)
	default:
		return nil, fmt.Errorf("transport: cannot open a %s connection", dst.Transport)
	}
	if err != nil {
		return nil, err
	}
	local := netAddrPort(nc.LocalAddr())
	c := l.register(dst.Transport, dst.AddrPort, local, &tcpConn{nc: nc})
	if c == nil {
		nc.Close()
		return nil, errors.New("transport: connection limit reached")
	}
	l.wg.Add(1)
	go l.readStream(c, nc)
	return c, nil
}
