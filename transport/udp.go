package transport

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"

	"github.com/parley-sip/parley/sip"
)

// udpListener is one UDP address served by one or more sockets bound with
// SO_REUSEPORT, each read by its own goroutine.
type udpListener struct {
	local netip.AddrPort
	socks []*udpSock
}

func reusePort(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, 0xf /* SO_REUSEPORT */, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

func (l *Layer) listenUDP(addr string) error {
	lc := net.ListenConfig{}
	if l.cfg.UDPReaders > 1 {
		lc.Control = reusePort
	}
	first, err := lc.ListenPacket(context.Background(), "udp", addr)
	if err != nil {
		return err
	}
	u := &udpListener{local: first.LocalAddr().(*net.UDPAddr).AddrPort()}
	closeAll := func() {
		for _, s := range u.socks {
			s.Close()
		}
	}
	// Further sockets bind to the port the first one got.
	for i := 0; i < max(l.cfg.UDPReaders, 1); i++ {
		pc := first
		if i > 0 {
			if pc, err = lc.ListenPacket(context.Background(), "udp", u.local.String()); err != nil {
				closeAll()
				return err
			}
		}
		s, err := newUDPSock(pc.(*net.UDPConn))
		if err != nil {
			pc.Close()
			closeAll()
			return err
		}
		u.socks = append(u.socks, s)
	}
	for _, s := range u.socks {
		_ = s.SetReadBuffer(4 << 20)
		_ = s.SetWriteBuffer(4 << 20)
	}
	l.mu.Lock()
	l.udp = append(l.udp, u)
	l.mu.Unlock()
	for _, s := range u.socks {
		l.wg.Add(1)
		go l.readUDP(u, s)
	}
	l.log.Info("listening", "transport", UDP, "addr", u.local.String())
	return nil
}

func (l *Layer) readUDP(u *udpListener, sock *udpSock) {
	defer l.wg.Done()
	buf := make([]byte, 65536)
	local := u.local
	for {
		n, src, err := sock.readFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		data := buf[:n]
		if isKeepAlive(data) {
			// RFC 5626 §4.4.1 allows CRLF (and STUN) keep-alives on UDP;
			// RFC 3261 §7.5 says to ignore stray CRLFs.
			l.stats.keepalives.Add(1)
			continue
		}
		if !l.admit(src.Addr()) {
			continue
		}
		origin := sip.Origin{Source: src, Local: local, Transport: UDP}
		l.deliver(data, origin, func(b []byte) error {
			return sock.writeTo(b, src)
		})
	}
}

func isKeepAlive(b []byte) bool {
	for _, c := range b {
		if c != '\r' && c != '\n' {
			return len(b) >= 1 && b[0]&0xc0 == 0 && len(b) >= 20 && b[4] == 0x21 && b[5] == 0x12 // STUN
		}
	}
	return true
}

// udpSocket picks the socket to send from: the listener whose address the
// message came in on, else the first of the right address family.
func (l *Layer) udpSocket(local netip.AddrPort, dst netip.AddrPort) *udpSock {
	l.mu.Lock()
	defer l.mu.Unlock()
	var fallback *udpSock
	for _, u := range l.udp {
		if local.IsValid() && u.local == local {
			return u.socks[0]
		}
		if fallback == nil && u.local.Addr().Is4() == dst.Addr().Unmap().Is4() {
			if !u.local.Addr().IsUnspecified() && u.local.Addr().IsLoopback() != dst.Addr().IsLoopback() {
				continue
			}
			fallback = u.socks[0]
		}
	}
	if fallback == nil && len(l.udp) > 0 {
		fallback = l.udp[0].socks[0]
	}
	return fallback
}
