package peertest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parley-sip/parley/media"
)

// BaresipConfig describes one baresip instance (Debian baresip-core 1.0.0)
// running headless: one account, G.711 only, a WAV file as the microphone,
// the decoded audio dumped to WAV files, controlled over ctrl_tcp.
type BaresipConfig struct {
	User     string // account user ("alice")
	Password string // digest password (auth_pass); empty for none
	Domain   string // domain of the address of record ("example.test")
	// Proxy is the outbound proxy and registrar, HOST:PORT (UDP unless
	// Transport says otherwise).
	Proxy     string
	Transport string // "udp" (default) or "tcp"
	// AnswerMode is "auto" (answer at once) or "manual" (default: ring
	// until the accept command or the caller gives up).
	AnswerMode string
	// Tone is the frequency of the sine tone sent as the microphone (Hz);
	// 0 sends silence. ToneFile, when set, is sent instead.
	Tone     float64
	ToneFile string
	// RegInt is the registration interval in seconds (default 600); a
	// negative value means do not register.
	RegInt int
	// Contacts are lines of the contacts file ("\"Bob\" <sip:bob@example.test>");
	// the message command sends to the current contact, the first one.
	Contacts []string
	// Stdio loads the stdio UI module (needed to see incoming MESSAGE text
	// in the log); its stdin is a FIFO the helper keeps open.
	Stdio bool
}

// BaresipEvent is an event baresip sent on the control connection.
type BaresipEvent struct {
	Type       string    `json:"type"`
	Class      string    `json:"class"`
	AccountAOR string    `json:"accountaor"`
	Direction  string    `json:"direction"`
	PeerURI    string    `json:"peeruri"`
	ID         string    `json:"id"`
	Param      string    `json:"param"`
	At         time.Time `json:"-"` // when it arrived
}

// Baresip is a running baresip with its control connection.
type Baresip struct {
	Dir      string // config directory (config, accounts, contacts)
	SndDir   string // where sndfile writes dump-*-dec.wav / -enc.wav
	SIPPort  int
	CtrlPort int
	RTPPorts [2]int
	Proc     *Process
	AOR      string

	tb     testing.TB
	conn   net.Conn
	fifo   *os.File
	wmu    sync.Mutex
	token  int
	mu     sync.Mutex
	events []BaresipEvent
	used   []bool
	resps  map[string]chan baresipResponse
	notify chan struct{}
	closed bool
}

type baresipResponse struct {
	OK   bool   `json:"ok"`
	Data string `json:"data"`
}

// baresipModuleDir finds the directory holding baresip's modules.
func baresipModuleDir() (string, error) {
	patterns := []string{
		"/usr/lib/baresip/modules/g711.so",
		"/usr/lib/*/baresip/modules/g711.so",
		"/usr/lib64/baresip/modules/g711.so",
		"/usr/local/lib/baresip/modules/g711.so",
		"/usr/local/lib/*/baresip/modules/g711.so",
	}
	for _, p := range patterns {
		m, _ := filepath.Glob(p)
		if len(m) > 0 {
			return filepath.Dir(m[0]), nil
		}
	}
	return "", errors.New("baresip modules (g711.so) not found under /usr/lib or /usr/local/lib")
}

// portsMu keeps the ports and ranges handed out in this process apart.
var (
	portsMu    sync.Mutex
	usedPairs  = map[int]bool{}
	usedRanges = map[int]bool{}
)

// FreePortRange returns n (at most 64) consecutive UDP ports on 127.0.0.1,
// starting at an even port, that were free at the moment of the call, from
// 22016-31999 (below Linux's ephemeral range), never overlapping a range
// handed out before in this process.
func FreePortRange(t testing.TB, n int) (lo, hi int) {
	t.Helper()
	if n < 1 || n > 64 {
		t.Fatalf("FreePortRange(%d): want 1 to 64 ports", n)
	}
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 200 {
		k := rand.IntN(155)
		lo = 22016 + 64*k
		if usedRanges[k] {
			continue
		}
		ok := true
		for p := lo; p < lo+n && ok; p++ {
			c, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				break
			}
			c.Close()
		}
		if ok {
			usedRanges[k] = true
			return lo, lo + n - 1
		}
	}
	t.Fatal("no free RTP port range")
	return 0, 0
}

// freePortPair returns a port P with P and P+1 free for UDP and TCP,
// from 12000-19999 (below the ephemeral range, where the even ports can
// all be taken by TIME-WAIT connections): baresip listens for SIP on P
// (UDP and TCP) and for SIP over TLS on P+1.
func freePortPair(t testing.TB) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 200 {
		p := 12000 + 2*rand.IntN(4000)
		if usedPairs[p] || !portFree(p) || !portFree(p+1) {
			continue
		}
		usedPairs[p] = true
		return p
	}
	t.Fatal("no free pair of ports")
	return 0
}

// portFree reports whether port is free on 127.0.0.1 for UDP and TCP.
func portFree(port int) bool {
	a := "127.0.0.1:" + strconv.Itoa(port)
	l, err := net.Listen("tcp", a)
	if err != nil {
		return false
	}
	l.Close()
	c, err := net.ListenPacket("udp", a)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// WriteToneWAV writes d of a sine tone at freq Hz (silence when freq is 0)
// as 8 kHz mono 16-bit PCM.
func WriteToneWAV(t testing.TB, path string, freq float64, d time.Duration) {
	t.Helper()
	w, err := media.CreateWAV(path, 8000)
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]int16, 160)
	var src media.Source
	if freq > 0 {
		src = media.NewTone(freq, 8000, 8000, d)
	} else {
		src = media.NewSilence(8000, d)
	}
	for src.ReadFrame(frame) == nil {
		if err := w.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// StartBaresip writes a config directory for cfg, starts `baresip -4 -s -f
// DIR` and connects to its ctrl_tcp port. It skips the test when baresip is
// not installed (fails with PARLEY_REQUIRE_PEERS=1). The test's cleanup
// stops it.
func StartBaresip(t testing.TB, cfg BaresipConfig) *Baresip {
	t.Helper()
	bin := Need(t, "baresip", "baresip-core")
	modDir, err := baresipModuleDir()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Transport == "" {
		cfg.Transport = "udp"
	}
	if cfg.AnswerMode == "" {
		cfg.AnswerMode = "manual"
	}
	if cfg.RegInt == 0 {
		cfg.RegInt = 600
	}
	dir := t.TempDir()
	b := &Baresip{
		Dir: dir, SndDir: filepath.Join(dir, "snd"), tb: t,
		SIPPort: freePortPair(t), CtrlPort: FreePort(t),
		AOR:    "sip:" + cfg.User + "@" + cfg.Domain,
		resps:  map[string]chan baresipResponse{},
		notify: make(chan struct{}),
	}
	for b.CtrlPort == b.SIPPort+1 {
		b.CtrlPort = FreePort(t)
	}
	b.RTPPorts[0], b.RTPPorts[1] = FreePortRange(t, 20)
	if err := os.Mkdir(b.SndDir, 0o755); err != nil {
		t.Fatal(err)
	}
	source := cfg.ToneFile
	if source == "" {
		// Longer than any call: aufile ends the call when the file ends.
		source = filepath.Join(dir, "source.wav")
		WriteToneWAV(t, source, cfg.Tone, 60*time.Second)
	}
	modules := []string{"g711.so", "aufile.so", "sndfile.so"}
	if cfg.Stdio {
		modules = append([]string{"stdio.so"}, modules...)
	}
	var c strings.Builder
	fmt.Fprintf(&c, "poll_method\t\tepoll\n")
	fmt.Fprintf(&c, "sip_listen\t\t127.0.0.1:%d\n", b.SIPPort)
	fmt.Fprintf(&c, "net_interface\t\t127.0.0.1\n")
	fmt.Fprintf(&c, "call_local_timeout\t120\ncall_max_calls\t\t4\n")
	fmt.Fprintf(&c, "audio_source\t\taufile,%s\n", source)
	fmt.Fprintf(&c, "audio_level\t\tno\nausrc_format\t\ts16\nauplay_format\t\ts16\nauenc_format\t\ts16\naudec_format\t\ts16\n")
	fmt.Fprintf(&c, "rtp_ports\t\t%d-%d\nrtcp_mux\t\tno\njitter_buffer_delay\t5-10\n", b.RTPPorts[0], b.RTPPorts[1])
	fmt.Fprintf(&c, "module_path\t\t%s\n", modDir)
	for _, m := range modules {
		fmt.Fprintf(&c, "module\t\t\t%s\n", m)
	}
	// account.so reads the accounts file; in 1.0 the control commands
	// (dial, hangup, accept, hold, resume, sndcode, reginfo) come from
	// menu.so and message from contact.so; ctrl_tcp.so only carries them.
	fmt.Fprintf(&c, "module_tmp\t\taccount.so\n")
	fmt.Fprintf(&c, "module_app\t\tcontact.so\nmodule_app\t\tmenu.so\nmodule_app\t\tctrl_tcp.so\n")
	fmt.Fprintf(&c, "ctrl_tcp_listen\t\t127.0.0.1:%d\n", b.CtrlPort)
	fmt.Fprintf(&c, "snd_path\t\t%s\n", b.SndDir)
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("config", c.String())

	acct := fmt.Sprintf("<sip:%s@%s;transport=%s>", cfg.User, cfg.Domain, cfg.Transport)
	if cfg.Password != "" {
		acct += ";auth_pass=" + cfg.Password
	}
	acct += ";answermode=" + cfg.AnswerMode
	if cfg.Proxy != "" {
		acct += fmt.Sprintf(";outbound=\"sip:%s;transport=%s\"", cfg.Proxy, cfg.Transport)
	}
	if cfg.RegInt > 0 {
		acct += ";regint=" + strconv.Itoa(cfg.RegInt)
	} else {
		acct += ";regint=0"
	}
	acct += ";audio_codecs=pcmu,pcma"
	write("accounts", acct+"\n")
	write("contacts", strings.Join(cfg.Contacts, "\n")+"\n")

	args := []string{"-4", "-s", "-f", dir}
	if cfg.Stdio {
		// stdio needs a terminal-ish stdin that stays open: a FIFO opened
		// read-write by us, inherited as the child's stdin.
		fifo := filepath.Join(dir, "stdin")
		if err := mkfifo(fifo); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(fifo, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		b.fifo = f
		t.Cleanup(func() { f.Close() })
	}
	b.Proc = startWithStdin(t, dir, b.fifo, bin, args...)
	t.Cleanup(b.Stop)

	// Connect to ctrl_tcp once it listens.
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(b.CtrlPort), time.Second)
		if err == nil {
			b.conn = conn
			break
		}
		select {
		case <-b.Proc.Done():
			t.Fatalf("baresip %s exited at start-up:\n%s", cfg.User, Tail(b.Proc.Output(), 40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("baresip %s: ctrl_tcp on port %d not reachable: %v\n%s", cfg.User, b.CtrlPort, err, Tail(b.Proc.Output(), 40))
		}
		time.Sleep(30 * time.Millisecond)
	}
	go b.read()
	return b
}

// read parses netstrings from the control connection: responses go to
// their waiting command, events to the event list.
func (b *Baresip) read() {
	r := bufio.NewReader(b.conn)
	for {
		msg, err := readNetstring(r)
		if err != nil {
			b.mu.Lock()
			b.closed = true
			b.wake()
			b.mu.Unlock()
			return
		}
		var head struct {
			Event    bool   `json:"event"`
			Response bool   `json:"response"`
			Token    string `json:"token"`
		}
		if json.Unmarshal(msg, &head) != nil {
			continue
		}
		switch {
		case head.Response:
			var resp baresipResponse
			_ = json.Unmarshal(msg, &resp)
			b.mu.Lock()
			ch := b.resps[head.Token]
			delete(b.resps, head.Token)
			b.mu.Unlock()
			if ch != nil {
				ch <- resp
			}
		case head.Event:
			var ev BaresipEvent
			_ = json.Unmarshal(msg, &ev)
			ev.At = time.Now()
			b.mu.Lock()
			b.events = append(b.events, ev)
			b.used = append(b.used, false)
			b.wake()
			b.mu.Unlock()
		}
	}
}

// wake tells waiters something changed; b.mu held.
func (b *Baresip) wake() {
	close(b.notify)
	b.notify = make(chan struct{})
}

func readNetstring(r *bufio.Reader) ([]byte, error) {
	lenStr, err := r.ReadString(':')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(lenStr, ":")))
	if err != nil || n < 0 || n > 1<<20 {
		return nil, fmt.Errorf("bad netstring length %q", lenStr)
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	if buf[n] != ',' {
		return nil, errors.New("netstring without trailing comma")
	}
	return buf[:n], nil
}

// Command sends a control command ("dial", "hangup", "reginfo", "hold",
// "resume", "sndcode", "accept", ...) and waits up to 5 s for its
// response. It returns the response text; a response with ok=false is an
// error.
func (b *Baresip) Command(command, params string) (string, error) {
	b.wmu.Lock()
	b.token++
	tok := strconv.Itoa(b.token)
	b.wmu.Unlock()
	ch := make(chan baresipResponse, 1)
	b.mu.Lock()
	b.resps[tok] = ch
	b.mu.Unlock()
	js, _ := json.Marshal(map[string]string{"command": command, "params": params, "token": tok})
	b.wmu.Lock()
	_ = b.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	_, err := fmt.Fprintf(b.conn, "%d:%s,", len(js), js)
	b.wmu.Unlock()
	if err != nil {
		return "", fmt.Errorf("baresip %s: send %s: %w", b.AOR, command, err)
	}
	select {
	case r := <-ch:
		if !r.OK {
			return r.Data, fmt.Errorf("baresip %s: command %s %q failed: %s", b.AOR, command, params, r.Data)
		}
		return r.Data, nil
	case <-time.After(5 * time.Second):
		b.mu.Lock()
		delete(b.resps, tok)
		b.mu.Unlock()
		return "", fmt.Errorf("baresip %s: no response to %s %q within 5s; log:\n%s", b.AOR, command, params, b.Tail(30))
	}
}

// MustCommand is Command failing the test on error.
func (b *Baresip) MustCommand(command, params string) string {
	b.tb.Helper()
	out, err := b.Command(command, params)
	if err != nil {
		b.tb.Fatal(err)
	}
	return out
}

// WaitEvent waits up to timeout for the first event of type typ not yet
// returned by WaitEvent, and returns it.
func (b *Baresip) WaitEvent(typ string, timeout time.Duration) (BaresipEvent, error) {
	return b.WaitEventFunc(func(e BaresipEvent) bool { return e.Type == typ }, typ, timeout)
}

// WaitEventFunc is WaitEvent with a matcher; what names it in errors.
func (b *Baresip) WaitEventFunc(match func(BaresipEvent) bool, what string, timeout time.Duration) (BaresipEvent, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		for i, e := range b.events {
			if !b.used[i] && match(e) {
				b.used[i] = true
				b.mu.Unlock()
				return e, nil
			}
		}
		notify, closed := b.notify, b.closed
		b.mu.Unlock()
		if closed {
			return BaresipEvent{}, fmt.Errorf("baresip %s: control connection closed waiting for %s; events %s; log:\n%s", b.AOR, what, b.EventTypes(), b.Tail(40))
		}
		select {
		case <-notify:
		case <-b.Proc.Done():
			// Let the reader drain what is left, then report.
			time.Sleep(50 * time.Millisecond)
			b.mu.Lock()
			b.closed = true
			b.mu.Unlock()
		case <-deadline.C:
			return BaresipEvent{}, fmt.Errorf("baresip %s: no %s event within %v; events %s; log:\n%s", b.AOR, what, timeout, b.EventTypes(), b.Tail(40))
		}
	}
}

// MustWaitEvent is WaitEvent failing the test on time-out.
func (b *Baresip) MustWaitEvent(typ string, timeout time.Duration) BaresipEvent {
	b.tb.Helper()
	e, err := b.WaitEvent(typ, timeout)
	if err != nil {
		b.tb.Fatal(err)
	}
	return e
}

// Events returns every event received so far.
func (b *Baresip) Events() []BaresipEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]BaresipEvent(nil), b.events...)
}

// EventTypes lists the types of the events received so far, for messages.
func (b *Baresip) EventTypes() string {
	var s []string
	for _, e := range b.Events() {
		s = append(s, e.Type)
	}
	return "[" + strings.Join(s, " ") + "]"
}

// WaitRegistered waits until the account is registered: reginfo showing
// it OK, or a REGISTER_OK event (the first REGISTER_OK usually comes
// before the control connection and is lost). A failed registration
// (REGISTER_FAIL, or ERR in reginfo) ends the wait at once.
func (b *Baresip) WaitRegistered(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		out, err := b.Command("reginfo", "")
		switch {
		case err != nil:
			return err
		case regState(out) == "OK":
			return nil
		case regState(out) == "ERR":
			return fmt.Errorf("baresip %s: registration failed (reginfo %q); log:\n%s", b.AOR, out, b.Tail(40))
		}
		for _, e := range b.Events() {
			if e.Type == "REGISTER_FAIL" {
				return fmt.Errorf("baresip %s: REGISTER_FAIL %s; log:\n%s", b.AOR, e.Param, b.Tail(40))
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("baresip %s: not registered within %v; events %s; log:\n%s", b.AOR, timeout, b.EventTypes(), b.Tail(40))
		}
		if _, err := b.WaitEvent("REGISTER_OK", 100*time.Millisecond); err == nil {
			return nil
		}
	}
}

// ansi matches terminal colour sequences.
var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// regState reads the account's state from reginfo output: baresip 1.0
// prints "> sip:user@domain  OK  Expires 600s" (coloured) when registered,
// "ERR" when registration failed and nothing when not yet registered.
func regState(reginfo string) string {
	for _, line := range strings.Split(ansi.ReplaceAllString(reginfo, ""), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || !strings.HasPrefix(f[1], "sip:") {
			continue
		}
		for _, w := range f[2:] {
			if w == "OK" || w == "ERR" {
				return w
			}
		}
	}
	return ""
}

// DecodedWAV returns the path of the newest dump-*-dec.wav (the audio
// baresip decoded from the far end), or "" when there is none.
func (b *Baresip) DecodedWAV() string { return b.dump("-dec.wav") }

// EncodedWAV returns the path of the newest dump-*-enc.wav (what baresip
// sent), or "".
func (b *Baresip) EncodedWAV() string { return b.dump("-enc.wav") }

func (b *Baresip) dump(suffix string) string {
	m, _ := filepath.Glob(filepath.Join(b.SndDir, "dump-*"+suffix))
	if len(m) == 0 {
		return ""
	}
	sort.Slice(m, func(i, j int) bool {
		a, _ := os.Stat(m[i])
		c, _ := os.Stat(m[j])
		return a != nil && c != nil && a.ModTime().Before(c.ModTime())
	})
	return m[len(m)-1]
}

// Log returns what baresip printed (with -s, the SIP trace).
func (b *Baresip) Log() string { return b.Proc.Output() }

// Tail returns the last n lines of baresip's log.
func (b *Baresip) Tail(n int) string { return Tail(b.Proc.Output(), n) }

// Stop closes the control connection and stops baresip: SIGTERM (it
// de-registers), SIGKILL after 3 s.
func (b *Baresip) Stop() {
	if b.conn != nil {
		b.conn.Close()
	}
	b.Proc.Stop(3 * time.Second)
}

// ReadWAV reads a whole WAV file as 8 kHz mono samples.
func ReadWAV(path string) ([]int16, error) {
	r, err := media.OpenWAV(path, 8000)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var all []int16
	buf := make([]int16, 1600)
	for {
		n, err := r.Read(buf)
		all = append(all, buf[:n]...)
		if err == io.EOF {
			return all, nil
		}
		if err != nil {
			return all, err
		}
	}
}

func mkfifo(path string) error { return syscall.Mkfifo(path, 0o600) }

// startWithStdin is Start with the given stdin (nil: /dev/null).
func startWithStdin(t testing.TB, dir string, stdin *os.File, name string, args ...string) *Process {
	t.Helper()
	if stdin == nil {
		return Start(t, dir, name, args...)
	}
	p := &Process{Cmd: exec.Command(name, args...), done: make(chan struct{}), name: filepath.Base(name), tb: t}
	p.Cmd.Dir = dir
	p.Cmd.Stdout = &p.out
	p.Cmd.Stderr = &p.out
	p.Cmd.Stdin = stdin
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.Cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.Stop(2 * time.Second) })
	return p
}
