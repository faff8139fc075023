//go:build linux

package media

// System call numbers the syscall package lacks on linux/amd64.
const (
	sysRECVMMSG = 299
	sysSENDMMSG = 307
)
