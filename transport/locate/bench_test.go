package locate

import (
	"context"
	"testing"

	"github.com/parley-sip/parley/transport/locate/locatetest"
)

// BenchmarkLookupCached is a lookup answered from the cache: no NAPTR,
// two SRV records per transport (UDP, TCP), A records — what the proxy
// pays per branch to a name once the cache is warm.
func BenchmarkLookupCached(b *testing.B) {
	z := locatetest.NewServer(b, testZone...)
	d := newTestDNS(b, DNSConfig{}, z)
	u := mustURI(b, "sip:bob@srv.test")
	ctx := context.Background()
	if _, err := d.Lookup(ctx, u); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Lookup(ctx, u); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupIP is the numeric-IP path (no DNS at all).
func BenchmarkLookupIP(b *testing.B) {
	d := newTestDNS(b, DNSConfig{}, locatetest.NewServer(b))
	u := mustURI(b, "sip:bob@192.0.2.1:5060;transport=tcp")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Lookup(ctx, u); err != nil {
			b.Fatal(err)
		}
	}
}
