package proxy

import (
	"strings"
	"testing"

	"github.com/parley-sip/parley/sip"
)

// TestContactBecomesCleanRequestURI: a registered contact becomes the new
// Request-URI without what §19.1.1's table forbids there — URI headers
// ("?Route=...") and the method parameter (§16.6 step 2) — and with every
// parameter a Request-URI may carry (maddr, ttl, transport, lr, unknown).
// The request line the callee reads is compared byte for byte; the URI
// headers were dropped, not turned into header fields.
func TestContactBecomesCleanRequestURI(t *testing.T) {
	cases := []struct{ name, suffix, want string }{
		{"route header", "?Route=%3Csip:evil.example%3E", ""},
		{"several headers", ";transport=udp?Route=%3Csip:evil.example%3E&Subject=hi&body=x", ";transport=udp"},
		{"method param", ";method=INVITE", ""},
		{"method among others", ";x-a=1;METHOD=REGISTER;x-b", ";x-a=1;x-b"},
		{"allowed params kept", ";maddr=127.0.0.1;ttl=1;transport=udp;lr;user=ip;x=y", ";maddr=127.0.0.1;ttl=1;transport=udp;lr;user=ip;x=y"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			callee := newUAS(t, nil, 0, 0)
			contact := callee.uri("bob")
			s := newStack(t, locatorFor(t, map[string][]Target{"bob@example.test": {target(t, contact+tc.suffix, 1000)}}))
			caller := newUA(t)
			c := caller.newCall("sip:bob@example.test")
			caller.send(s.addr, c.req(sip.MESSAGE, "sip:bob@example.test", 1))
			caller.response(sip.MESSAGE, 200)
			got := callee.waitFor(t, sip.MESSAGE, 1)[0]
			line, _, _ := strings.Cut(got.String(), "\r\n")
			if want := "MESSAGE " + contact + tc.want + " SIP/2.0"; line != want {
				t.Errorf("request line %q, want %q", line, want)
			}
			for _, h := range []string{"Route", "Subject"} {
				if got.Has(h) {
					t.Errorf("forwarded request has %s: %v", h, got.String())
				}
			}
			s.settle(t)
		})
	}
}
