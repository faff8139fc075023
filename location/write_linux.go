package location

import (
	"fmt"
	"syscall"
	"unsafe"
)

// writeDirect appends rec to the journal file with raw write(2) calls. The
// caller holds j.mu.
//
// Why raw: a direct write happens on every registration, on the
// transport's reader goroutine, and the runtime's hook around an ordinary
// system call (entersyscall) wakes its sysmon thread whenever that sleeps,
// which then polls every 20 µs for a while. With the UDP socket's calls
// raw too (transport/udpsock_linux.go), this write was the last system
// call per REGISTER, and it alone kept sysmon busy: perf put sysmon at
// 10% of the server's CPU with it, 0.1% without. A raw call keeps its P
// for the duration, which for a small append to the page cache is a few
// microseconds; data_sync "always" (the writer goroutine, fsync per batch)
// uses ordinary calls.
func (j *journal) writeDirect(rec []byte) error {
	for len(rec) > 0 {
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, j.fd, uintptr(unsafe.Pointer(unsafe.SliceData(rec))), uintptr(len(rec)))
		switch {
		case e == syscall.EINTR:
			continue
		case e != 0:
			return fmt.Errorf("write %s: %w", j.f.Name(), e)
		case n == 0:
			return fmt.Errorf("write %s: %w", j.f.Name(), syscall.EIO)
		}
		rec = rec[n:]
	}
	return nil
}
