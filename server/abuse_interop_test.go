package server

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/internal/peertest"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// syncLog is a log sink tests read while the server writes.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startGuarded runs a digest server with the default abuse protection and
// a log the test can read.
func startGuarded(t *testing.T) (*Server, *syncLog) {
	t.Helper()
	logs := &syncLog{}
	cfg := digestConfig(t, t.TempDir(), "udp:127.0.0.1:0")
	s, err := New(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(shutdownCtx()) })
	return s, logs
}

// registerFrom registers user with password from the loopback address ip
// and returns the final status (0: no answer within the bound).
func registerFrom(t *testing.T, server, ip, user, password string) int {
	t.Helper()
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)}, net.UDPAddrFromAddrPort(mustAddrPort(t, server)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	call := "reg-" + ip + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	read := func(req *sip.Request) *sip.Response {
		if _, err := c.Write([]byte(req.String())); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 65536)
		for {
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, err := c.Read(buf)
			if err != nil {
				return nil
			}
			if m, _ := sip.Parse(buf[:n]); m != nil {
				if r, ok := m.(*sip.Response); ok && r.StatusCode >= 200 {
					return r
				}
			}
		}
	}
	first := read(registerReq(c, user, 1, call))
	if first == nil {
		return 0
	}
	if first.StatusCode != 401 {
		return first.StatusCode
	}
	req := registerReq(c, user, 2, call)
	if err := auth.NewClient(user, password).Authorize(req, first); err != nil {
		t.Fatal(err)
	}
	if r := read(req); r != nil {
		return r.StatusCode
	}
	return 0
}

func mustAddrPort(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	a, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestSIPVicious runs the SIPVicious tools as they come against a server
// with its defaults: the scanner finds nothing, no extension and no
// password are found (even with the right one in the dictionary), and
// the server still serves our users afterwards.
func TestSIPVicious(t *testing.T) {
	svmap := peertest.Need(t, "svmap", "sipvicious")
	svwar := peertest.Need(t, "svwar", "sipvicious")
	svcrack := peertest.Need(t, "svcrack", "sipvicious")
	s, _ := startGuarded(t)
	server := addr(t, s, transport.UDP)
	host, port, _ := net.SplitHostPort(server)
	dir := t.TempDir()
	users := filepath.Join(dir, "users.txt")
	os.WriteFile(users, []byte("100\n101\nadmin\nalice\nbob\n"), 0o644)
	passwords := filepath.Join(dir, "passwords.txt")
	os.WriteFile(passwords, []byte("1234\npassword\nwonderland\n"), 0o644)

	for _, tc := range []struct {
		name string
		prog string
		args []string
	}{
		{"svmap", svmap, []string{"-p", port, host}},
		{"svwar", svwar, []string{"-d", users, "-p", port, "--maximumtime", "3", host}},
		{"svcrack", svcrack, []string{"-u", "alice", "-d", passwords, "-p", port, "--maximumtime", "3", host}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := peertest.Start(t, dir, tc.prog, tc.args...)
			if err := p.Wait(60 * time.Second); err != nil && p.Cmd.ProcessState == nil {
				t.Fatalf("%s did not finish: %v\n%s", tc.name, err, p.Output())
			}
			out := p.Output()
			if !strings.Contains(out, "found nothing") || strings.Contains(out, "wonderland") || strings.Contains(out, "alice") {
				t.Fatalf("%s found something:\n%s", tc.name, peertest.Tail(out, 30))
			}
		})
	}
	if st := s.guard.Stats(); st.DroppedScanner == 0 {
		t.Errorf("no request counted as a scanner's: %+v", st)
	}
	if code := registerFrom(t, server, "127.0.0.6", "alice", "wonderland"); code != 200 {
		t.Fatalf("alice registering after the scans: %d, want 200", code)
	}
}

// disguisedSVCrack copies SIPVicious' svcrack with a phone's User-Agent
// and its -b (bind address) option made to work (0.3.3 ignores it).
func disguisedSVCrack(t *testing.T) (python, dir string) {
	peertest.Need(t, "svcrack", "sipvicious")
	python = peertest.Need(t, "python3", "python3")
	src := "/usr/share/sipvicious/sipvicious"
	if _, err := os.Stat(src); err != nil {
		t.Skip("SIPVicious sources not where Debian installs them: " + src)
	}
	dir = t.TempDir()
	if out, err := exec.Command("cp", "-r", src, dir).CombinedOutput(); err != nil {
		t.Fatalf("copy SIPVicious: %v\n%s", err, out)
	}
	patch := func(file, from, to string) {
		path := filepath.Join(dir, "sipvicious", file)
		b, err := os.ReadFile(path)
		if err != nil || !bytes.Contains(b, []byte(from)) {
			t.Skipf("cannot disguise SIPVicious: %s lacks %q", file, from)
		}
		os.WriteFile(path, bytes.Replace(b, []byte(from), []byte(to), 1), 0o644)
	}
	patch("libs/svhelper.py", "useragent='friendly-scanner'", "useragent='Yealink SIP-T46S 66.85.0.5'")
	patch("svcrack.py", "        externalip=options.externalip,", "        externalip=options.externalip,\n        bindingip=options.bindingip,")
	return python, dir
}

// TestDisguisedGuesserLockedOut: svcrack passing as a phone is stopped by
// the failure count of its source, not by its name; the user it attacks
// still registers from elsewhere.
func TestDisguisedGuesserLockedOut(t *testing.T) {
	python, svdir := disguisedSVCrack(t)
	s, logs := startGuarded(t)
	server := addr(t, s, transport.UDP)
	host, port, _ := net.SplitHostPort(server)
	var dict strings.Builder
	for i := range 40 {
		fmt.Fprintf(&dict, "guess%d\n", i)
	}
	dict.WriteString("wonderland\n") // the right one, after the lock-out
	passwords := filepath.Join(svdir, "passwords.txt")
	os.WriteFile(passwords, []byte(dict.String()), 0o644)
	p := peertest.Start(t, svdir, python, "-c",
		"import sys; sys.path.insert(0, '.'); sys.argv[0] = 'svcrack'; from sipvicious.svcrack import main; sys.exit(main())",
		"-u", "alice", "-d", passwords, "-p", port, "-b", "127.0.0.5", "--maximumtime", "3", host)
	if err := p.Wait(90 * time.Second); err != nil && p.Cmd.ProcessState == nil {
		t.Fatalf("svcrack did not finish: %v\n%s", err, p.Output())
	}
	if out := p.Output(); !strings.Contains(out, "found nothing") || strings.Contains(out, "wonderland") {
		t.Fatalf("the disguised svcrack found the password:\n%s", peertest.Tail(out, 30))
	}
	if !strings.Contains(logs.String(), "msg=ban source=127.0.0.5 reason=auth") {
		t.Fatalf("no lock-out of 127.0.0.5 logged:\n%s", peertest.Tail(logs.String(), 20))
	}
	if st := s.guard.Stats(); st.DroppedAuth == 0 {
		t.Errorf("no request dropped for the lock-out: %+v", st)
	}
	// The guesser's source gets no more challenges, even for the right
	// password; alice's own phone elsewhere is not locked out.
	if code := registerFrom(t, server, "127.0.0.5", "alice", "wonderland"); code != 0 {
		t.Errorf("the locked-out source got %d, want no answer", code)
	}
	if code := registerFrom(t, server, "127.0.0.6", "alice", "wonderland"); code != 200 {
		t.Fatalf("alice from another source: %d, want 200", code)
	}
}

// TestFloodWhileRegistering: a SIPp INVITE flood at 10,000/s from one
// source while another registers with digest at 50/s: the flood is cut
// off, at least 99% of the registrations succeed, a third source is
// served afterwards, and the memory held stays bounded.
func TestFloodWhileRegistering(t *testing.T) {
	sipp := peertest.Need(t, "sipp", "sip-tester")
	s, logs := startGuarded(t)
	server := addr(t, s, transport.UDP)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	const regs = 200
	legit := peertest.SIPp{
		Scenario: "register_digest_uac", Transport: "u1", Target: server, LocalIP: "127.0.0.1",
		LocalPort: peertest.FreePort(t), Calls: regs, Rate: 50, Timeout: 60 * time.Second,
		Extra: []string{"-s", "alice", "-au", "alice", "-ap", "wonderland", "-auth_uri", "example.test",
			"-key", "domain", "example.test", "-key", "expires", "600", "-trace_msg", "-message_file", "messages.log"},
	}
	flood := peertest.SIPp{
		Scenario: "invite_flood_uac", Transport: "u1", Target: server, LocalIP: "127.0.0.3",
		LocalPort: peertest.FreePort(t), Calls: 30000, Rate: 10000, Timeout: 30 * time.Second,
		Extra: []string{"-s", "bob", "-key", "domain", "example.test"},
	}
	var legitRes peertest.Result
	done := make(chan struct{})
	go func() {
		defer close(done)
		legitRes = legit.Run(t, sipp)
	}()
	time.Sleep(500 * time.Millisecond) // the flood starts while registrations run
	floodRes := flood.Run(t, sipp)
	<-done
	if legitRes.Successful < regs*99/100 {
		failSIPp(t, fmt.Sprintf("registrations during the flood (%d of %d)", legitRes.Successful, regs), legitRes)
	}
	t.Logf("flood: %v; registrations: %v; guard %+v", floodRes, legitRes, s.guard.Stats())
	if !strings.Contains(logs.String(), "msg=ban source=127.0.0.3 reason=density") {
		t.Fatalf("the flooding source was not banned:\n%s", peertest.Tail(logs.String(), 20))
	}
	st := s.guard.Stats()
	if st.DroppedBanned < 10000 {
		t.Errorf("only %d flood packets dropped as banned", st.DroppedBanned)
	}
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 4)}, net.UDPAddrFromAddrPort(mustAddrPort(t, server)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if resp := exchange(t, c, msg("OPTIONS", "sip:"+server)); resp.StatusCode != 200 {
		t.Fatalf("OPTIONS from a third source after the flood: %d", resp.StatusCode)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapInuse) - int64(before.HeapInuse); grown > 64<<20 {
		t.Errorf("the heap grew by %d MB over the flood", grown>>20)
	}
}
