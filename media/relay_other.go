//go:build !(linux && (amd64 || arm64)) || relay_goroutines

package media

import (
	"errors"
	"net"
	"net/netip"
	"sync"
)

// The portable path: a reader goroutine per socket on net.UDPConn. The
// latching and rewriting rules are the same code as on Linux (accept).

type sockFD = *net.UDPConn

type peerAddr struct{ ap netip.AddrPort }

func makePeerAddr(ap netip.AddrPort, is6 bool) (peerAddr, bool) {
	if !ap.IsValid() || ap.Addr().IsUnspecified() || ap.Port() == 0 || (!is6 && !ap.Addr().Unmap().Is4()) {
		return peerAddr{}, false
	}
	return peerAddr{netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}, true
}

func (p *peerAddr) addrPort() netip.AddrPort { return p.ap }

func openSockPair(ip netip.Addr, port int) ([2]sockFD, error) {
	var c [2]sockFD
	for i := range 2 {
		u, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port+i))))
		if err != nil {
			if i == 1 {
				c[0].Close()
			}
			return c, err
		}
		c[i] = u
	}
	return c, nil
}

func closeSock(c sockFD) {
	if c != nil {
		c.Close()
	}
}

type relayWorker struct {
	r       *Relay
	mu      sync.Mutex
	tot     relaySideCounts
	readers map[*RelayStream]*sync.WaitGroup
}

func newRelayWorker(r *Relay) (*relayWorker, error) {
	return &relayWorker{r: r, readers: make(map[*RelayStream]*sync.WaitGroup)}, nil
}

func (w *relayWorker) close() {}

func (w *relayWorker) add(st *RelayStream) error {
	wg := new(sync.WaitGroup)
	w.mu.Lock()
	w.readers[st] = wg
	w.mu.Unlock()
	for side := range 2 {
		for kind := range 2 {
			sk := st.socks[side][kind]
			wg.Add(1)
			go w.read(sk, wg)
		}
	}
	return nil
}

func (w *relayWorker) read(sk *relaySock, wg *sync.WaitGroup) {
	defer wg.Done()
	buf := make([]byte, 2048)
	for {
		n, from, err := sk.fd.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. ICMP port unreachable surfacing on a read
		}
		src := peerAddr{netip.AddrPortFrom(from.Addr().Unmap(), from.Port())}
		w.mu.Lock()
		out := sk.accept(buf[:n], &src, w.r.now(), int64(w.r.cfg.RelatchAfter))
		var dst netip.AddrPort
		var fd sockFD
		if out != nil {
			dst, fd = out.peer.ap, out.fd
		}
		w.flush()
		w.mu.Unlock()
		if fd != nil {
			fd.WriteToUDPAddrPort(buf[:n], dst)
		}
	}
}

func (w *relayWorker) flush() {
	c := &w.r.counters
	c.packets.Add(w.tot.packets)
	c.bytes.Add(w.tot.bytes)
	c.dropped.Add(w.tot.dropped)
	c.rejected.Add(w.tot.rejected)
	c.relatched.Add(w.tot.relatched)
	w.tot = relaySideCounts{}
}

func (w *relayWorker) remove(st *RelayStream) {
	w.mu.Lock()
	wg := w.readers[st]
	delete(w.readers, st)
	w.mu.Unlock()
	if wg == nil {
		return
	}
	for side := range 2 {
		for kind := range 2 {
			st.socks[side][kind].fd.Close()
		}
	}
	wg.Wait()
}
