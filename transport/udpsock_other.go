//go:build !linux

package transport

import (
	"net"
	"net/netip"
)

// udpSock is a UDP socket; on Linux it uses raw system calls (see
// udpsock_linux.go), elsewhere net.UDPConn's own.
type udpSock struct {
	*net.UDPConn
}

func newUDPSock(c *net.UDPConn) (*udpSock, error) { return &udpSock{UDPConn: c}, nil }

func (s *udpSock) readFrom(b []byte) (int, netip.AddrPort, error) {
	return s.ReadFromUDPAddrPort(b)
}

func (s *udpSock) writeTo(b []byte, dst netip.AddrPort) error {
	_, err := s.WriteToUDPAddrPort(b, dst)
	return err
}
