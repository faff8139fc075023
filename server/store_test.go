package server

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/internal/peertest"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// TestSharedStore runs two servers on one shared store: a phone registered
// through one is found by the other; with the store down, REGISTER is
// answered 503 with Retry-After within the store timeout; once the store
// is back, registering works again.
func TestSharedStore(t *testing.T) {
	for _, kind := range []struct {
		name  string
		start func(t *testing.T) (url string, stop, restart func())
	}{
		{"redis", func(t *testing.T) (string, func(), func()) {
			r := peertest.StartRedis(t)
			return r.URL, r.Stop, r.Start
		}},
		{"postgres", func(t *testing.T) (string, func(), func()) {
			p := peertest.StartPostgres(t)
			return p.URL, p.Stop, p.Start
		}},
	} {
		t.Run(kind.name, func(t *testing.T) {
			url, stop, restart := kind.start(t)
			node := func() *Server {
				cfg := config.Default()
				cfg.Listen = []string{"udp:127.0.0.1:0"}
				cfg.Data = t.TempDir()
				cfg.Domain = "example.test"
				cfg.Auth = "none"
				cfg.Store = config.StoreURL(url)
				cfg.StoreTimeout = config.Duration(500 * time.Millisecond)
				cfg.StoreDialTimeout = config.Duration(500 * time.Millisecond)
				s, err := New(cfg, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Shutdown(shutdownCtx()) })
				return s
			}
			n1, n2 := node(), node()
			c, err := net.Dial("udp", addr(t, n1, transport.UDP))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if resp := send(t, c, registerReq(c, "alice", 1, "shared1")); resp.StatusCode != 200 {
				t.Fatalf("REGISTER through node 1: %d %s", resp.StatusCode, resp.Reason)
			}
			ctx := peertest.Context(t, 5*time.Second)
			bs, err := n2.Store().Lookup(ctx, "sip:alice@example.test")
			if err != nil || len(bs) != 1 {
				t.Fatalf("node 2 sees %d bindings, %v", len(bs), err)
			}

			// Phones of one user registering through both nodes at once:
			// every contact is kept (the store's update is atomic across
			// nodes, not only within one).
			var wg sync.WaitGroup
			const phones = 8
			for i := range phones {
				wg.Go(func() {
					pc, err := net.Dial("udp", addr(t, []*Server{n1, n2}[i%2], transport.UDP))
					if err != nil {
						t.Error(err)
						return
					}
					defer pc.Close()
					for cseq := 1; cseq <= 5; cseq++ {
						if err := registerOK(pc, registerReq(pc, "alice", cseq, fmt.Sprintf("phone%d", i))); err != nil {
							t.Errorf("phone %d: %v", i, err)
							return
						}
					}
				})
			}
			wg.Wait()
			if bs, err := n1.Store().Lookup(ctx, "sip:alice@example.test"); err != nil || len(bs) != phones+1 {
				t.Fatalf("after concurrent registrations through both nodes: %d bindings, %v; want %d", len(bs), err, phones+1)
			}

			stop()
			start := time.Now()
			resp := send(t, c, registerReq(c, "alice", 2, "shared1"))
			if resp.StatusCode != 503 {
				t.Fatalf("REGISTER with the store down: %d %s, want 503", resp.StatusCode, resp.Reason)
			}
			if ra, ok := resp.Get("Retry-After"); !ok || ra == "" {
				t.Fatal("503 without Retry-After")
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("503 took %v (store timeout 500ms)", d)
			}

			restart()
			cseq := 3
			if !peertest.WaitFor(15*time.Second, func() bool {
				cseq++
				return send(t, c, registerReq(c, "alice", cseq, "shared1")).StatusCode == 200
			}) {
				t.Fatal("REGISTER did not succeed again after the store came back")
			}
		})
	}
}

// registerOK sends a REGISTER and waits for its 200, for goroutines (which
// must not call t.Fatal).
func registerOK(c net.Conn, req *sip.Request) error {
	if _, err := c.Write([]byte(req.String())); err != nil {
		return err
	}
	buf := make([]byte, 65536)
	for {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			return fmt.Errorf("no response: %w", err)
		}
		m, err := sip.Parse(buf[:n])
		if err != nil {
			return err
		}
		resp, ok := m.(*sip.Response)
		if !ok || resp.StatusCode < 200 {
			continue
		}
		if resp.StatusCode != 200 {
			return fmt.Errorf("%d %s", resp.StatusCode, resp.Reason)
		}
		return nil
	}
}
