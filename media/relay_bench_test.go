package media

import (
	"net"
	"net/netip"
	"runtime"
	"testing"
)

// BenchmarkRelayForward relays one 172-byte G.711 packet per op through a
// stream on loopback (phone A → relay → phone B, B reading it): the whole
// fast path, system calls included. allocs/op counts the whole process;
// the test's own sockets use the allocation-free AddrPort calls, so any
// allocation is the relay's.
func BenchmarkRelayForward(b *testing.B) {
	benchRelayForward(b, false)
}

// BenchmarkRelayForwardTranscode is the same with µ-law → A-law rewriting.
func BenchmarkRelayForwardTranscode(b *testing.B) {
	benchRelayForward(b, true)
}

func benchRelayForward(b *testing.B, transcode bool) {
	r := newTestRelay(b, 4, RelayConfig{Workers: 1})
	st, err := r.NewStream()
	if err != nil {
		b.Fatal(err)
	}
	pa, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer pa.Close()
	pb, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer pb.Close()
	st.SetRemote(SideB, pb.LocalAddr().(*net.UDPAddr).AddrPort(), netip.AddrPort{})
	if transcode {
		st.SetTranscode(SideA, 0, 8)
	}
	aRTP, _ := st.LocalAddr(SideA)
	pkt := rtpPacket(0, 1, 1, make([]byte, 160))
	buf := make([]byte, 2048)
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := pa.WriteToUDPAddrPort(pkt, aRTP); err != nil {
			b.Fatal(err)
		}
		if _, _, err := pb.ReadFromUDPAddrPort(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRelayAccept is the per-packet decision alone: latching check,
// counters, and the transcoding rewrite of a 160-byte payload.
func BenchmarkRelayAccept(b *testing.B) {
	r := newTestRelay(b, 4, RelayConfig{Workers: 1})
	st, err := r.NewStream()
	if err != nil {
		b.Fatal(err)
	}
	st.SetRemote(SideB, netip.MustParseAddrPort("127.0.0.1:4000"), netip.AddrPort{})
	st.SetTranscode(SideA, 0, 8)
	st.SetTranscode(SideA, 8, 0)
	src, _ := makePeerAddr(netip.MustParseAddrPort("127.0.0.1:5000"), false)
	pkt := rtpPacket(0, 1, 1, make([]byte, 160))
	sk := st.socks[SideA][0]
	b.ReportAllocs()
	for range b.N {
		if sk.accept(pkt, &src, 1, 1e9) == nil {
			b.Fatal("dropped")
		}
	}
}

// BenchmarkRelayStreamMemory reports the heap held per open relayed stream
// (Go state only: kernel socket buffers are not counted).
func BenchmarkRelayStreamMemory(b *testing.B) {
	const n = 200
	r := newTestRelay(b, 2*n, RelayConfig{Workers: 1})
	streams := make([]*RelayStream, n)
	var before, after runtime.MemStats
	b.ReportAllocs()
	for range b.N {
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range streams {
			st, err := r.NewStream()
			if err != nil {
				b.Fatal(err)
			}
			streams[i] = st
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		for _, st := range streams {
			st.Close()
		}
		clear(streams)
	}
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/n, "B/stream")
}
