package main

import (
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"unsafe"
)

// The load generator's batched UDP I/O: sendmmsg to many destinations from
// one socket, recvmmsg of everything queued, raw system calls through the
// runtime poller (as media's relay does), so the generator costs little
// of the two cores it shares with the relays.

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

type mmsgSock struct {
	c  *net.UDPConn
	rc syscall.RawConn

	tx     [batch]mmsghdr
	txIov  [batch]syscall.Iovec
	txName [batch]syscall.RawSockaddrInet4
	txN    int
	txOff  int
	txBuf  [batch][]byte

	rx     [batch]mmsghdr
	rxIov  [batch]syscall.Iovec
	rxBuf  [batch][2048]byte
	rxN    int
	sendFn func(fd uintptr) bool
	recvFn func(fd uintptr) bool
}

func newMmsgSock(c *net.UDPConn) *mmsgSock {
	rc, _ := c.SyscallConn()
	s := &mmsgSock{c: c, rc: rc}
	for i := range batch {
		s.txBuf[i] = make([]byte, 172)
		s.tx[i].hdr.Iov = &s.txIov[i]
		s.tx[i].hdr.Iovlen = 1
		s.tx[i].hdr.Name = (*byte)(unsafe.Pointer(&s.txName[i]))
		s.tx[i].hdr.Namelen = syscall.SizeofSockaddrInet4
		s.rxIov[i].Base = &s.rxBuf[i][0]
		s.rxIov[i].SetLen(2048)
		s.rx[i].hdr.Iov = &s.rxIov[i]
		s.rx[i].hdr.Iovlen = 1
	}
	s.sendFn = s.sendmmsg
	s.recvFn = s.recvmmsg
	return s
}

// queue adds one packet for dst; flush sends the queue.
func (s *mmsgSock) queue(dst netip.AddrPort) []byte {
	i := s.txN
	s.txName[i] = syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: dst.Addr().As4()}
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&s.txName[i].Port))[:], dst.Port())
	s.txN++
	return s.txBuf[i]
}

func (s *mmsgSock) full() bool { return s.txN == batch }

func (s *mmsgSock) flush() {
	if s.txN == 0 {
		return
	}
	for i := range s.txN {
		s.txIov[i].Base = &s.txBuf[i][0]
		s.txIov[i].SetLen(len(s.txBuf[i]))
	}
	s.txOff = 0
	s.rc.Write(s.sendFn)
	s.txN = 0
}

func (s *mmsgSock) sendmmsg(fd uintptr) bool {
	for s.txOff < s.txN {
		r, _, e := syscall.RawSyscall6(sysSENDMMSG, fd, uintptr(unsafe.Pointer(&s.tx[s.txOff])), uintptr(s.txN-s.txOff), syscall.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			s.txOff += int(r)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false // the poller calls again when there is buffer space
		default:
			s.txOff++ // skip a destination with a pending ICMP error
		}
	}
	return true
}

// recv waits for and reads a batch; it returns the packets.
func (s *mmsgSock) recv() (int, error) {
	err := s.rc.Read(s.recvFn)
	return s.rxN, err
}

func (s *mmsgSock) recvmmsg(fd uintptr) bool {
	for {
		r, _, e := syscall.RawSyscall6(sysRECVMMSG, fd, uintptr(unsafe.Pointer(&s.rx[0])), batch, syscall.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			s.rxN = int(r)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		s.rxN = 0
		return true
	}
}

func (s *mmsgSock) packet(i int) []byte { return s.rxBuf[i][:s.rx[i].n] }
