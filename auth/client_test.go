package auth

import (
	"errors"
	"strings"
	"testing"

	"github.com/parley-sip/parley/sip"
)

func TestClientRejected(t *testing.T) {
	v, _ := testVerifier(t, nil)
	req, c := authorized(t, v, false, "bob", "wrong")
	_, res := v.Verify(req, false)
	if res != Failed {
		t.Fatalf("Verify = %v", res)
	}
	// The UA re-sends with the old credentials still on the request.
	err := c.Authorize(req, v.Reject(req, false, res))
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("Authorize after failure = %v, want ErrRejected", err)
	}
}

func TestClientErrors(t *testing.T) {
	req := testRequest(t, "REGISTER", "sip:example.com")
	c := NewClient("bob", "zanzibar")
	resp := sip.NewResponse(req, 200, "")
	if err := c.Authorize(req, resp); !errors.Is(err, ErrNoChallenge) {
		t.Errorf("200: %v", err)
	}
	resp = sip.NewResponse(req, 401, "")
	if err := c.Authorize(req, resp); !errors.Is(err, ErrNoChallenge) {
		t.Errorf("401 without challenge: %v", err)
	}
	resp.Add("WWW-Authenticate", `Digest realm="x", nonce="n", algorithm=SHA-512-256, qop="auth"`)
	if err := c.Authorize(req, resp); !errors.Is(err, ErrUnsupported) {
		t.Errorf("SHA-512-256 only: %v", err)
	}
	resp.Set("WWW-Authenticate", `Digest realm="x", nonce="n", qop="auth-conf"`)
	if err := c.Authorize(req, resp); !errors.Is(err, ErrUnsupported) {
		t.Errorf("auth-conf only: %v", err)
	}
	resp.Set("WWW-Authenticate", `Basic realm="x"`)
	if err := c.Authorize(req, resp); !errors.Is(err, ErrNoChallenge) {
		t.Errorf("Basic: %v", err)
	}
	// A supported one beside an unsupported one is taken.
	resp.Set("WWW-Authenticate", `Digest realm="x", nonce="n", algorithm=SHA-512-256, qop="auth"`)
	resp.Add("WWW-Authenticate", `Digest realm="x", nonce="n", algorithm=MD5, qop="auth"`)
	if err := c.Authorize(req, resp); err != nil {
		t.Errorf("MD5 beside SHA-512-256: %v", err)
	}
	if _, err := Answer(sip.Credentials{Scheme: "Digest", Params: `realm="x"`}, "REGISTER", "sip:x", "a", "b", 1); !errors.Is(err, ErrNoChallenge) {
		t.Errorf("Answer without nonce: %v", err)
	}
	if _, err := Answer(sip.Credentials{Scheme: "Digest", Params: `realm="x", nonce="n", qop="auth-int"`}, "REGISTER", "sip:x", "a", "b", 1); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Answer auth-int only: %v", err)
	}
	if _, err := Answer(sip.Credentials{Scheme: "Digest", Params: `realm="x", nonce="n", algorithm=MD5-sess`}, "REGISTER", "sip:x", "a", "b", 1); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Answer -sess without qop: %v", err)
	}
}

// Two proxies on the path each challenge; both are answered, and answering
// one again keeps the other's credentials.
func TestClientSeveralRealms(t *testing.T) {
	v1, _ := testVerifier(t, nil)
	v2, _ := testVerifier(t, func(c *Config) {
		c.Realm = "b.example"
		c.Store = mustStore(t, User{Name: "bob", Password: "zanzibar"})
	})
	req := testRequest(t, "INVITE", "sip:alice@example.com")
	resp := v1.Challenge(req, true, false)
	r2 := v2.Challenge(req, true, false)
	for val := range r2.Values("Proxy-Authenticate") {
		resp.Add("Proxy-Authenticate", val)
	}
	c := NewClient("bob", "zanzibar")
	if err := c.Authorize(req, resp); err != nil {
		t.Fatal(err)
	}
	n := 0
	for range req.Values("Proxy-Authorization") {
		n++
	}
	if n != 2 {
		t.Fatalf("%d Proxy-Authorization headers, want 2", n)
	}
	for _, v := range []*Verifier{v1, v2} {
		if _, res := v.Verify(req, true); res != OK {
			t.Errorf("%s: %v", v.Realm(), res)
		}
	}
	// v2 goes stale; re-answering it keeps v1's header.
	if err := c.Authorize(req, v2.Challenge(req, true, true)); err != nil {
		t.Fatal(err)
	}
	n = 0
	for val := range req.Values("Proxy-Authorization") {
		n++
		if strings.Contains(val, `realm="b.example"`) && !strings.Contains(val, "nc=00000001") {
			t.Errorf("re-answered realm has %s", val)
		}
	}
	if n != 2 {
		t.Errorf("%d headers after re-answer", n)
	}
	c.Forget()
	if c.Apply(testRequest(t, "BYE", "sip:alice@example.com")) {
		t.Error("Apply after Forget added credentials")
	}
}

func mustStore(t testing.TB, users ...User) *StaticStore {
	s, err := NewStaticStore(users)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestClientQuotes(t *testing.T) {
	// Usernames and realms with quotes and backslashes survive quoting.
	s := mustStore(t, User{Name: `we"ird\user`, Password: "p"})
	v, _ := testVerifier(t, func(c *Config) { c.Realm = `the "realm"`; c.Store = s })
	req, _ := authorized(t, v, false, `we"ird\user`, "p")
	if user, res := v.Verify(req, false); res != OK || user != `we"ird\user` {
		t.Errorf("Verify = %q %v", user, res)
	}
}

func TestConsume(t *testing.T) {
	v1, _ := testVerifier(t, nil)
	v2, _ := testVerifier(t, func(c *Config) { c.Realm = "b.example" })
	req := testRequest(t, "INVITE", "sip:alice@example.com")
	c := NewClient("bob", "zanzibar")
	resp := v1.Challenge(req, true, false)
	for val := range v2.Challenge(req, true, false).Values("Proxy-Authenticate") {
		resp.Add("Proxy-Authenticate", val)
	}
	if err := c.Authorize(req, resp); err != nil {
		t.Fatal(err)
	}
	v1.Consume(req, true)
	var left []string
	for val := range req.Values("Proxy-Authorization") {
		left = append(left, val)
	}
	if len(left) != 1 || !strings.Contains(left[0], `realm="b.example"`) {
		t.Errorf("after Consume: %q", left)
	}
	v1.Consume(req, true) // nothing of ours left: no change
	if got := hdr(req, "Proxy-Authorization"); got != left[0] {
		t.Errorf("second Consume changed the request: %q", got)
	}
}
