// Package locatetest serves DNS records on loopback for tests of RFC 3263
// resolution (package locate and its users): an in-process
// github.com/miekg/dns server answering from records given in zone-file
// syntax, a server that never answers, and one that answers raw bytes.
package locatetest

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Server is an in-process DNS server on loopback UDP serving records given
// in zone-file syntax, and counting the questions it gets.
type Server struct {
	Addr string

	mu     sync.Mutex
	rrs    []dns.RR
	asked  map[string]int // "name TYPE" -> count
	srv    *dns.Server
	soaTTL uint32
	// Handler, when set, sees every question first; true: it answered.
	Handler func(w dns.ResponseWriter, r *dns.Msg) bool
}

func NewServer(t testing.TB, records ...string) *Server {
	t.Helper()
	z := &Server{asked: map[string]int{}, soaTTL: 60}
	for _, s := range records {
		z.Add(t, s)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	z.Addr = pc.LocalAddr().String()
	started := make(chan struct{})
	z.srv = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(z.serve), NotifyStartedFunc: func() { close(started) }}
	go func() { _ = z.srv.ActivateAndServe() }()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("test DNS server did not start")
	}
	t.Cleanup(func() { _ = z.srv.Shutdown() })
	return z
}

func (z *Server) Add(t testing.TB, s string) {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatalf("bad test record %q: %v", s, err)
	}
	z.mu.Lock()
	z.rrs = append(z.rrs, rr)
	z.mu.Unlock()
}

func (z *Server) Count(name string, qtype uint16) int {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.asked[dns.Fqdn(name)+" "+dns.TypeToString[qtype]]
}

// SetHandler sets Handler (safe while serving).
func (z *Server) SetHandler(h func(w dns.ResponseWriter, r *dns.Msg) bool) {
	z.mu.Lock()
	z.Handler = h
	z.mu.Unlock()
}

func (z *Server) serve(w dns.ResponseWriter, r *dns.Msg) {
	if len(r.Question) != 1 {
		return
	}
	q := r.Question[0]
	key := strings.ToLower(q.Name) + " " + dns.TypeToString[q.Qtype]
	z.mu.Lock()
	z.asked[key]++
	h := z.Handler
	var ans []dns.RR
	exists := false
	for _, rr := range z.rrs {
		if !strings.EqualFold(rr.Header().Name, q.Name) {
			continue
		}
		exists = true
		if rr.Header().Rrtype == q.Qtype || rr.Header().Rrtype == dns.TypeCNAME {
			ans = append(ans, dns.Copy(rr))
		}
	}
	// Follow one CNAME, as a recursive server would.
	for _, rr := range ans {
		if c, ok := rr.(*dns.CNAME); ok {
			for _, rr2 := range z.rrs {
				if strings.EqualFold(rr2.Header().Name, c.Target) && rr2.Header().Rrtype == q.Qtype {
					ans = append(ans, dns.Copy(rr2))
				}
			}
		}
	}
	soaTTL := z.soaTTL
	z.mu.Unlock()
	if h != nil && h(w, r) {
		return
	}
	m := new(dns.Msg)
	m.SetReply(r)
	switch {
	case !exists:
		m.Rcode = dns.RcodeNameError
	default:
		m.Answer = ans
	}
	if len(m.Answer) == 0 {
		soa, _ := dns.NewRR("test. 60 IN SOA ns.test. admin.test. 1 60 60 60 60")
		soa.(*dns.SOA).Minttl = soaTTL
		m.Ns = append(m.Ns, soa)
	}
	_ = w.WriteMsg(m)
}

// Silent starts a UDP socket that reads and never answers.
func Silent(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(b); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return pc.LocalAddr().String()
}

// Raw starts a UDP server answering every datagram with what reply makes of it.
func Raw(t testing.TB, reply func(q []byte) []byte) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(b)
			if err != nil {
				return
			}
			if out := reply(b[:n]); out != nil {
				_, _ = pc.WriteTo(out, from)
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return pc.LocalAddr().String()
}
