package guard_test

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/guard"
	"github.com/parley-sip/parley/internal/peertest"
	"github.com/parley-sip/parley/sip"
)

// uaRecorder reads SIP datagrams on a loopback socket, passes each through
// Admit, and records the User-Agent of each request and IsScanner's verdict.
type uaRecorder struct {
	conn *net.UDPConn
	g    *guard.Guard
	mu   sync.Mutex
	seen map[string]bool // User-Agent -> IsScanner
	n    int
}

func newUARecorder(t *testing.T, g *guard.Guard) *uaRecorder {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r := &uaRecorder{conn: conn, g: g, seen: map[string]bool{}}
	done := make(chan struct{})
	t.Cleanup(func() { conn.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, src, err := conn.ReadFromUDPAddrPort(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil || !g.Admit(src.Addr()) {
				continue
			}
			msg, err := sip.Parse(buf[:n])
			req, ok := msg.(*sip.Request)
			if err != nil || !ok {
				continue
			}
			ua, _ := req.Hdr().Get("User-Agent")
			scanner := g.IsScanner(ua)
			r.mu.Lock()
			r.seen[ua] = scanner
			r.n++
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *uaRecorder) take() (map[string]bool, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen, n := r.seen, r.n
	r.seen, r.n = map[string]bool{}, 0
	return seen, n
}

func (r *uaRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// TestRealScanners points SIPVicious (svmap, svwar) and sipsak at a socket
// guarded by the default Config: every request of the scanners is
// recognised, sipsak's is not.
func TestRealScanners(t *testing.T) {
	t.Setenv("HOME", t.TempDir()) // SIPVicious keeps its sessions in ~/.sipvicious
	g, err := guard.New(guard.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rec := newUARecorder(t, g)
	port := strconv.Itoa(rec.conn.LocalAddr().(*net.UDPAddr).Port)
	tools := []struct {
		program, deb string
		args         []string
		scanner      bool
	}{
		{"svmap", "sipvicious", []string{"-p", port, "127.0.0.1"}, true},
		{"svwar", "sipvicious", []string{"-p", port, "-e", "100-104", "127.0.0.1"}, true},
		{"sipsak", "sipsak", []string{"-s", "sip:bob@127.0.0.1:" + port}, false},
	}
	for _, tool := range tools {
		t.Run(tool.program, func(t *testing.T) {
			path := peertest.Need(t, tool.program, tool.deb)
			p := peertest.Start(t, "", path, tool.args...)
			if !peertest.WaitFor(15*time.Second, func() bool { return rec.count() > 0 }) {
				t.Fatalf("%s sent no request within 15 s; output:\n%s", tool.program, peertest.Tail(p.Output(), 20))
			}
			time.Sleep(300 * time.Millisecond) // let a few more arrive
			p.Stop(time.Second)
			seen, n := rec.take()
			for ua, scanner := range seen {
				if scanner != tool.scanner {
					t.Errorf("%s: User-Agent %q: IsScanner = %v, want %v", tool.program, ua, scanner, tool.scanner)
				}
			}
			t.Logf("%s: %d requests, User-Agents %v", tool.program, n, seen)
		})
	}
}

// TestSIPpFlood floods a guarded socket with SIPp's INVITEs from
// 127.0.0.2 while another source sends at a phone's pace: the flooder is
// banned and never gets more through than its budget allows over the time
// it flooded (burst + rate × duration, whatever speed SIPp reaches on a
// loaded machine); the other source loses nothing.
func TestSIPpFlood(t *testing.T) {
	sipp := peertest.Need(t, "sipp", "sip-tester")
	const burst, window = 200, time.Second // small, so even a slowed SIPp exceeds it
	g, err := guard.New(guard.Config{Window: window, MaxRequests: burst})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	flooder := netip.MustParseAddr("127.0.0.2")
	type tally struct {
		seen, admitted int
		first, last    time.Time
	}
	var mu sync.Mutex
	tallies := map[netip.Addr]*tally{}
	done := make(chan struct{})
	t.Cleanup(func() { conn.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			_, src, err := conn.ReadFromUDPAddrPort(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				continue
			}
			now := time.Now()
			ok := g.Admit(src.Addr())
			mu.Lock()
			tl := tallies[src.Addr()]
			if tl == nil {
				tl = &tally{first: now}
				tallies[src.Addr()] = tl
			}
			tl.seen++
			tl.last = now
			if ok {
				tl.admitted++
			}
			mu.Unlock()
		}
	}()
	target := conn.LocalAddr().String()

	p := peertest.Start(t, "", sipp, "-sn", "uac", "-i", flooder.String(), "-p", strconv.Itoa(peertest.FreePort(t)),
		"-t", "u1", "-nostdin", "-r", "5000", "-m", "10000", "-timeout", "20s", target)

	// A phone-paced source (50 packets/s) beside the flood.
	phone, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 3)}, conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	options := []byte("OPTIONS sip:127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n")
	for range 50 {
		if _, err := phone.Write(options); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !peertest.WaitFor(20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return tallies[flooder] != nil && tallies[flooder].seen >= 10000
	}) {
		t.Logf("SIPp sent fewer than 10000 packets in 20 s; judging what arrived")
	}
	p.Stop(time.Second)

	mu.Lock()
	fl, ph := tallies[flooder], tallies[netip.MustParseAddr("127.0.0.3")]
	mu.Unlock()
	if fl == nil || ph == nil {
		t.Fatalf("flooder %+v, phone %+v: a source sent nothing; SIPp output:\n%s", fl, ph, peertest.Tail(p.Output(), 20))
	}
	dur := fl.last.Sub(fl.first)
	t.Logf("flood: %d packets over %v (%.0f/s), %d admitted; phone: %d of %d admitted; stats %+v",
		fl.seen, dur.Round(time.Millisecond), float64(fl.seen)/dur.Seconds(), fl.admitted, ph.admitted, ph.seen, g.Stats())
	if limit := burst + int(float64(burst)*dur.Seconds()/window.Seconds()) + 1; fl.admitted > limit {
		t.Errorf("flooder got %d packets through in %v, the budget allows %d", fl.admitted, dur, limit)
	}
	bans := g.Bans()
	if len(bans) != 1 || bans[0].Source.Addr() != flooder || bans[0].Reason != guard.ReasonDensity {
		t.Errorf("Bans() = %+v, want the flooder's density ban", bans)
	}
	if ph.admitted != ph.seen {
		t.Errorf("the phone-paced source lost %d of %d packets", ph.seen-ph.admitted, ph.seen)
	}
}
