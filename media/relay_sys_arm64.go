//go:build linux

package media

import "syscall"

const (
	sysRECVMMSG = syscall.SYS_RECVMMSG
	sysSENDMMSG = syscall.SYS_SENDMMSG
)
