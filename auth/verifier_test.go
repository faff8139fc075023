package auth

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/sip"
)

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name, user, password string
		algs                 []string
		proxy                bool
		wantAlg              string
	}{
		{"sha256 first", "bob", "zanzibar", []string{SHA256, MD5}, false, SHA256},
		{"default md5", "bob", "zanzibar", nil, false, ""},
		{"md5 only", "bob", "zanzibar", []string{MD5}, false, ""},
		{"md5 first", "bob", "zanzibar", []string{MD5, SHA256}, false, SHA256},
		{"sha256 only", "bob", "zanzibar", []string{SHA256}, false, SHA256},
		{"proxy", "bob", "zanzibar", []string{SHA256, MD5}, true, SHA256},
		{"ha1 users sha256", "carol", "s3cret", []string{SHA256, MD5}, false, SHA256},
		{"ha1 users md5", "carol", "s3cret", []string{MD5}, false, ""},
		{"upper-case ha1 md5", "dave", "pw", []string{MD5}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, _ := testVerifier(t, func(c *Config) { c.Algorithms = tc.algs })
			req, c := authorized(t, v, tc.proxy, tc.user, tc.password)
			p := credentials(t, req, tc.proxy)
			if tc.wantAlg == "" && p.algorithm != MD5 || tc.wantAlg != "" && p.algorithm != tc.wantAlg {
				t.Errorf("client chose algorithm %q", p.algorithm)
			}
			if user, res := v.Verify(req, tc.proxy); res != OK || user != tc.user {
				t.Fatalf("Verify = %q, %v; want %q, OK", user, res, tc.user)
			}
			// The other header kind is not looked at.
			if _, res := v.Verify(req, !tc.proxy); res != Missing {
				t.Errorf("Verify of the other header = %v, want Missing", res)
			}
			// The next request reuses the challenge with nc=2.
			req2 := testRequest(t, "INVITE", "sip:alice@example.com")
			if !c.Apply(req2) {
				t.Fatal("Apply added nothing")
			}
			if p := credentials(t, req2, tc.proxy); p.nc != "00000002" || p.uri != "sip:alice@example.com" {
				t.Errorf("second request nc=%s uri=%s", p.nc, p.uri)
			}
			if _, res := v.Verify(req2, tc.proxy); res != OK {
				t.Errorf("second request: %v", res)
			}
		})
	}
}

// TestDefaultAlgorithms: a Config without Algorithms offers MD5 alone,
// the one challenge every common phone answers.
func TestDefaultAlgorithms(t *testing.T) {
	v, _ := testVerifier(t, func(c *Config) { c.Algorithms = nil })
	resp := v.Challenge(testRequest(t, "REGISTER", "sip:example.com"), false, false)
	var vals []string
	for val := range resp.Values("WWW-Authenticate") {
		vals = append(vals, val)
	}
	if len(vals) != 1 || !strings.Contains(vals[0], "algorithm=MD5") {
		t.Fatalf("default challenges = %q, want one MD5", vals)
	}
}

func TestChallengeShape(t *testing.T) {
	v, _ := testVerifier(t, nil)
	req := testRequest(t, "INVITE", "sip:alice@example.com")
	resp := v.Challenge(req, false, false)
	if resp.StatusCode != 401 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var vals []string
	for val := range resp.Values("WWW-Authenticate") {
		vals = append(vals, val)
	}
	if len(vals) != 2 || !strings.Contains(vals[0], "algorithm=SHA-256") || !strings.Contains(vals[1], "algorithm=MD5") {
		t.Fatalf("challenges = %q, want SHA-256 then MD5", vals)
	}
	for _, val := range vals {
		cr, _ := sip.ParseCredentials(val)
		p, err := parseDigest(cr.Params)
		if err != nil || p.realm != testRealm || p.qop != "auth" || p.opaque == "" || len(p.nonce) != nonceLen || p.stale != "" {
			t.Errorf("challenge %q: %+v %v", val, p, err)
		}
	}
	if resp.ToTag() == "" {
		t.Error("no To tag")
	}
	if _, ok := resp.Get("Proxy-Authenticate"); ok {
		t.Error("401 carries Proxy-Authenticate")
	}
	p := v.Challenge(req, true, true)
	if p.StatusCode != 407 {
		t.Fatalf("proxy status %d", p.StatusCode)
	}
	val, _ := p.Get("Proxy-Authenticate")
	if !strings.HasSuffix(val, "stale=true") {
		t.Errorf("stale challenge %q", val)
	}
	// Two challenges in a row carry different nonces.
	a, _ := v.Challenge(req, false, false).WWWAuthenticate()
	b, _ := v.Challenge(req, false, false).WWWAuthenticate()
	na, _ := a.Param("nonce")
	nb, _ := b.Param("nonce")
	if na == nb {
		t.Error("nonce reused")
	}
}

// normalize blanks what differs between any two challenges.
var volatile = regexp.MustCompile(`nonce="[^"]*"|tag=[0-9a-f]+`)

func TestWrongPasswordAndUnknownUserLookAlike(t *testing.T) {
	v, _ := testVerifier(t, nil)
	var responses []string
	for _, who := range [][2]string{{"bob", "wrong"}, {"mallory", "zanzibar"}, {"dave", "pw"}} {
		req, _ := authorized(t, v, false, who[0], who[1])
		user, res := v.Verify(req, false)
		if res != Failed || user != who[0] {
			t.Errorf("%s: Verify = %q, %v; want Failed", who[0], user, res)
		}
		responses = append(responses, volatile.ReplaceAllString(v.Reject(req, false, res).String(), "X"))
	}
	// dave has only an MD5 HA1 and answered SHA-256: also just Failed.
	if responses[0] != responses[1] || responses[1] != responses[2] {
		t.Errorf("responses differ:\n%s\n%s\n%s", responses[0], responses[1], responses[2])
	}
}

func TestReplay(t *testing.T) {
	v, _ := testVerifier(t, nil)
	req, c := authorized(t, v, false, "bob", "zanzibar")
	if _, res := v.Verify(req, false); res != OK {
		t.Fatalf("first: %v", res)
	}
	if _, res := v.Verify(req, false); res != Stale {
		t.Fatalf("replay: %v, want Stale", res)
	}
	// nc 2 and 3, verified out of order: 3 passes, 2 is refused.
	r2 := testRequest(t, "REGISTER", "sip:example.com")
	c.Apply(r2)
	r3 := testRequest(t, "REGISTER", "sip:example.com")
	c.Apply(r3)
	if _, res := v.Verify(r3, false); res != OK {
		t.Fatalf("nc=3: %v", res)
	}
	if _, res := v.Verify(r2, false); res != Stale {
		t.Fatalf("lower nc: %v, want Stale", res)
	}
	// A replay with a wrong password is Failed, and does not burn the nc.
	r4 := testRequest(t, "REGISTER", "sip:example.com")
	NewClientFrom(c, "wrong").Apply(r4)
	if _, res := v.Verify(r4, false); res != Failed {
		t.Fatalf("wrong password: %v", res)
	}
	r5 := testRequest(t, "REGISTER", "sip:example.com")
	c.Apply(r5) // nc 4, which the failed attempt did not use up
	if _, res := v.Verify(r5, false); res != OK {
		t.Fatalf("nc=4 after failed attempt: %v", res)
	}
}

// NewClientFrom copies c's remembered challenges into a client with another
// password (a forger who saw the challenge).
func NewClientFrom(c *Client, password string) *Client {
	n := NewClient(c.user, password)
	c.mu.Lock()
	for k, e := range c.cache {
		cp := *e
		n.cache[k] = &cp
	}
	c.mu.Unlock()
	return n
}

func TestExpiredNonce(t *testing.T) {
	v, clk := testVerifier(t, nil)
	req, c := authorized(t, v, false, "bob", "zanzibar")
	clk.Advance(DefaultNonceTTL + time.Second)
	if _, res := v.Verify(req, false); res != Stale {
		t.Fatalf("expired: %v, want Stale", res)
	}
	// An expired nonce with a wrong password is Failed, not Stale: stale
	// would tell a guesser nothing, but RFC 7616 reserves it for clients
	// that know the password.
	bad := testRequest(t, "REGISTER", "sip:example.com")
	NewClientFrom(c, "nope").Apply(bad)
	if _, res := v.Verify(bad, false); res != Failed {
		t.Fatalf("expired + wrong password: %v, want Failed", res)
	}
	resp := v.Reject(req, false, Stale)
	ch, _ := resp.WWWAuthenticate()
	if s, _ := ch.Param("stale"); s != "true" {
		t.Fatalf("re-challenge without stale=true: %s", resp)
	}
	// The client takes the stale challenge without giving up.
	next := testRequest(t, "REGISTER", "sip:example.com")
	next.Set("Authorization", hdr(req, "Authorization"))
	if err := c.Authorize(next, resp); err != nil {
		t.Fatalf("Authorize after stale: %v", err)
	}
	if _, res := v.Verify(next, false); res != OK {
		t.Fatalf("after stale: %v", res)
	}
}

func TestNonceFromFuture(t *testing.T) {
	v, clk := testVerifier(t, nil)
	req, _ := authorized(t, v, false, "bob", "zanzibar")
	clk.Advance(-time.Minute) // the node that made the nonce is a minute ahead
	if _, res := v.Verify(req, false); res != Stale {
		t.Fatalf("future nonce: %v, want Stale", res)
	}
}

func TestForeignNonce(t *testing.T) {
	other, _ := testVerifier(t, func(c *Config) { c.Key = []byte("another key") })
	v, _ := testVerifier(t, nil)
	req, _ := authorized(t, other, false, "bob", "zanzibar")
	if _, res := v.Verify(req, false); res != Stale {
		t.Errorf("right password, other key: %v, want Stale", res)
	}
	req, _ = authorized(t, other, false, "bob", "wrong")
	if _, res := v.Verify(req, false); res != Failed {
		t.Errorf("wrong password, other key: %v, want Failed", res)
	}
	// Same key, nodes sharing it: accepted.
	twin, _ := testVerifier(t, nil)
	req, _ = authorized(t, twin, false, "bob", "zanzibar")
	if _, res := v.Verify(req, false); res != OK {
		t.Errorf("sibling node's nonce: %v, want OK", res)
	}
	// A garbled nonce of the right length.
	req, _ = authorized(t, v, false, "bob", "zanzibar")
	p := credentials(t, req, false)
	garbled := []byte(p.nonce)
	garbled[5] ^= 1
	h, _ := req.Get("Authorization")
	req.Set("Authorization", strings.Replace(h, p.nonce, string(garbled), 1))
	if _, res := v.Verify(req, false); res != Failed {
		t.Errorf("garbled nonce (digest no longer matches): %v", res)
	}
}

func TestRealmSeparation(t *testing.T) {
	v, _ := testVerifier(t, nil)
	other, _ := testVerifier(t, func(c *Config) { c.Realm = "other.org"; c.Key = []byte("test key") })
	req, _ := authorized(t, other, false, "bob", "zanzibar")
	if _, res := v.Verify(req, false); res != Missing {
		t.Errorf("other realm only: %v, want Missing", res)
	}
	// Credentials for another realm next to ours: ours is found.
	req2, _ := authorized(t, v, false, "bob", "zanzibar")
	h, _ := req.Get("Authorization")
	h2, _ := req2.Get("Authorization")
	req2.Set("Authorization", h)
	req2.Add("Authorization", h2)
	if _, res := v.Verify(req2, false); res != OK {
		t.Errorf("ours after another realm: %v", res)
	}
	// A nonce of other.org (same key) relabelled as ours fails: the realm
	// is hashed into both the nonce MAC and HA1.
	req3, _ := authorized(t, other, false, "bob", "zanzibar")
	h3, _ := req3.Get("Authorization")
	req3.Set("Authorization", strings.Replace(h3, `realm="other.org"`, `realm="example.com"`, 1))
	if _, res := v.Verify(req3, false); res != Failed {
		t.Errorf("relabelled realm: %v, want Failed", res)
	}
}

func TestURIMismatch(t *testing.T) {
	v, _ := testVerifier(t, nil)
	c := NewClient("bob", "zanzibar")
	req := testRequest(t, "INVITE", "sip:alice@example.com")
	if err := c.Authorize(req, v.Challenge(req, false, false)); err != nil {
		t.Fatal(err)
	}
	other := testRequest(t, "INVITE", "sip:carol@example.com", "Authorization: "+hdr(req, "Authorization"))
	if _, res := v.Verify(other, false); res != Failed {
		t.Errorf("uri mismatch: %v, want Failed", res)
	}
	// The same URI written differently (§19.1.4 equal) is accepted.
	same := testRequest(t, "INVITE", "sip:alice@EXAMPLE.com", "Authorization: "+hdr(req, "Authorization"))
	if _, res := v.Verify(same, false); res != OK {
		t.Errorf("equal uri: %v, want OK", res)
	}
	// Method is part of the digest too.
	bye := testRequest(t, "BYE", "sip:alice@example.com", "Authorization: "+hdr(req, "Authorization"))
	if _, res := v.Verify(bye, false); res != Failed {
		t.Errorf("other method: %v, want Failed", res)
	}
}

func TestMalformedAndMissing(t *testing.T) {
	v, _ := testVerifier(t, nil)
	good, _ := authorized(t, v, false, "bob", "zanzibar")
	p := credentials(t, good, false)
	base := fmt.Sprintf(`username="bob", realm="example.com", nonce=%q, uri="sip:example.com", response=%q, algorithm=SHA-256, qop=auth, nc=00000001, cnonce="abc"`,
		p.nonce, p.response)
	for _, tc := range []struct {
		name   string
		header []string
		want   Result
	}{
		{"none", nil, Missing},
		{"basic", []string{"Authorization: Basic Ym9iOnphbnppYmFy"}, Missing},
		{"no params", []string{"Authorization: Digest"}, Missing},
		{"no scheme", []string{`Authorization: ="x"`}, Malformed},
		{"garbage", []string{`Authorization: Digest realm="example.com", username="bob`}, Malformed},
		{"duplicate", []string{`Authorization: Digest realm="example.com", realm="example.com"`}, Malformed},
		{"no nonce", []string{`Authorization: Digest ` + strings.Replace(base, `nonce="`+p.nonce+`",`, "", 1)}, Malformed},
		{"no username", []string{`Authorization: Digest ` + strings.Replace(base, `username="bob",`, "", 1)}, Malformed},
		{"no response", []string{`Authorization: Digest ` + strings.Replace(base, `response="`+p.response+`",`, "", 1)}, Malformed},
		{"no uri", []string{`Authorization: Digest ` + strings.Replace(base, `uri="sip:example.com",`, "", 1)}, Malformed},
		{"no cnonce", []string{`Authorization: Digest ` + strings.Replace(base, `, cnonce="abc"`, "", 1)}, Malformed},
		{"bad nc", []string{`Authorization: Digest ` + strings.Replace(base, "nc=00000001", "nc=1", 1)}, Malformed},
		{"zero nc", []string{`Authorization: Digest ` + strings.Replace(base, "nc=00000001", "nc=00000000", 1)}, Malformed},
		{"unknown algorithm", []string{`Authorization: Digest ` + strings.Replace(base, "SHA-256", "SHA-512-256", 1)}, Failed},
		{"auth-conf", []string{`Authorization: Digest ` + strings.Replace(base, "qop=auth", "qop=auth-conf", 1)}, Failed},
		{"userhash", []string{`Authorization: Digest ` + base + `, userhash=true`}, Failed},
		{"wrong cnonce", []string{`Authorization: Digest ` + base}, Failed},
		{"empty username", []string{`Authorization: Digest ` + strings.Replace(base, `username="bob"`, `username=""`, 1)}, Malformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := testRequest(t, "REGISTER", "sip:example.com", tc.header...)
			_, res := v.Verify(req, false)
			if res != tc.want {
				t.Errorf("Verify = %v, want %v", res, tc.want)
			}
			resp := v.Reject(req, false, res)
			switch res {
			case Malformed:
				if resp.StatusCode != 400 {
					t.Errorf("Reject status %d", resp.StatusCode)
				}
			case Missing, Failed:
				if resp.StatusCode != 401 {
					t.Errorf("Reject status %d", resp.StatusCode)
				}
			}
		})
	}
}

func TestUpperCaseResponse(t *testing.T) {
	v, _ := testVerifier(t, nil)
	req, _ := authorized(t, v, false, "bob", "zanzibar")
	p := credentials(t, req, false)
	h, _ := req.Get("Authorization")
	req.Set("Authorization", strings.Replace(h, p.response, strings.ToUpper(p.response), 1))
	if _, res := v.Verify(req, false); res != OK {
		t.Errorf("upper-case response: %v", res)
	}
}

// The RFC 2069 form: no qop, nc or cnonce.
func TestNoQop(t *testing.T) {
	for _, require := range []bool{false, true} {
		v, _ := testVerifier(t, func(c *Config) { c.RequireQop = require })
		req := testRequest(t, "REGISTER", "sip:example.com")
		resp := v.Challenge(req, false, false)
		cr, _ := resp.WWWAuthenticate()
		cr.Params = strings.Replace(cr.Params, `qop="auth", `, "", 1)
		val, err := Answer(cr, req.Method, req.URI.String(), "bob", "zanzibar", 1)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(val, "qop") || strings.Contains(val, "nc=") {
			t.Fatalf("RFC 2069 answer has qop: %s", val)
		}
		req.Set("Authorization", val)
		want := OK
		if require {
			want = Failed
		}
		if _, res := v.Verify(req, false); res != want {
			t.Errorf("RequireQop=%v: %v, want %v", require, res, want)
		}
	}
}

func TestSessAndAuthInt(t *testing.T) {
	v, _ := testVerifier(t, nil)
	for _, tc := range []struct{ alg, qop string }{
		{MD5Sess, "auth"}, {SHA256Sess, "auth"}, {SHA256, "auth-int"}, {MD5Sess, "auth-int"},
	} {
		t.Run(tc.alg+"/"+tc.qop, func(t *testing.T) {
			req := testRequest(t, "MESSAGE", "sip:alice@example.com")
			req.Body = []byte("hello")
			resp := v.Challenge(req, false, false)
			// Rewrite the challenge as a server offering these would send it.
			val, _ := resp.Get("WWW-Authenticate")
			val = strings.Replace(val, "algorithm=SHA-256", "algorithm="+tc.alg, 1)
			val = strings.Replace(val, `qop="auth"`, `qop="`+tc.qop+`"`, 1)
			resp.Set("WWW-Authenticate", val)
			c := NewClient("carol", "s3cret")
			if err := c.Authorize(req, resp); err != nil {
				t.Fatal(err)
			}
			if p := credentials(t, req, false); p.algorithm != tc.alg || p.qop != tc.qop {
				t.Fatalf("answered %s/%s", p.algorithm, p.qop)
			}
			if _, res := v.Verify(req, false); res != OK {
				t.Fatalf("Verify: %v", res)
			}
			if tc.qop == "auth-int" {
				// A changed body breaks auth-int.
				r2 := testRequest(t, "MESSAGE", "sip:alice@example.com")
				r2.Body = []byte("HELLO")
				c.Apply(r2)
				h, _ := r2.Get("Authorization")
				r3 := testRequest(t, "MESSAGE", "sip:alice@example.com", "Authorization: "+h)
				r3.Body = []byte("bye")
				if _, res := v.Verify(r3, false); res != Failed {
					t.Errorf("changed body: %v, want Failed", res)
				}
			}
		})
	}
}

func TestStoreErrors(t *testing.T) {
	down := errors.New("db down")
	v, err := NewVerifier(Config{Realm: testRealm, Store: storeFunc(func(context.Context, string, string) (Secret, error) {
		return Secret{}, down
	})})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := authorized(t, v, false, "bob", "zanzibar")
	if _, res := v.Verify(req, false); res != Unavailable {
		t.Fatalf("store down: %v", res)
	}
	if r := v.Reject(req, false, Unavailable); r.StatusCode != 500 {
		t.Errorf("Reject(Unavailable) = %d", r.StatusCode)
	}
	if r := v.Reject(req, false, OK); r != nil {
		t.Error("Reject(OK) != nil")
	}
}

type storeFunc func(ctx context.Context, user, realm string) (Secret, error)

func (f storeFunc) Lookup(ctx context.Context, user, realm string) (Secret, error) {
	return f(ctx, user, realm)
}

func TestConfigErrors(t *testing.T) {
	s := testStore(t)
	for _, cfg := range []Config{
		{Store: s},
		{Realm: "x"},
		{Realm: "x", Store: s, NonceTTL: -1},
		{Realm: "x", Store: s, Algorithms: []string{"SHA-512-256"}},
		{Realm: "x", Store: s, Algorithms: []string{MD5Sess}},
		{Realm: "x", Store: s, Algorithms: []string{MD5, "md5"}},
		{Realm: "x", Store: s, Algorithms: []string{""}},
	} {
		if _, err := NewVerifier(cfg); err == nil {
			t.Errorf("NewVerifier(%+v) accepted", cfg)
		}
	}
}

func TestResultString(t *testing.T) {
	if OK.String() != "OK" || Unavailable.String() != "Unavailable" || Result(0).String() != "Result(0)" || Result(99).String() != "Result(99)" {
		t.Error("Result.String")
	}
}

func TestReplayTableBounded(t *testing.T) {
	const ttl = int64(time.Minute)
	tb := newNCTable(ncShards) // one entry per shard
	a := [nonceMACLen]byte{0, 1}
	b := [nonceMACLen]byte{ncShards, 2} // same shard as a
	now := int64(time.Hour)
	if !tb.advance(a, now-10, 1, now, ttl) || !tb.advance(a, now-10, 2, now, ttl) || tb.advance(a, now-10, 2, now, ttl) {
		t.Fatal("basic nc order")
	}
	if !tb.advance(b, now-5, 1, now, ttl) {
		t.Fatal("b refused")
	}
	// a was evicted while live: it is refused from now on, never replayable.
	if tb.advance(a, now-10, 1, now, ttl) || tb.advance(a, now-10, 9, now, ttl) {
		t.Error("evicted live nonce accepted")
	}
	// Nonces newer than the floor are fine.
	c := [nonceMACLen]byte{2 * ncShards, 3}
	if !tb.advance(c, now-1, 1, now, ttl) {
		t.Error("newer nonce refused")
	}
	// Expired entries go without raising the floor.
	tb2 := newNCTable(ncShards)
	tb2.advance(a, 0, 1, 0, ttl)
	tb2.advance(b, now-5, 1, now, ttl) // a is expired by now
	if tb2.shards[0].floor != 0 {
		t.Errorf("floor raised by expired entry: %d", tb2.shards[0].floor)
	}
	if n := tb2.len(); n != 1 {
		t.Errorf("len = %d", n)
	}
}

// Through the Verifier: a table far smaller than the traffic still refuses
// every replay.
func TestReplayUnderPressure(t *testing.T) {
	v, _ := testVerifier(t, func(c *Config) { c.MaxNonces = ncShards })
	var reqs []*sip.Request
	for range 100 {
		req, _ := authorized(t, v, false, "bob", "zanzibar")
		if _, res := v.Verify(req, false); res != OK {
			// A nonce made before an eviction raised the floor may be
			// refused as stale; that is allowed, a replay is not.
			if res != Stale {
				t.Fatalf("Verify: %v", res)
			}
		}
		reqs = append(reqs, req)
	}
	for i, req := range reqs {
		if _, res := v.Verify(req, false); res == OK {
			t.Fatalf("replay %d accepted", i)
		}
	}
	if n := v.nc.len(); n > ncShards {
		t.Errorf("table holds %d > %d", n, ncShards)
	}
}

func TestConcurrentVerify(t *testing.T) {
	v, clk := testVerifier(t, nil)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			user, pass := "bob", "zanzibar"
			if g%2 == 1 {
				user, pass = "carol", "s3cret"
			}
			req, c := authorized(t, v, g%3 == 0, user, pass)
			if _, res := v.Verify(req, g%3 == 0); res != OK {
				t.Errorf("goroutine %d: %v", g, res)
				return
			}
			for i := range 200 {
				r := testRequest(t, "REGISTER", "sip:example.com")
				c.Apply(r)
				if _, res := v.Verify(r, g%3 == 0); res != OK {
					t.Errorf("goroutine %d request %d: %v", g, i, res)
					return
				}
				if i%50 == 0 {
					clk.Advance(time.Millisecond)
				}
			}
		})
	}
	// Config reloads race with lookups.
	s := v.store.(*StaticStore)
	wg.Go(func() {
		for range 100 {
			_ = s.Replace([]User{{Name: "bob", Password: "zanzibar"},
				{Name: "carol", Realm: testRealm, Password: "s3cret"}})
		}
	})
	wg.Wait()
}

func hdr(req *sip.Request, name string) string {
	v, _ := req.Get(name)
	return v
}
