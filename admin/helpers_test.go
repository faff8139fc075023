package admin

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/server"
	"github.com/parley-sip/parley/transport"
)

const testToken = "test-token-0123456789"

// testEnv is a SIP server with its admin server, both on free loopback
// ports, data in a temp dir.
type testEnv struct {
	t     *testing.T
	cfg   *config.Config
	srv   *server.Server
	admin *Server
	base  string // http://127.0.0.1:PORT
}

func testConfig(t *testing.T) *config.Config {
	cfg := config.Default()
	cfg.Data = t.TempDir()
	cfg.Listen = []string{"udp:127.0.0.1:0"}
	cfg.Users = []config.User{{Name: "alice", Password: "alicepw"}, {Name: "bob", Password: "bobpw"}}
	cfg.Admin = config.Admin{Listen: "127.0.0.1:0", Token: testToken}
	return cfg
}

func startEnv(t *testing.T, cfg *config.Config) *testEnv {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(srv, Options{Version: "test"})
	if err != nil {
		srv.Shutdown(context.Background())
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("admin Shutdown: %v", err)
		}
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("server Shutdown: %v", err)
		}
	})
	return &testEnv{t: t, cfg: cfg, srv: srv, admin: a, base: "http://" + a.Addr().String()}
}

func (e *testEnv) sipAddr() string {
	for _, a := range e.srv.Addrs() {
		if a.Transport == transport.UDP {
			return a.AddrPort.String()
		}
	}
	e.t.Fatal("no UDP listener")
	return ""
}

// do sends a request with the test token and returns status and body.
func (e *testEnv) do(method, path, body string) (int, []byte) {
	e.t.Helper()
	return e.doAuth(method, path, body, "Bearer "+testToken)
}

func (e *testEnv) doAuth(method, path, body, authz string) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (e *testEnv) getJSON(path string, v any) {
	e.t.Helper()
	code, b := e.do("GET", path, "")
	if code != 200 {
		e.t.Fatalf("GET %s: %d %s", path, code, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		e.t.Fatalf("GET %s: %v in %s", path, err, b)
	}
}

// sendSIP sends one datagram to the server from a fresh socket and
// returns the first answer (or fails after 5 s).
func (e *testEnv) sendSIP(msg string) string {
	e.t.Helper()
	c, err := net.Dial("udp", e.sipAddr())
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().String()
	msg = strings.ReplaceAll(msg, "LOCAL", local)
	msg = strings.ReplaceAll(msg, "\n", "\r\n")
	if _, err := c.Write([]byte(msg)); err != nil {
		e.t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil {
		e.t.Fatalf("no answer from the server: %v", err)
	}
	return string(buf[:n])
}

func options(callID string) string {
	return "OPTIONS sip:example.test SIP/2.0\n" +
		"Via: SIP/2.0/UDP LOCAL;branch=z9hG4bK-" + callID + "\n" +
		"From: <sip:probe@example.test>;tag=1\n" +
		"To: <sip:example.test>\n" +
		"Call-ID: " + callID + "\n" +
		"CSeq: 1 OPTIONS\n" +
		"Max-Forwards: 70\n" +
		"Content-Length: 0\n\n"
}
