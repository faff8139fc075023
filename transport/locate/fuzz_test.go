package locate

import (
	"context"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/parley-sip/parley/sip"
)

// msgBackend answers every question from one DNS message, as a server
// sending that message to each query would.
type msgBackend struct{ m *dns.Msg }

func (b msgBackend) rrs(name string, qtype uint16) []dns.RR {
	rrs, _ := answerRecords(b.m, dns.Fqdn(name), qtype)
	return rrs
}

func (b msgBackend) naptr(_ context.Context, name string) ([]naptr, error) {
	return naptrsFrom(b.rrs(name, dns.TypeNAPTR)), nil
}

func (b msgBackend) srv(_ context.Context, name string) ([]srv, error) {
	return srvsFrom(b.rrs(name, dns.TypeSRV)), nil
}

func (b msgBackend) addrs(_ context.Context, name string) ([]netip.Addr, error) {
	return addrsFrom(b.rrs(name, dns.TypeA), b.rrs(name, dns.TypeAAAA)), nil
}

// FuzzDNSAnswer feeds arbitrary DNS messages to the RFC 3263 engine as the
// answer to every question: it must never panic, never return more than
// MaxTargets, and return only addresses with a transport. Seeds in
// testdata/fuzz/FuzzDNSAnswer are packed answers with NAPTR, SRV (one of
// them a CNAME chain), A and AAAA records for f.test.
func FuzzDNSAnswer(f *testing.F) {
	uris := []sip.URI{}
	for _, s := range []string{"sip:f.test", "sips:f.test", "sip:f.test;transport=tcp", "sip:f.test:5070", "sip:x@y;maddr=f.test"} {
		u, err := sip.ParseURI(s)
		if err != nil {
			f.Fatal(err)
		}
		uris = append(uris, u)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m := new(dns.Msg)
		if err := m.Unpack(b); err != nil {
			return
		}
		_ = negativeTTL(m)
		e := newEngine(msgBackend{m}, nil, 1, true)
		for _, u := range uris {
			out, err := e.lookup(context.Background(), u)
			if err != nil {
				continue
			}
			if len(out) == 0 || len(out) > MaxTargets {
				t.Fatalf("%s: %d targets without error", u.String(), len(out))
			}
			for _, a := range out {
				if a.Transport == "" || !a.AddrPort.IsValid() {
					t.Fatalf("%s: bad target %+v", u.String(), a)
				}
			}
		}
	})
}
