package auth

import (
	"testing"

	"github.com/parley-sip/parley/sip"
)

// BenchmarkVerify measures one successful verification, replay check
// included. Requests are prepared in batches outside the timer, each with the
// next nc on one nonce, as a phone re-registering or calling sends them.
func BenchmarkVerify(b *testing.B) {
	for _, tc := range []struct {
		name, user, password string
		algs                 []string
	}{
		{"SHA-256/password", "bob", "zanzibar", []string{SHA256, MD5}},
		{"SHA-256/HA1", "carol", "s3cret", []string{SHA256, MD5}},
		{"MD5/password", "bob", "zanzibar", []string{MD5}},
		{"MD5/HA1", "carol", "s3cret", []string{MD5}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			v, _ := testVerifier(b, func(c *Config) { c.Algorithms = tc.algs })
			_, c := authorized(b, v, false, tc.user, tc.password)
			batch := make([]*sip.Request, 512)
			fill := func() {
				for i := range batch {
					r := testRequest(b, "REGISTER", "sip:example.com")
					c.Apply(r)
					batch[i] = r
				}
			}
			fill()
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				if i == len(batch) {
					b.StopTimer()
					fill()
					i = 0
					b.StartTimer()
				}
				if _, res := v.Verify(batch[i], false); res != OK {
					b.Fatal(res)
				}
				i++
			}
		})
	}
}

// BenchmarkVerifyFailed is a wrong password (or unknown user): the cost a
// password-guessing flood puts on the server.
func BenchmarkVerifyFailed(b *testing.B) {
	v, _ := testVerifier(b, nil)
	req, _ := authorized(b, v, false, "mallory", "guess")
	b.ReportAllocs()
	for b.Loop() {
		if _, res := v.Verify(req, false); res != Failed {
			b.Fatal(res)
		}
	}
}

// BenchmarkVerifyParallel verifies from all Ps at once, one phone per
// goroutine. Each iteration includes the phone's own answer (about as much
// hashing as the verification), so halve the time for the server's share.
func BenchmarkVerifyParallel(b *testing.B) {
	v, _ := testVerifier(b, nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		_, c := authorized(b, v, false, "bob", "zanzibar")
		r := testRequest(b, "REGISTER", "sip:example.com")
		for pb.Next() {
			c.Apply(r)
			if _, res := v.Verify(r, false); res != OK {
				b.Error(res)
				return
			}
		}
	})
}

func BenchmarkChallenge(b *testing.B) {
	v, _ := testVerifier(b, nil)
	req := testRequest(b, "REGISTER", "sip:example.com")
	b.ReportAllocs()
	for b.Loop() {
		_ = v.Challenge(req, false, false)
	}
}

func BenchmarkParseDigest(b *testing.B) {
	s := `username="bob", realm="example.com", nonce="ZmFrZW5vbmNlZmFrZW5vbmNlZmFrZW5vbmNlZmFrZW4", uri="sip:example.com", response="0123456789abcdef0123456789abcdef", algorithm=MD5, qop=auth, nc=00000001, cnonce="0a4f113b", opaque="5ccc069c403ebaf9"`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseDigest(s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClientAuthorize(b *testing.B) {
	v, _ := testVerifier(b, nil)
	req := testRequest(b, "REGISTER", "sip:example.com")
	resp := v.Challenge(req, false, false)
	c := NewClient("bob", "zanzibar")
	b.ReportAllocs()
	for b.Loop() {
		r := testRequest(b, "REGISTER", "sip:example.com")
		if err := c.Authorize(r, resp); err != nil {
			b.Fatal(err)
		}
	}
}
