// Package peertest runs real SIP programs (SIPp, baresip) for interop
// tests: it finds them, skips — or fails when PARLEY_REQUIRE_PEERS=1, as in
// CI — when they are missing, picks free loopback ports, and runs them with
// bounded time, killing only the processes it started.
package peertest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Need returns the path of a peer program, or skips the test with a message
// naming the Debian package to install. With PARLEY_REQUIRE_PEERS=1 a
// missing peer fails the test instead.
func Need(t testing.TB, program, debPackage string) string {
	t.Helper()
	path, err := exec.LookPath(program)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s not found: install the Debian package %q to run this interop test", program, debPackage)
	if os.Getenv("PARLEY_REQUIRE_PEERS") == "1" {
		t.Fatal(msg + " (PARLEY_REQUIRE_PEERS=1)")
	}
	t.Skip(msg)
	return ""
}

// FreePort returns a port on 127.0.0.1 free for both UDP and TCP at the
// moment of the call.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free port found")
	return 0
}

// Process is a peer program started by a test.
type Process struct {
	Cmd  *exec.Cmd
	out  lockedBuffer
	done chan struct{}
	err  error
	name string
	tb   testing.TB
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

// Start runs a program in dir (a temp dir when ""), with its output
// captured. The test's cleanup kills it (by PID, with its process group)
// if it is still running.
func Start(t testing.TB, dir string, name string, args ...string) *Process {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	p := &Process{Cmd: exec.Command(name, args...), done: make(chan struct{}), name: filepath.Base(name), tb: t}
	p.Cmd.Dir = dir
	p.Cmd.Stdout = &p.out
	p.Cmd.Stderr = &p.out
	p.Cmd.Stdin = nil
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

// Wait waits for the program to exit, at most d; on time-out it kills it
// and fails the test, showing its output.
func (p *Process) Wait(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		p.Stop(0)
		p.tb.Fatalf("%s did not finish within %v; output:\n%s", p.name, d, p.Output())
		return nil
	}
}

// Done is closed when the program has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Stop sends SIGTERM, waits up to grace, then SIGKILLs the process group.
func (p *Process) Stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	pid := p.Cmd.Process.Pid
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	<-p.done
}

// Output returns what the program printed so far.
func (p *Process) Output() string { return p.out.String() }

// WaitFor polls cond every 20 ms until it is true or d passes.
func WaitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

// Context returns a context that ends after d or with the test.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Tail returns the last n lines of s, for error messages.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
