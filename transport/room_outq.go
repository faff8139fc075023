//go:build linux && (amd64 || arm64 || 386 || arm || riscv64 || s390x || loong64)

package transport

import (
	"crypto/tls"
	"net"
	"syscall"
	"unsafe"
)

// socketRoom reports whether the TCP socket under nc takes n more bytes at
// once: what is queued in it (SIOCOUTQ) plus n, with room for TLS and
// WebSocket framing, stays within half its send buffer (the kernel counts
// its own overhead in the other half). Raw calls: see udpsock_linux.go.
func socketRoom(nc net.Conn, n int) bool {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	room := true
	rc.Control(func(fd uintptr) {
		var queued, sndbuf int32
		size := uint32(unsafe.Sizeof(sndbuf))
		if _, _, e := syscall.RawSyscall(syscall.SYS_IOCTL, fd, siocoutq, uintptr(unsafe.Pointer(&queued))); e != 0 {
			return
		}
		if _, _, e := syscall.RawSyscall6(syscall.SYS_GETSOCKOPT, fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF,
			uintptr(unsafe.Pointer(&sndbuf)), uintptr(unsafe.Pointer(&size)), 0); e != 0 {
			return
		}
		room = int(queued)+n+4096 <= int(sndbuf)/2
	})
	return room
}

// siocoutq is SIOCOUTQ (= TIOCOUTQ) of linux/sockios.h on the
// architectures this file builds for.
const siocoutq = 0x5411
