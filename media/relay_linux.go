//go:build linux && (amd64 || arm64) && !relay_goroutines

package media

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// The Linux fast path.
//
// Why not a goroutine per socket on net.UDPConn: a call has four sockets
// and each RTP socket sees a packet every 20 ms, so at 2,000 calls the
// runtime would wake 8,000 goroutines 100,000 times a second, each wake-up
// a netpoll event, a scheduler switch and two system calls (the read, then
// the read that says EAGAIN) besides the write, all through
// syscall.Syscall, whose entersyscall hook keeps waking sysmon (see
// transport/udpsock_linux.go). Instead each worker owns an epoll set of
// sockets made with raw socket(2) — they are not in the runtime's poller
// at all — and the epoll descriptor itself is what the worker's goroutine
// waits on through the runtime poller (an epoll fd is readable when its
// set has ready sockets). Once woken, the worker asks its epoll set for
// ready sockets with a zero timeout, reads each with one recvmmsg (every
// queued datagram, up to relayBatch), and sends them on with one sendmmsg
// from the opposite socket, all raw system calls that never block. It
// parks again only when epoll_pwait reports nothing, so a burst is served
// without a single scheduler round trip.
//
// The sockets of one stream all belong to one worker, and the worker holds
// its mutex while it handles a batch: a stream closed from another
// goroutine is removed from the epoll set under that mutex, so once remove
// returns no packet of it is in flight and its descriptors can be closed.
// Epoll data carries a slot and a generation, so an event already fetched
// for a removed socket whose slot was reused is recognised and skipped.

const (
	relayBatch   = 32   // datagrams per recvmmsg/sendmmsg
	relayBufSize = 2048 // bytes per datagram buffer; larger datagrams are dropped
	relayEvents  = 128  // ready sockets per epoll_pwait
	relayDrain   = 4    // recvmmsg calls per socket per event before moving on
)

type sockFD = int

// mmsghdr is struct mmsghdr of recvmmsg(2)/sendmmsg(2).
type mmsghdr struct {
	hdr syscall.Msghdr
	n   uint32
	_   [4]byte
}

// peerAddr is a raw socket address (sockaddr_in or sockaddr_in6), kept in
// the form sendmmsg takes and recvmmsg fills in, and comparable with ==.
type peerAddr struct {
	sa [syscall.SizeofSockaddrInet6]byte
	n  uint32
}

func makePeerAddr(ap netip.AddrPort, is6 bool) (peerAddr, bool) {
	var p peerAddr
	if !ap.IsValid() || ap.Addr().IsUnspecified() || ap.Port() == 0 {
		return p, false
	}
	a := ap.Addr().Unmap()
	switch {
	case !is6 && a.Is4():
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&p.sa))
		sa.Family = syscall.AF_INET
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], ap.Port())
		sa.Addr = a.As4()
		p.n = syscall.SizeofSockaddrInet4
	case is6:
		sa := (*syscall.RawSockaddrInet6)(unsafe.Pointer(&p.sa))
		sa.Family = syscall.AF_INET6
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], ap.Port())
		sa.Addr = ap.Addr().As16()
		p.n = syscall.SizeofSockaddrInet6
	default:
		return p, false
	}
	return p, true
}

func (p *peerAddr) addrPort() netip.AddrPort {
	port := binary.BigEndian.Uint16(p.sa[2:4])
	switch p.n {
	case syscall.SizeofSockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(p.sa[4:8])), port)
	case syscall.SizeofSockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(p.sa[8:24])).Unmap(), port)
	}
	return netip.AddrPort{}
}

// setFrom copies the source address recvmmsg wrote.
func (p *peerAddr) setFrom(raw *syscall.RawSockaddrAny, n uint32) {
	n = min(n, uint32(len(p.sa)))
	src := (*[unsafe.Sizeof(syscall.RawSockaddrAny{})]byte)(unsafe.Pointer(raw))
	copy(p.sa[:n], src[:n])
	clear(p.sa[n:])
	p.n = n
}

// openSockPair binds the RTP socket on port and the RTCP one on port+1.
func openSockPair(ip netip.Addr, port int) ([2]sockFD, error) {
	var fds [2]sockFD
	for i := range 2 {
		fd, err := openSock(ip, port+i)
		if err != nil {
			if i == 1 {
				syscall.Close(fds[0])
			}
			return fds, err
		}
		fds[i] = fd
	}
	return fds, nil
}

func openSock(ip netip.Addr, port int) (int, error) {
	family := syscall.AF_INET
	if ip.Is6() {
		family = syscall.AF_INET6
	}
	fd, err := syscall.Socket(family, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	var sa syscall.Sockaddr
	if family == syscall.AF_INET {
		sa = &syscall.SockaddrInet4{Port: port, Addr: ip.As4()}
	} else {
		sa = &syscall.SockaddrInet6{Port: port, Addr: ip.As16()}
		syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 1)
	}
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		return -1, os.NewSyscallError("bind", err)
	}
	return fd, nil
}

func closeSock(fd sockFD) {
	if fd > 0 {
		syscall.Close(fd)
	}
}

// relayWorker serves the sockets of its streams from one goroutine.
type relayWorker struct {
	r    *Relay
	epfd int
	file *os.File // epfd, registered with the runtime poller
	rc   syscall.RawConn

	mu    sync.Mutex // held while a batch is handled and while streams are added or removed
	slots []*relaySock
	gens  []uint32
	free  []uint32
	tot   relaySideCounts // since the last flush
	io    *relayIO
	dirty int // rx headers used by the last recvmmsg, to reset

	pollFn   func(fd uintptr) bool
	stopping atomic.Bool
	done     chan struct{}
}

// relayIO holds a worker's batch buffers; its headers point into itself.
type relayIO struct {
	events [relayEvents]syscall.EpollEvent
	rx     [relayBatch]mmsghdr
	rxIov  [relayBatch]syscall.Iovec
	rxName [relayBatch]syscall.RawSockaddrAny
	tx     [relayBatch]mmsghdr
	txIov  [relayBatch]syscall.Iovec
	buf    [relayBatch][relayBufSize]byte
}

func newRelayWorker(r *Relay) (*relayWorker, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	f := os.NewFile(uintptr(epfd), "relay-epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	w := &relayWorker{r: r, epfd: epfd, file: f, rc: rc, io: new(relayIO), done: make(chan struct{})}
	io := w.io
	for i := range relayBatch {
		io.rxIov[i].Base = &io.buf[i][0]
		io.rxIov[i].SetLen(relayBufSize)
		io.rx[i].hdr.Iov = &io.rxIov[i]
		io.rx[i].hdr.Iovlen = 1
		io.rx[i].hdr.Name = (*byte)(unsafe.Pointer(&io.rxName[i]))
		io.rx[i].hdr.Namelen = syscall.SizeofSockaddrAny
		io.tx[i].hdr.Iov = &io.txIov[i]
		io.tx[i].hdr.Iovlen = 1
	}
	w.pollFn = w.poll
	go w.run()
	return w, nil
}

func (w *relayWorker) run() {
	defer close(w.done)
	for !w.stopping.Load() {
		// Read returns only when poll says stop or the file is closed.
		if err := w.rc.Read(w.pollFn); err != nil {
			return
		}
	}
}

func (w *relayWorker) close() {
	w.stopping.Store(true)
	w.file.Close() // wakes a parked Read with an error; the fd closes after it returns
	<-w.done
}

// poll is the RawConn.Read callback: it handles ready sockets until epoll
// reports none, then returns false to park in the runtime poller.
func (w *relayWorker) poll(uintptr) bool {
	io := w.io
	for {
		if w.stopping.Load() {
			return true
		}
		n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(w.epfd),
			uintptr(unsafe.Pointer(&io.events[0])), relayEvents, 0, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 || n == 0 {
			return false
		}
		now := w.r.now()
		relatch := int64(w.r.cfg.RelatchAfter)
		w.mu.Lock()
		for i := range int(n) {
			w.serve(&io.events[i], now, relatch)
		}
		w.flush()
		w.mu.Unlock()
	}
}

// serve reads what one ready socket holds and forwards it.
func (w *relayWorker) serve(ev *syscall.EpollEvent, now, relatch int64) {
	slot := uint32(ev.Fd)
	if int(slot) >= len(w.slots) {
		return
	}
	sk := w.slots[slot]
	if sk == nil || w.gens[slot] != uint32(ev.Pad) {
		return // removed since epoll reported it
	}
	io := w.io
	var src peerAddr
	for range relayDrain {
		for i := range w.dirty {
			io.rx[i].hdr.Namelen = syscall.SizeofSockaddrAny
		}
		r, _, e := syscall.RawSyscall6(sysRECVMMSG, uintptr(sk.fd),
			uintptr(unsafe.Pointer(&io.rx[0])), relayBatch, syscall.MSG_DONTWAIT, 0, 0)
		if e != 0 || r == 0 {
			w.dirty = 0
			return // EAGAIN: drained (or an ICMP error surfacing; the next read goes on)
		}
		n := int(r)
		w.dirty = n
		var out *relaySock
		m := 0
		for i := range n {
			h := &io.rx[i]
			if h.hdr.Flags&syscall.MSG_TRUNC != 0 {
				sk.stream.stats[sk.side].dropped++
				w.tot.dropped++ // larger than relayBufSize
				continue
			}
			src.setFrom(&io.rxName[i], h.hdr.Namelen)
			pkt := io.buf[i][:h.n]
			o := sk.accept(pkt, &src, now, relatch)
			if o == nil {
				continue
			}
			out = o
			io.txIov[m].Base = &io.buf[i][0]
			io.txIov[m].SetLen(int(h.n))
			io.tx[m].hdr.Name = (*byte)(unsafe.Pointer(&o.peer.sa[0]))
			io.tx[m].hdr.Namelen = o.peer.n
			m++
		}
		if m > 0 {
			w.send(out.fd, sk, m)
		}
		if n < relayBatch {
			return
		}
	}
}

// send sends the m datagrams set up in io.tx from fd; what the kernel
// refuses is dropped (a relay never waits for a socket buffer).
func (w *relayWorker) send(fd int, from *relaySock, m int) {
	io := w.io
	sent, failed := 0, 0
	for sent+failed < m {
		r, _, e := syscall.RawSyscall6(sysSENDMMSG, uintptr(fd),
			uintptr(unsafe.Pointer(&io.tx[sent+failed])), uintptr(m-sent-failed), syscall.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			sent += int(r)
			continue
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			failed = m - sent
			continue
		}
		failed++ // e.g. ECONNREFUSED left by an earlier ICMP error: skip this one, send the rest
	}
	if failed > 0 {
		c := &from.stream.stats[from.side]
		c.packets -= uint64(failed)
		c.dropped += uint64(failed)
		w.tot.packets -= uint64(failed)
		w.tot.dropped += uint64(failed)
	}
}

// flush publishes the batch's counters; called with w.mu held.
func (w *relayWorker) flush() {
	c := &w.r.counters
	t := &w.tot
	if t.packets != 0 {
		c.packets.Add(t.packets)
		c.bytes.Add(t.bytes)
	}
	if t.dropped != 0 {
		c.dropped.Add(t.dropped)
	}
	if t.rejected != 0 {
		c.rejected.Add(t.rejected)
	}
	if t.relatched != 0 {
		c.relatched.Add(t.relatched)
	}
	*t = relaySideCounts{}
}

// add registers the stream's four sockets with the worker's epoll set.
func (w *relayWorker) add(st *RelayStream) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var added []*relaySock
	for side := range 2 {
		for kind := range 2 {
			sk := st.socks[side][kind]
			var slot uint32
			if n := len(w.free); n > 0 {
				slot, w.free = w.free[n-1], w.free[:n-1]
			} else {
				slot = uint32(len(w.slots))
				w.slots = append(w.slots, nil)
				w.gens = append(w.gens, 0)
			}
			w.gens[slot]++
			ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(slot), Pad: int32(w.gens[slot])}
			if err := syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_ADD, sk.fd, &ev); err != nil {
				w.free = append(w.free, slot)
				for _, a := range added {
					w.unregister(a)
				}
				return errors.Join(errors.New("media: relay cannot poll its socket"), os.NewSyscallError("epoll_ctl", err))
			}
			sk.slot = slot
			w.slots[slot] = sk
			added = append(added, sk)
		}
	}
	return nil
}

// remove takes the stream's sockets out of the epoll set; when it returns
// the worker no longer touches them.
func (w *relayWorker) remove(st *RelayStream) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for side := range 2 {
		for kind := range 2 {
			if sk := st.socks[side][kind]; sk != nil && w.slots[sk.slot] == sk {
				w.unregister(sk)
			}
		}
	}
	// The counters of the last batch are published before the stream goes.
	w.flush()
}

func (w *relayWorker) unregister(sk *relaySock) {
	syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_DEL, sk.fd, nil)
	w.slots[sk.slot] = nil
	w.gens[sk.slot]++
	w.free = append(w.free, sk.slot)
}
