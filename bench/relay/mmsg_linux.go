package main

import (
	"encoding/binary"
	"net/netip"
	"os"
	"syscall"
	"unsafe"
)

// The load generator's UDP I/O: raw non-blocking sockets that are not in
// the Go runtime's poller, written with sendmmsg (many destinations per
// call) and drained with recvmmsg on the generator's 1 ms tick. Nobody
// waits on these sockets, so a relay's send to them wakes no thread: on
// loopback that wake-up would be charged to the relay's CPU, which a relay
// sending to phones on other machines never pays.

const (
	sysRECVMMSG = 299 // linux/amd64
	sysSENDMMSG = 307
	batch       = 64
)

type mmsghdr struct {
	hdr syscall.Msghdr
	n   uint32
	_   [4]byte
}

type rawSock struct {
	fd   int
	addr netip.AddrPort

	tx      [batch]mmsghdr
	txIov   [batch]syscall.Iovec
	txName  [batch]syscall.RawSockaddrInet4
	txBuf   [batch][172]byte
	txN     int
	dropped uint64 // packets the kernel refused (send buffer full)

	rx    [batch]mmsghdr
	rxIov [batch]syscall.Iovec
	rxBuf [batch][2048]byte
}

func newRawSock() (*rawSock, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		return nil, os.NewSyscallError("bind", err)
	}
	// Root may exceed rmem_max/wmem_max; otherwise the kernel caps it.
	if syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 32<<20) != nil {
		syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, 32<<20)
	}
	if syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUFFORCE, 16<<20) != nil {
		syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, 16<<20)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		syscall.Close(fd)
		return nil, err
	}
	s := &rawSock{fd: fd, addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(sa.(*syscall.SockaddrInet4).Port))}
	for i := range batch {
		s.txIov[i].Base = &s.txBuf[i][0]
		s.txIov[i].SetLen(172)
		s.tx[i].hdr.Iov = &s.txIov[i]
		s.tx[i].hdr.Iovlen = 1
		s.tx[i].hdr.Name = (*byte)(unsafe.Pointer(&s.txName[i]))
		s.tx[i].hdr.Namelen = syscall.SizeofSockaddrInet4
		s.rxIov[i].Base = &s.rxBuf[i][0]
		s.rxIov[i].SetLen(2048)
		s.rx[i].hdr.Iov = &s.rxIov[i]
		s.rx[i].hdr.Iovlen = 1
	}
	return s, nil
}

// queue adds a packet for dst and returns its buffer; it flushes a full
// batch first.
func (s *rawSock) queue(dst netip.AddrPort) []byte {
	if s.txN == batch {
		s.flush()
	}
	i := s.txN
	s.txName[i] = syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: dst.Addr().As4()}
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&s.txName[i].Port))[:], dst.Port())
	s.txN++
	return s.txBuf[i][:]
}

// flush sends the queued packets.
func (s *rawSock) flush() {
	off := 0
	for off < s.txN {
		r, _, e := syscall.RawSyscall6(sysSENDMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&s.tx[off])), uintptr(s.txN-off), syscall.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			off += int(r)
		case syscall.EINTR:
		case syscall.EAGAIN:
			s.dropped += uint64(s.txN - off)
			off = s.txN
		default:
			off++ // a destination with a pending ICMP error
		}
	}
	s.txN = 0
}

// drain reads everything queued, calling fn for each datagram.
func (s *rawSock) drain(fn func(p []byte)) {
	for {
		r, _, e := syscall.RawSyscall6(sysRECVMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&s.rx[0])), batch, syscall.MSG_DONTWAIT, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return
		}
		for i := range int(r) {
			fn(s.rxBuf[i][:s.rx[i].n])
		}
		if int(r) < batch {
			return
		}
	}
}
