package auth

import (
	"strings"
	"testing"

	"github.com/parley-sip/parley/sip"
)

// quoteAll writes parameters back, every value quoted, for the round trip.
func (d *digestParams) quoteAll() string {
	var b strings.Builder
	for _, kv := range [][2]string{
		{"username", d.username}, {"realm", d.realm}, {"nonce", d.nonce}, {"uri", d.uri},
		{"response", d.response}, {"algorithm", d.algorithm}, {"cnonce", d.cnonce},
		{"opaque", d.opaque}, {"qop", d.qop}, {"nc", d.nc}, {"userhash", d.userhash},
		{"stale", d.stale}, {"domain", d.domain},
	} {
		if kv[1] == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(kv[0] + "=" + sip.Quote(kv[1]))
	}
	return b.String()
}

// FuzzParseDigest: parsing never panics, and whatever parses re-writes (all
// values quoted) and parses to the same parameters.
func FuzzParseDigest(f *testing.F) {
	f.Add(`username="bob", realm="example.com", nonce="abc", uri="sip:example.com", response="0123", algorithm=MD5, qop=auth, nc=00000001, cnonce="x"`)
	f.Add(`realm="a\"b", nonce=n,uri=sip:x;lr`)
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDigest(s)
		if err != nil {
			return
		}
		again, err := parseDigest(d.quoteAll())
		if err != nil {
			t.Fatalf("re-parse of %q: %v", d.quoteAll(), err)
		}
		if again != d {
			t.Fatalf("round trip:\n%+v\n%+v", d, again)
		}
	})
}

// FuzzVerify: any Authorization value, alone or beside a valid one, never
// panics, and never authenticates unless it is the valid one untouched.
func FuzzVerify(f *testing.F) {
	f.Add(`Digest username="bob", realm="example.com", nonce="x", uri="sip:example.com", response="00", qop=auth, nc=00000001, cnonce="c"`)
	f.Add(`Digest realm="example.com"`)
	f.Add(`Basic Ym9iOnphbnppYmFy`)
	v, _ := testVerifier(f, nil)
	valid, _ := authorized(f, v, false, "bob", "zanzibar")
	good := hdr(valid, "Authorization")
	f.Add(good)
	f.Fuzz(func(t *testing.T, s string) {
		req := testRequest(t, "REGISTER", "sip:example.com")
		req.Set("Authorization", s)
		user, res := v.Verify(req, false)
		if res == OK && (user != "bob" || !strings.Contains(s, "example.com")) {
			t.Fatalf("forged credentials accepted: %q", s)
		}
		_ = v.Reject(req, false, res)
		req.Add("Authorization", good)
		_, _ = v.Verify(req, false)
		_, _ = v.Verify(req, true)
		if cr, err := sip.ParseCredentials(s); err == nil {
			_, _ = Answer(cr, "REGISTER", "sip:example.com", "bob", "zanzibar", 1)
		}
		// The same text as a challenge: whatever the client writes back
		// must parse.
		resp := sip.NewResponse(req, 407, "")
		resp.Add("Proxy-Authenticate", s)
		r := testRequest(t, "REGISTER", "sip:example.com")
		if err := NewClient("bob", "zanzibar").Authorize(r, resp); err == nil {
			for val := range r.Values("Proxy-Authorization") {
				cr, err := sip.ParseCredentials(val)
				if err != nil {
					t.Fatalf("client wrote %q: %v", val, err)
				}
				if _, err := parseDigest(cr.Params); err != nil {
					t.Fatalf("client wrote %q: %v", val, err)
				}
			}
		}
	})
}
