package media

import (
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var loopback = netip.MustParseAddr("127.0.0.1")

func newTestSession(t *testing.T, cfg Config) *Session {
	t.Helper()
	if !cfg.LocalAddr.IsValid() {
		cfg.LocalAddr = loopback
	}
	s, err := NewSession(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// waitFor polls cond until it holds or the bounded wait expires.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// writeToneWAV writes a WAV file holding a tone, the way a user would
// prepare the softphone's microphone file.
func writeToneWAV(t *testing.T, path string, freq float64, rate int, d time.Duration) {
	t.Helper()
	w, err := CreateWAV(path, rate)
	if err != nil {
		t.Fatal(err)
	}
	tone := NewTone(freq, 8000, rate, d)
	frame := make([]int16, rate/50)
	for tone.ReadFrame(frame) == nil {
		if err := w.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func readWAVSamples(t *testing.T, path string) []int16 {
	t.Helper()
	r, err := OpenWAV(path, 8000)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []int16
	buf := make([]int16, 1000)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			break
		}
	}
	return out
}

// playWAVThrough sends in.wav from a to b (whose RTP goes to dst) and
// records b's received audio into out.wav; it returns b's stats.
func playWAVThrough(t *testing.T, a, b *Session, dst netip.AddrPort) Stats {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.wav"), filepath.Join(dir, "out.wav")
	writeToneWAV(t, in, 1000, 8000, time.Second)
	src, err := OpenWAV(in, 8000)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	rec, err := CreateWAV(out, 8000)
	if err != nil {
		t.Fatal(err)
	}
	b.Record(rec)
	a.SetRemote(dst, netip.AddrPort{})
	select {
	case err := <-a.Play(src):
		if err != nil {
			t.Fatalf("play: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("play did not finish")
	}
	// Let the jitter buffer drain (max delay 200 ms) before closing.
	time.Sleep(400 * time.Millisecond)
	b.Record(nil)
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	samples := readWAVSamples(t, out)
	f, level := DominantFrequency(samples, 8000)
	if f < 990 || f > 1010 {
		t.Errorf("recording's dominant frequency = %v Hz (level %.0f), want 1000 Hz", f, level)
	}
	return b.Stats()
}

func TestSessionToneLoopback(t *testing.T) {
	a := newTestSession(t, Config{})
	b := newTestSession(t, Config{})
	st := playWAVThrough(t, a, b, b.LocalAddr())
	sa := a.Stats()
	t.Logf("sender %+v", sa)
	t.Logf("receiver %+v", st)
	// 50 packets unless the machine stalled the sender for >200 ms, in
	// which case it skips ahead rather than bursting.
	if sa.PacketsSent < 25 || sa.PacketsSent > 51 {
		t.Errorf("sent %d packets for 1 s at 20 ms, want 50", sa.PacketsSent)
	}
	if st.PacketsReceived != sa.PacketsSent || st.BytesReceived != sa.BytesSent {
		t.Errorf("received %d packets/%d bytes, sent %d/%d", st.PacketsReceived, st.BytesReceived, sa.PacketsSent, sa.BytesSent)
	}
	if st.Lost != 0 || st.Late != 0 || st.Duplicates != 0 {
		t.Errorf("loss on loopback: %+v", st)
	}
}

// relay is a one-way UDP relay for tests: packets sent to its address are
// forwarded to dst after passing through mangle, which sees each RTP
// packet (RTCP passes untouched) with its RTP index and returns the packets
// to send now.
type relay struct {
	conn *net.UDPConn
	wg   sync.WaitGroup
}

func newRelay(t *testing.T, dst netip.AddrPort, mangle func(i int, pkt []byte) [][]byte) *relay {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{conn: c}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		buf := make([]byte, 1500)
		i := 0
		for {
			n, _, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			pkt := append([]byte(nil), buf[:n]...)
			if n >= 2 && pkt[1] >= 192 && pkt[1] <= 223 {
				c.WriteToUDPAddrPort(pkt, dst)
				continue
			}
			for _, p := range mangle(i, pkt) {
				c.WriteToUDPAddrPort(p, dst)
			}
			i++
		}
	}()
	t.Cleanup(func() { c.Close(); r.wg.Wait() })
	return r
}

func (r *relay) addr() netip.AddrPort { return r.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func TestSessionLossThroughRelay(t *testing.T) {
	a := newTestSession(t, Config{RTCPMux: true})
	// A generous fixed delay: on a loaded test machine the relay may be
	// scheduled late, and this test is about loss, not lateness.
	b := newTestSession(t, Config{RTCPMux: true, JitterMin: 200 * time.Millisecond, JitterMax: 200 * time.Millisecond})
	r := newRelay(t, b.LocalAddr(), func(i int, pkt []byte) [][]byte {
		if i%10 == 9 {
			return nil // drop every 10th packet
		}
		return [][]byte{pkt}
	})
	st := playWAVThrough(t, a, b, r.addr())
	t.Logf("receiver %+v", st)
	// Normally 50 packets, 5 dropped; a drop of the final packet is not
	// revealed as lost by anything after it.
	sent := int64(a.Stats().PacketsSent)
	if st.Lost < sent/10-1 || st.Lost > sent/10 {
		t.Errorf("lost = %d, want every 10th of %d", st.Lost, sent)
	}
	if st.FractionLost < 0.07 || st.FractionLost > 0.12 {
		t.Errorf("fraction lost = %.3f, want about 0.10", st.FractionLost)
	}
	if st.Concealed < uint64(st.Lost) {
		t.Errorf("concealed %d frames, want at least the %d lost ones", st.Concealed, st.Lost)
	}
}

func TestSessionReorderThroughRelay(t *testing.T) {
	a := newTestSession(t, Config{})
	b := newTestSession(t, Config{JitterMin: 200 * time.Millisecond, JitterMax: 200 * time.Millisecond})
	var held []byte
	r := newRelay(t, b.LocalAddr(), func(i int, pkt []byte) [][]byte {
		// Swap every pair: packet 2k is held and sent after 2k+1.
		if i%2 == 0 {
			held = pkt
			return nil
		}
		out := [][]byte{pkt, held}
		held = nil
		return out
	})
	st := playWAVThrough(t, a, b, r.addr())
	t.Logf("receiver %+v", st)
	if st.Lost != 0 || st.Late != 0 {
		t.Errorf("reordering by one packet lost %d / late %d packets; the jitter buffer should absorb it", st.Lost, st.Late)
	}
	if sent := a.Stats().PacketsSent; st.PacketsReceived != sent {
		t.Errorf("received %d packets of %d", st.PacketsReceived, sent)
	}
}

func TestSessionDTMF(t *testing.T) {
	var mu sync.Mutex
	var got []DTMFEvent
	a := newTestSession(t, Config{DTMFPayloadType: 96})
	b := newTestSession(t, Config{DTMFPayloadType: 96, OnDTMF: func(e DTMFEvent) {
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
	}})
	a.SetRemote(b.LocalAddr(), netip.AddrPort{})
	a.Play(NewTone(440, 4000, 8000, 0)) // audio around the events
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.SendDTMF(ctx, "123#", 80*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "four digits", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 4
	})
	time.Sleep(200 * time.Millisecond) // room for a wrong duplicate report
	mu.Lock()
	defer mu.Unlock()
	var digits string
	for _, e := range got {
		digits += string(e.Digit)
		if !e.Ended || e.Duration != 80*time.Millisecond {
			t.Errorf("event %+v: want ended, 80ms", e)
		}
	}
	if digits != "123#" {
		t.Errorf("received digits %q, want %q", digits, "123#")
	}
	if err := a.SendDTMF(ctx, "12x", 0); err == nil {
		t.Error("SendDTMF accepted an invalid digit")
	}
}

func TestSessionSymmetricLatching(t *testing.T) {
	// b does not know a's address (as behind a NAT, where the SDP address
	// is useless): it learns it from a's first packet and answers there.
	a := newTestSession(t, Config{})
	b := newTestSession(t, Config{Symmetric: true})
	b.SetRemote(netip.MustParseAddrPort("127.0.0.1:9"), netip.AddrPort{}) // wrong SDP address
	a.SetRemote(b.LocalAddr(), netip.AddrPort{})
	a.Play(NewTone(1000, 8000, 8000, 0))
	b.Play(NewTone(1000, 8000, 8000, 0))
	waitFor(t, 5*time.Second, "latching", func() bool { return b.RemoteAddr() == a.LocalAddr() })
	waitFor(t, 5*time.Second, "media back to a", func() bool { return a.Stats().PacketsReceived > 10 })

	// A third party sending from another address with another SSRC is
	// ignored: it does not take over the latched stream in a few packets.
	c := newTestSession(t, Config{})
	c.SetRemote(b.LocalAddr(), netip.AddrPort{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.SendDTMF(ctx, "1", 40*time.Millisecond); err != nil { // 5 packets
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if got := b.RemoteAddr(); got != a.LocalAddr() {
		t.Errorf("remote moved to %v after a few stray packets", got)
	}
	if b.Stats().Discarded == 0 {
		t.Error("stray packets were not counted as discarded")
	}
}

func TestSessionRTCPReportsAndBye(t *testing.T) {
	a := newTestSession(t, Config{RTCPInterval: 100 * time.Millisecond})
	b := newTestSession(t, Config{RTCPInterval: 100 * time.Millisecond})
	a.SetRemote(b.LocalAddr(), b.LocalRTCPAddr())
	b.SetRemote(a.LocalAddr(), netip.AddrPort{})
	if b.LocalRTCPAddr().Port() != b.LocalAddr().Port()+1 || b.LocalAddr().Port()%2 != 0 {
		t.Errorf("ports %v / %v: want even RTP, RTCP on the next port", b.LocalAddr(), b.LocalRTCPAddr())
	}
	a.Play(NewTone(1000, 8000, 8000, 0))
	b.Play(NewTone(1000, 8000, 8000, 0))
	waitFor(t, 5*time.Second, "RTT from reports", func() bool {
		sa := a.Stats()
		return sa.RTCPReceived > 2 && sa.RTT > 0
	})
	sa := a.Stats()
	if sa.RemoteLost != 0 || sa.RTT > time.Second {
		t.Errorf("a's view of its stream from b's reports: %+v", sa)
	}
	a.Close()
	waitFor(t, 5*time.Second, "BYE", func() bool { return b.Stats().ByeReceived })
}

func TestSessionPortRange(t *testing.T) {
	// Find a free pair of ports, then ask for exactly that range.
	probe := newTestSession(t, Config{})
	lo := int(probe.LocalAddr().Port())
	probe.Close()
	s := newTestSession(t, Config{PortMin: lo, PortMax: lo + 1})
	if got := int(s.LocalAddr().Port()); got != lo {
		t.Errorf("RTP port %d, want %d", got, lo)
	}
	if _, err := NewSession(Config{LocalAddr: loopback, PortMin: lo, PortMax: lo + 1}); err == nil {
		t.Error("second session got the only port pair in range")
	}
	m := newTestSession(t, Config{RTCPMux: true, PortMin: 20000, PortMax: 60000})
	if p := m.LocalAddr().Port(); p%2 != 0 || p < 20000 || p > 60000 || m.LocalRTCPAddr() != m.LocalAddr() {
		t.Errorf("mux session on %v / %v", m.LocalAddr(), m.LocalRTCPAddr())
	}
}
