package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/internal/peertest"
	"github.com/parley-sip/parley/server"
)

// TestServeWithAdmin: `parley serve` with an admin: section serves the
// console and the API next to SIP, and stops both on shutdown.
func TestServeWithAdmin(t *testing.T) {
	dir := t.TempDir()
	adminAddr := fmt.Sprintf("127.0.0.1:%d", peertest.FreePort(t))
	sipAddr := fmt.Sprintf("127.0.0.1:%d", peertest.FreePort(t))
	cfg := fmt.Sprintf("domain: example.test\nusers:\n  - name: alice\n    password: wonderland\ndata: %s\nlisten: [\"udp:%s\"]\nadmin:\n  listen: %s\n  token: serve-test-token-0123\n",
		filepath.Join(dir, "data"), sipAddr, adminAddr)
	path := filepath.Join(dir, "parley.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan *server.Server, 1)
	done := make(chan int, 1)
	var out, errb syncBuffer
	go func() {
		done <- serveContext(ctx, []string{"--config", path}, &out, &errb, func(s *server.Server) { ready <- s })
	}()
	select {
	case <-ready:
	case code := <-done:
		t.Fatalf("parley serve exited %d:\n%s\n%s", code, out.String(), errb.String())
	case <-time.After(10 * time.Second):
		t.Fatal("parley serve did not start")
	}
	if !strings.Contains(out.String(), "admin console on http://"+adminAddr+"/") {
		t.Errorf("stdout does not name the console:\n%s", out.String())
	}
	get := func(p, token string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+adminAddr+p, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", p, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/api/status", "serve-test-token-0123"); code != 200 || !strings.Contains(body, "udp:"+sipAddr) {
		t.Errorf("/api/status: %d %s", code, body)
	}
	if code, _ := get("/api/status", ""); code != 401 {
		t.Errorf("/api/status without the token: %d", code)
	}
	if code, body := get("/", ""); code != 200 || !strings.Contains(body, "Parley console") {
		t.Errorf("console: %d %.100s", code, body)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d: %s", code, errb.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("parley serve did not stop")
	}
}
