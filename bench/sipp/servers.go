package main

import (
	"bytes"
	_ "embed"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

//go:embed kamailio-options.cfg
var kamailioOptionsCfg string

//go:embed kamailio-registrar.cfg
var kamailioRegistrarCfg string

// productRoot is the directory of the Parley checkout bench/ replaces the
// product module with (../): the parley binary is built there and the SIPp
// scenarios are read from internal/peertest/sipp there. (Importing
// internal/peertest would pull its media dependencies into this module.)
var productRoot = sync.OnceValue(func() string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/parley-sip/parley").Output()
	if err != nil {
		fatal("locate the parley module: %v", err)
	}
	return strings.TrimSpace(string(out))
})

func scenarioBytes(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(productRoot(), "internal", "peertest", "sipp", name+".xml"))
}

// server is a running parley or kamailio, in its own process group.
type server struct {
	kind string
	port int
	cmd  *exec.Cmd
	out  lockedBuffer
	ctl  string // kamailio's binrpc socket, for kamcmd
	done chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// started lists what this program started, so fatal errors stop it too.
var (
	startedMu sync.Mutex
	started   []*exec.Cmd
)

func track(cmd *exec.Cmd) {
	startedMu.Lock()
	started = append(started, cmd)
	startedMu.Unlock()
}

// killStarted kills the process groups this program started (by PID).
func killStarted() {
	startedMu.Lock()
	defer startedMu.Unlock()
	for _, c := range started {
		if c.Process != nil && c.ProcessState == nil {
			syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		}
	}
}

func (s *server) pid() int       { return s.cmd.Process.Pid }
func (s *server) target() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

func (s *server) alive() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM to the server's process group, SIGKILL after 5 s.
func (s *server) stop() {
	syscall.Kill(-s.pid(), syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-s.pid(), syscall.SIGKILL)
		<-s.done
	}
}

// startServer starts a fresh server of kind for a scenario: parley with a
// config file written into the work dir (its data there too), kamailio
// with the options or registrar config.
func startServer(o *options, kind, name string, digest, optionsOnly bool) *server {
	s := &server{kind: kind, port: freePort(), done: make(chan struct{})}
	dir, err := os.MkdirTemp(o.work, kind+"-"+name+"-")
	if err != nil {
		fatal("%v", err)
	}
	switch kind {
	case "parley", parleyAdmin:
		auth := "none"
		if digest {
			auth = "digest"
		}
		cfg := fmt.Sprintf(`# Written by bench/sipp.
domain: example.test
auth: %s
users:
  - name: alice
    password: secret
  - name: bob
    password: builder
data: %s
listen: ["udp:127.0.0.1:%d", "tcp:127.0.0.1:%d"]
log: warn
# SIPp offers one source's whole load: the flood limit counts every
# packet as in production but is set above the offered rates.
abuse:
  max_requests: 100000000
`, auth, filepath.Join(dir, "data"), s.port, s.port)
		// The proxy unless -pbx: the comparison with Kamailio's proxy.
		cfg += fmt.Sprintf("pbx:\n  enabled: %v\n", o.pbx)
		if o.workers > 0 {
			cfg += fmt.Sprintf("limits:\n  workers: %d\n", o.workers)
		}
		if kind == parleyAdmin {
			// The operator's view on: capture of every message into the
			// ring (default size), the admin listener idle.
			cfg += fmt.Sprintf("admin:\n  listen: 127.0.0.1:%d\n  token: bench-token-0123456789\n", freePort())
		}
		path := filepath.Join(dir, "parley.yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			fatal("%v", err)
		}
		s.cmd = exec.Command(o.parley, "serve", "--config", path)
		s.cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(o.procs))
		if g := os.Getenv("PARLEY_BENCH_GOGC"); g != "" {
			s.cmd.Env = append(s.cmd.Env, "GOGC="+g)
		}
	case "kamailio":
		text := kamailioRegistrarCfg
		if optionsOnly {
			text = kamailioOptionsCfg
		}
		s.ctl = filepath.Join(dir, "kamailio.ctl")
		text = strings.NewReplacer(
			"LISTEN_UDP", fmt.Sprintf("udp:127.0.0.1:%d", s.port),
			"LISTEN_TCP", fmt.Sprintf("tcp:127.0.0.1:%d", s.port),
			"CHILDREN", strconv.Itoa(o.procs),
			"MPATH", "/usr/lib/x86_64-linux-gnu/kamailio/modules/",
			"CTL_SOCKET", "unix:"+s.ctl).Replace(text)
		path := filepath.Join(dir, "kamailio.cfg")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			fatal("%v", err)
		}
		args := []string{"-f", path, "-DD", "-E", "-m", "1024", "-M", "64", "-w", dir}
		if digest {
			args = append(args, "-A", "WITH_AUTH")
		}
		s.cmd = exec.Command(o.kamailio, args...)
	}
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		fatal("start %s: %v", kind, err)
	}
	track(s.cmd)
	go func() { s.cmd.Wait(); close(s.done) }()
	if !waitTCP(s.port, s.done) {
		fatal("%s on port %d did not start:\n%s", kind, s.port, tail(s.out.String(), 30))
	}
	time.Sleep(300 * time.Millisecond)
	return s
}

// startCallee registers bob with the server from a free port (SIPp
// register_uac), then runs the SIPp callee uas_answer on that port until
// the returned function stops it. Both servers get the callee the same way.
func startCallee(o *options, srv *server, target string) func() {
	port := freePort()
	dir, _ := os.MkdirTemp(o.work, "callee-"+srv.kind+"-")
	inf := filepath.Join(dir, "bob.csv")
	os.WriteFile(inf, []byte("SEQUENTIAL\nbob\n"), 0o644)
	reg := exec.Command(o.sipp, "-sf", writeScenario(dir, "register_uac"), "-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-t", "u1", "-nostdin", "-m", "1", "-inf", inf, "-key", "domain", "example.test", "-key", "expires", "3600",
		"-timeout", "10s", "-timeout_error", "-trace_err", "-error_file", filepath.Join(dir, "register-errors.log"), target)
	reg.Dir = dir
	if out, err := reg.CombinedOutput(); err != nil {
		fatal("registering the callee with %s: %v\n%s", srv.kind, err, tail(string(out), 20))
	}
	cmd := exec.Command(o.sipp, "-sf", writeScenario(dir, "uas_answer"), "-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-t", "u1", "-nostdin", "-max_socket", "4000", "-recv_timeout", "10000",
		"-trace_err", "-error_file", filepath.Join(dir, "errors.log"))
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		fatal("start callee: %v", err)
	}
	track(cmd)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	time.Sleep(300 * time.Millisecond)
	return func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
}

// groupCPU sums utime+stime of every process in the process group.
func groupCPU(pgid int) float64 {
	ticks := 0.0
	for _, pid := range groupPIDs(pgid) {
		f := procStat(pid)
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		ticks += ut + st
	}
	return ticks / 100 // USER_HZ
}

// procStat returns the fields of /proc/PID/stat after the command name.
func procStat(pid int) []string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(data)
	s = s[strings.LastIndexByte(s, ')')+2:]
	return strings.Fields(s)
}

// groupPIDs lists the processes of a process group.
func groupPIDs(pgid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f := procStat(pid)
		if len(f) < 3 {
			continue
		}
		if pg, _ := strconv.Atoi(f[2]); pg == pgid {
			out = append(out, pid)
		}
	}
	return out
}

func freePort() int {
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fatal("%v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
}

// waitTCP waits until the port accepts connections or the server exits.
func waitTCP(port int, exited <-chan struct{}) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}
