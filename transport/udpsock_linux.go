package transport

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"unsafe"
)

// udpSock is a UDP socket read and written with raw system calls on Linux.
//
// Why not net.UDPConn's own ReadFrom/WriteTo: they enter the kernel through
// syscall.Syscall, whose runtime hook (entersyscall) wakes the runtime's
// sysmon thread whenever it sleeps, and a woken sysmon polls every 20 µs
// for the next millisecond. At a few thousand packets a second that kept
// sysmon polling without pause: perf put 16% of the server's CPU in its
// nanosleeps (REGISTER with digest at 1000/s). The socket is non-blocking
// and recvfrom/sendto on it never block, so the raw calls — which skip the
// hook — are safe; waiting for readability or write space still goes
// through the runtime's poller (RawConn.Read/Write).
type udpSock struct {
	*net.UDPConn
	rc  syscall.RawConn
	is6 bool // AF_INET6 socket (possibly dual-stack): v4 peers are v4-mapped

	recv recvOp // used by the socket's one reader goroutine only
}

func newUDPSock(c *net.UDPConn) (*udpSock, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	s := &udpSock{UDPConn: c, rc: rc}
	var serr error
	err = rc.Control(func(fd uintptr) {
		var sa syscall.Sockaddr
		sa, serr = syscall.Getsockname(int(fd))
		_, s.is6 = sa.(*syscall.SockaddrInet6)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// readFrom reads one datagram into b. Only one goroutine reads a socket
// (its reader), so the state the poller callback fills in is kept in the
// socket and the callback is bound once: a closure made per call would
// escape, with what it captures, to the heap on every datagram.
func (s *udpSock) readFrom(b []byte) (int, netip.AddrPort, error) {
	op := &s.recv
	if op.fn == nil {
		op.fn = op.recvfrom
	}
	op.b = b
	err := s.rc.Read(op.fn)
	op.b = nil
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	if op.errno != 0 {
		return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Err: op.errno}
	}
	return op.n, addrPortOf(&op.sa), nil
}

// writeTo sends b as one datagram to dst. Writers are many and concurrent:
// each takes a sendOp from a pool (see readFrom for why not a closure).
func (s *udpSock) writeTo(b []byte, dst netip.AddrPort) error {
	op := sendOps.Get().(*sendOp)
	defer sendOps.Put(op)
	if !op.setAddr(dst, s.is6) {
		return &net.OpError{Op: "write", Net: "udp", Err: syscall.EAFNOSUPPORT}
	}
	op.b = b
	err := s.rc.Write(op.fn)
	op.b = nil
	if err != nil {
		return err
	}
	if op.errno != 0 {
		return &net.OpError{Op: "write", Net: "udp", Err: op.errno}
	}
	return nil
}

// recvOp is the state of one recvfrom through the poller.
type recvOp struct {
	fn    func(fd uintptr) bool // op.recvfrom, bound once
	b     []byte
	sa    syscall.RawSockaddrAny
	n     int
	errno syscall.Errno
}

// recvfrom is the RawConn.Read callback: false asks the poller to wait for
// readability.
func (op *recvOp) recvfrom(fd uintptr) bool {
	for {
		salen := uint32(syscall.SizeofSockaddrAny)
		r, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd,
			uintptr(unsafe.Pointer(unsafe.SliceData(op.b))), uintptr(len(op.b)), 0,
			uintptr(unsafe.Pointer(&op.sa)), uintptr(unsafe.Pointer(&salen)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		op.n, op.errno = int(r), e
		return true
	}
}

// sendOp is the state of one sendto through the poller.
type sendOp struct {
	fn    func(fd uintptr) bool // op.sendto, bound once
	b     []byte
	sa4   syscall.RawSockaddrInet4
	sa6   syscall.RawSockaddrInet6
	sa    unsafe.Pointer // &sa4 or &sa6
	salen uintptr
	errno syscall.Errno
}

var sendOps = sync.Pool{New: func() any {
	op := new(sendOp)
	op.fn = op.sendto
	return op
}}

// setAddr fills in the destination sockaddr for a socket of the given
// family; false when an IPv4 socket is asked to reach an IPv6 peer.
func (op *sendOp) setAddr(dst netip.AddrPort, is6 bool) bool {
	addr := dst.Addr().Unmap()
	switch {
	case !is6 && addr.Is4():
		op.sa4 = syscall.RawSockaddrInet4{Family: syscall.AF_INET, Port: htons(dst.Port()), Addr: addr.As4()}
		op.sa, op.salen = unsafe.Pointer(&op.sa4), syscall.SizeofSockaddrInet4
	case is6:
		// A v4 peer comes out v4-mapped, as a dual-stack socket needs.
		op.sa6 = syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Port: htons(dst.Port()), Addr: dst.Addr().As16()}
		if z := dst.Addr().Zone(); z != "" {
			op.sa6.Scope_id = zoneIndex(z)
		}
		op.sa, op.salen = unsafe.Pointer(&op.sa6), syscall.SizeofSockaddrInet6
	default:
		return false
	}
	return true
}

// sendto is the RawConn.Write callback: false asks the poller to wait for
// write space.
func (op *sendOp) sendto(fd uintptr) bool {
	for {
		_, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd,
			uintptr(unsafe.Pointer(unsafe.SliceData(op.b))), uintptr(len(op.b)), 0,
			uintptr(op.sa), op.salen)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		op.errno = e
		return true
	}
}

// htons and ntohs convert a port to and from the network byte order of a
// sockaddr's port field, whatever the host's byte order.
func htons(p uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], p)
	return *(*uint16)(unsafe.Pointer(&b))
}

func ntohs(p uint16) uint16 {
	return binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&p))[:])
}

// addrPortOf decodes the source address recvfrom filled in. A v4-mapped
// source on a dual-stack socket is returned as it is, like net does.
func addrPortOf(sa *syscall.RawSockaddrAny) netip.AddrPort {
	switch sa.Addr.Family {
	case syscall.AF_INET:
		p := (*syscall.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(p.Addr), ntohs(p.Port))
	case syscall.AF_INET6:
		p := (*syscall.RawSockaddrInet6)(unsafe.Pointer(sa))
		a := netip.AddrFrom16(p.Addr)
		if p.Scope_id != 0 {
			a = a.WithZone(zoneName(p.Scope_id))
		}
		return netip.AddrPortFrom(a, ntohs(p.Port))
	}
	return netip.AddrPort{}
}

// zoneName and zoneIndex convert an IPv6 scope between the interface index
// the kernel uses and the name netip carries (link-local peers only).
func zoneName(idx uint32) string {
	if ifi, err := net.InterfaceByIndex(int(idx)); err == nil {
		return ifi.Name
	}
	return strconv.FormatUint(uint64(idx), 10)
}

func zoneIndex(zone string) uint32 {
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(n)
	}
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return uint32(ifi.Index)
	}
	return 0
}
