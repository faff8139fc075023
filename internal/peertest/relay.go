package peertest

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
)

// LossyRelay is a UDP relay between one client and a server that drops
// packets, standing in for netem, which these kernels lack. It forwards
// whatever the client sends to the server and the server's answers back to
// the last client address it saw.
type LossyRelay struct {
	conn      *net.UDPConn
	server    netip.AddrPort
	dropEvery int
	mu        sync.Mutex
	client    netip.AddrPort
	toServer  *net.UDPConn
	seen      atomic.Uint64
	dropped   atomic.Uint64
}

// StartLossyRelay listens on a free loopback port and relays to server,
// dropping every dropEvery-th packet in each direction (0: none).
func StartLossyRelay(t testing.TB, server netip.AddrPort, dropEvery int) *LossyRelay {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	// A second socket faces the server, so the server sees one peer.
	s, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r := &LossyRelay{conn: c, server: server, dropEvery: dropEvery, toServer: s}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.pump(c, true) }()
	go func() { defer wg.Done(); r.pump(s, false) }()
	t.Cleanup(func() { c.Close(); s.Close(); wg.Wait() })
	return r
}

// Addr is where clients send.
func (r *LossyRelay) Addr() netip.AddrPort { return r.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Dropped returns how many packets were dropped.
func (r *LossyRelay) Dropped() uint64 { return r.dropped.Load() }

func (r *LossyRelay) pump(in *net.UDPConn, fromClient bool) {
	buf := make([]byte, 65536)
	var n uint64
	for {
		size, src, err := in.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		r.seen.Add(1)
		n++
		if r.dropEvery > 0 && n%uint64(r.dropEvery) == 0 {
			r.dropped.Add(1)
			continue
		}
		if fromClient {
			r.mu.Lock()
			r.client = src
			r.mu.Unlock()
			r.toServer.WriteToUDPAddrPort(buf[:size], r.server)
		} else {
			r.mu.Lock()
			cl := r.client
			r.mu.Unlock()
			if cl.IsValid() {
				r.conn.WriteToUDPAddrPort(buf[:size], cl)
			}
		}
	}
}
