package transport

import (
	"bufio"
	"bytes"
	"flag"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/sip"
)

var update = flag.Bool("update", false, "rewrite the golden responses in testdata/malformed")

// portMark stands for the client's port in golden responses (the rport
// value a stamped Via carries back).
const portMark = "{{port}}"

// TestMalformedAnswered sends each request of testdata/malformed through a
// real socket on loopback, over UDP and over TCP, and compares the answer
// with NAME.golden byte for byte. A request whose Via cannot be used is
// still answered, to the source over the connection it came on (§8.2,
// §18.2.2); files named drop-* must get no answer: a valid OPTIONS sent
// after them must be the first thing answered.
func TestMalformedAnswered(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "malformed", "*.sip"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			l, got := echoLayer(t, Config{}, proto+":127.0.0.1:0")
			a, _ := l.LocalAddr(strings.ToUpper(proto))
			for _, f := range files {
				name := strings.TrimSuffix(filepath.Base(f), ".sip")
				t.Run(name, func(t *testing.T) {
					req, err := os.ReadFile(f)
					if err != nil {
						t.Fatal(err)
					}
					c, err := net.Dial(proto, a.AddrPort.String())
					if err != nil {
						t.Fatal(err)
					}
					defer c.Close()
					local, _ := netip.ParseAddrPort(c.LocalAddr().String())
					port := strconv.Itoa(int(local.Port()))
					read := readDatagram
					if proto == "tcp" {
						read = readStreamMessage(bufio.NewReader(c))
					}
					if _, err := c.Write(req); err != nil {
						t.Fatal(err)
					}
					if strings.HasPrefix(name, "drop-") {
						probe := request("OPTIONS", "SIP/2.0/"+strings.ToUpper(proto)+" 127.0.0.1:5099;branch=z9hG4bKprobe;rport")
						c.Write([]byte(probe))
						b := read(t, c)
						if b == nil {
							return // a stream closed on text it cannot frame: no answer either
						}
						resp := parseResponse(t, b)
						if v, _ := resp.TopVia(); resp.StatusCode != 200 || v.Branch() != "z9hG4bKprobe" {
							t.Fatalf("answered %d %q (branch %q); want no answer before the probe's 200", resp.StatusCode, resp.Reason, v.Branch())
						}
						<-got
						return
					}
					out := read(t, c)
					golden := filepath.Join("testdata", "malformed", name+".golden")
					if *update && proto == "udp" {
						if err := os.WriteFile(golden, bytes.ReplaceAll(out, []byte(port), []byte(portMark)), 0o644); err != nil {
							t.Fatal(err)
						}
					}
					want, err := os.ReadFile(golden)
					if err != nil {
						t.Fatal(err)
					}
					want = bytes.ReplaceAll(want, []byte(portMark), []byte(port))
					if !bytes.Equal(out, want) {
						t.Errorf("answer:\n%s\nwant:\n%s", out, want)
					}
					select {
					case m := <-got:
						t.Fatalf("malformed request reached the handler: %s", m)
					default:
					}
				})
			}
		})
	}
}

func readDatagram(t *testing.T, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return buf[:n]
}

// readStreamMessage reads one message without a body (the answers here
// have none) from a stream; nil when the server closed it before sending
// anything.
func readStreamMessage(br *bufio.Reader) func(t *testing.T, c net.Conn) []byte {
	return func(t *testing.T, c net.Conn) []byte {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var out []byte
		for !bytes.HasSuffix(out, []byte("\r\n\r\n")) {
			line, err := br.ReadBytes('\n')
			if err == io.EOF && len(out) == 0 && len(line) == 0 {
				return nil
			}
			if err != nil {
				t.Fatalf("read: %v (so far %q)", err, out)
			}
			out = append(out, line...)
		}
		return out
	}
}

func parseResponse(t *testing.T, b []byte) *sip.Response {
	t.Helper()
	m, err := sip.Parse(b)
	if err != nil {
		t.Fatalf("parse answer: %v\n%s", err, b)
	}
	r, ok := m.(*sip.Response)
	if !ok {
		t.Fatalf("got a request, want a response")
	}
	return r
}
