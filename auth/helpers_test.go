package auth

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/sip"
)

// fakeClock is a settable clock for nonce expiry tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const testRealm = "example.com"

// testRequest parses a REGISTER (or other method) to ruri, with the extra
// header lines given.
func testRequest(tb testing.TB, method, ruri string, extra ...string) *sip.Request {
	tb.Helper()
	var b strings.Builder
	b.WriteString(method + " " + ruri + " SIP/2.0\r\n")
	b.WriteString("Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK776asdhds\r\n")
	b.WriteString("Max-Forwards: 70\r\n")
	b.WriteString("To: Bob <sip:bob@example.com>\r\n")
	b.WriteString("From: Bob <sip:bob@example.com>;tag=1928301774\r\n")
	b.WriteString("Call-ID: a84b4c76e66710@pc33.example.com\r\n")
	b.WriteString("CSeq: 1 " + method + "\r\n")
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	m, err := sip.Parse([]byte(b.String()))
	if err != nil {
		tb.Fatalf("parse test request: %v", err)
	}
	return m.(*sip.Request)
}

// testStore has bob (password), carol (both HA1s), dave (MD5 HA1 only).
func testStore(tb testing.TB) *StaticStore {
	tb.Helper()
	s, err := NewStaticStore([]User{
		{Name: "bob", Password: "zanzibar"},
		{Name: "carol", Realm: testRealm, HA1: HA1MD5("carol", testRealm, "s3cret"),
			HA1SHA256: HA1SHA256("carol", testRealm, "s3cret")},
		{Name: "dave", Realm: testRealm, HA1: strings.ToUpper(HA1MD5("dave", testRealm, "pw"))},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func testVerifier(tb testing.TB, mod func(*Config)) (*Verifier, *fakeClock) {
	tb.Helper()
	clk := newFakeClock()
	// Both algorithms, SHA-256 preferred: most tests exercise the choice
	// between them (TestDefaultAlgorithms covers the zero Config's MD5).
	cfg := Config{Realm: testRealm, Store: testStore(tb), Clock: clk.Now, Key: []byte("test key"), Algorithms: []string{SHA256, MD5}}
	if mod != nil {
		mod(&cfg)
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return v, clk
}

// authorized returns a request that answers a fresh challenge of v as
// user/password, and the client that answered.
func authorized(tb testing.TB, v *Verifier, proxy bool, user, password string) (*sip.Request, *Client) {
	tb.Helper()
	req := testRequest(tb, "REGISTER", "sip:example.com")
	c := NewClient(user, password)
	if err := c.Authorize(req, v.Challenge(req, proxy, false)); err != nil {
		tb.Fatalf("Authorize: %v", err)
	}
	return req, c
}

// credentials returns the parsed parameters of the request's credentials.
func credentials(tb testing.TB, req *sip.Request, proxy bool) digestParams {
	tb.Helper()
	_, name, _ := headerNames(proxy)
	v, ok := req.Get(name)
	if !ok {
		tb.Fatalf("no %s header", name)
	}
	c, err := sip.ParseCredentials(v)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := parseDigest(c.Params)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}
