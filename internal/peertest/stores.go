package peertest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Shared stores for the tests of the Redis and PostgreSQL backends (and of
// anything that runs on them).
//
// A test asks for a server with Redis or Postgres: when PARLEY_REDIS_URL /
// PARLEY_POSTGRES_URL is set, that server is used (each test keeps to its
// own keys or tables, so one server serves every package at once);
// otherwise the test starts its own throw-away server on a free loopback
// port in a temp directory and stops it, by PID, when it ends. Tests that
// stop and restart the server (outage tests) always start their own with
// StartRedis / StartPostgres. A missing server program skips the test, or
// fails it with PARLEY_REQUIRE_PEERS=1.
//
// .ci/run leaves the URLs unset: each package's tests start what they need
// (a Redis starts in milliseconds, a PostgreSQL cluster in about a
// second), so a test run never depends on a server left over from an
// earlier one and nothing outlives it.

// Redis returns the URL of a Redis server for the test: PARLEY_REDIS_URL,
// or a server of its own (StartRedis).
func Redis(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("PARLEY_REDIS_URL"); u != "" {
		return u
	}
	return StartRedis(t).URL
}

// Postgres returns the URL of a PostgreSQL database for the test:
// PARLEY_POSTGRES_URL, or a cluster of its own (StartPostgres).
func Postgres(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("PARLEY_POSTGRES_URL"); u != "" {
		return u
	}
	return StartPostgres(t).URL
}

// RedisServer is a redis-server started by a test.
type RedisServer struct {
	URL  string // redis://127.0.0.1:PORT/0
	Port int

	t    testing.TB
	bin  string
	dir  string
	proc *Process
}

// StartRedis starts redis-server on a free 127.0.0.1 port in a temp
// directory, without persistence; the test's cleanup stops it.
func StartRedis(t testing.TB) *RedisServer {
	t.Helper()
	bin := Need(t, "redis-server", "redis-server")
	r := &RedisServer{t: t, bin: bin, dir: t.TempDir(), Port: FreePort(t)}
	r.URL = fmt.Sprintf("redis://127.0.0.1:%d/0", r.Port)
	r.Start()
	return r
}

// Start starts the server again after Stop, on the same port.
func (r *RedisServer) Start() {
	r.t.Helper()
	r.proc = Start(r.t, r.dir, r.bin, "--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--protected-mode", "no")
	if !waitTCP(r.Port, 10*time.Second, r.proc.Done()) {
		r.proc.Stop(0)
		r.t.Fatalf("redis-server on port %d did not start; output:\n%s", r.Port, Tail(r.proc.Output(), 20))
	}
}

// Stop stops the server (SIGTERM to its PID, SIGKILL after a grace).
func (r *RedisServer) Stop() {
	if r.proc != nil {
		r.proc.Stop(5 * time.Second)
	}
}

// waitTCP waits until something accepts on 127.0.0.1:port, or the process
// ends, or d passes.
func waitTCP(port int, d time.Duration, exited <-chan struct{}) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return true
		}
		select {
		case <-exited:
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false
}

// PostgresServer is a throw-away PostgreSQL cluster started by a test.
type PostgresServer struct {
	URL  string // postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable
	Port int

	t     testing.TB
	bin   string // the server's bin directory (pg_config --bindir)
	dir   string // owned by the server's user
	runAs string // "postgres" when the test runs as root (initdb refuses root)
}

// StartPostgres makes a cluster with initdb in a temp directory and starts
// it with pg_ctl on a free 127.0.0.1 port (trust authentication, no
// fsync); the test's cleanup stops it and removes the directory. Run as
// root (as CI does), the cluster belongs to the postgres user, since
// initdb refuses to run as root.
func StartPostgres(t testing.TB) *PostgresServer {
	t.Helper()
	pgConfig := Need(t, "pg_config", "postgresql")
	out, err := exec.Command(pgConfig, "--bindir").Output()
	if err != nil {
		t.Fatalf("pg_config --bindir: %v", err)
	}
	p := &PostgresServer{t: t, bin: strings.TrimSpace(string(out)), Port: FreePort(t)}
	if _, err := os.Stat(filepath.Join(p.bin, "initdb")); err != nil {
		msg := fmt.Sprintf("no initdb in %s: install the Debian package \"postgresql\"", p.bin)
		if os.Getenv("PARLEY_REQUIRE_PEERS") == "1" {
			t.Fatal(msg + " (PARLEY_REQUIRE_PEERS=1)")
		}
		t.Skip(msg)
	}
	// Not t.TempDir: its parents are private to the test's user, and the
	// server may run as another.
	p.dir, err = os.MkdirTemp("", "parley-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(p.dir) })
	if os.Geteuid() == 0 {
		p.runAs = "postgres"
		u, err := user.Lookup(p.runAs)
		if err != nil {
			t.Fatalf("running as root, PostgreSQL needs the user %q (made by the Debian package): %v", p.runAs, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(p.dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := p.run(2*time.Minute, "initdb", "-D", p.data(), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, Tail(string(out), 20))
	}
	p.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.Port)
	p.Start()
	t.Cleanup(p.Stop)
	return p
}

func (p *PostgresServer) data() string { return filepath.Join(p.dir, "data") }

// run runs a PostgreSQL program as the cluster's user, killed after limit.
func (p *PostgresServer) run(limit time.Duration, prog string, args ...string) ([]byte, error) {
	path := filepath.Join(p.bin, prog)
	if p.runAs != "" {
		args = append([]string{"-u", p.runAs, "--", path}, args...)
		path = "runuser"
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = p.dir
	return cmd.CombinedOutput()
}

// Start starts the server (again, after Stop) and waits until it accepts
// connections.
func (p *PostgresServer) Start() {
	p.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off", p.Port, p.dir)
	out, err := p.run(time.Minute, "pg_ctl", "-D", p.data(), "-l", filepath.Join(p.dir, "log"), "-w", "-t", "60", "start", "-o", opts)
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(p.dir, "log"))
		p.t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, Tail(string(log), 20))
	}
}

// Stop stops the server (pg_ctl stop -m fast, which signals the PID in
// its postmaster.pid). Stopping a stopped server does nothing.
func (p *PostgresServer) Stop() {
	if _, err := os.Stat(filepath.Join(p.data(), "postmaster.pid")); err != nil {
		return
	}
	if out, err := p.run(time.Minute, "pg_ctl", "-D", p.data(), "-m", "fast", "-w", "-t", "60", "stop"); err != nil {
		p.t.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
}
