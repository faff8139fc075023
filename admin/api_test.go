package admin

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/internal/peertest"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/server"
	"github.com/parley-sip/parley/sip"
)

func TestAuthRequired(t *testing.T) {
	e := startEnv(t, testConfig(t))
	for _, tc := range []struct {
		authz string
		want  int
	}{
		{"", 401},
		{"Bearer wrong-token-xxxxxxxx", 401},
		{"Basic YWRtaW46d3Jvbmc=", 401},
		{"Bearer " + testToken, 200},
	} {
		code, body := e.doAuth("GET", "/api/status", "", tc.authz)
		if code != tc.want {
			t.Errorf("Authorization %q: %d %s, want %d", tc.authz, code, body, tc.want)
		}
		if code != 200 && !json.Valid(body) {
			t.Errorf("Authorization %q: error body is not JSON: %s", tc.authz, body)
		}
	}
	if code, _ := e.doAuth("GET", "/metrics", "", ""); code != 401 {
		t.Errorf("/metrics without credentials: %d, want 401", code)
	}
	// Wrong guesses lock the source out (5 per minute): then even the
	// right token gets 429.
	for range 6 {
		e.doAuth("GET", "/api/status", "", "Bearer guess-guess-guess-guess")
	}
	if code, body := e.doAuth("GET", "/api/status", "", "Bearer "+testToken); code != 429 {
		t.Errorf("after 7 wrong tokens: %d %s, want 429", code, body)
	}
}

func TestBasicAuthUsers(t *testing.T) {
	cfg := testConfig(t)
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Admin.Token = ""
	cfg.Admin.Users = []config.AdminUser{{Name: "ops", PasswordHash: h}}
	e := startEnv(t, cfg)
	if code, b := e.doAuth("GET", "/api/status", "", "Basic b3BzOmNvcnJlY3QgaG9yc2U="); code != 200 {
		t.Errorf("right password: %d %s", code, b)
	}
	if code, _ := e.doAuth("GET", "/api/status", "", "Basic b3BzOndyb25n"); code != 401 {
		t.Errorf("wrong password: %d, want 401", code)
	}
}

func TestRefusesPublicWithoutAuth(t *testing.T) {
	cfg := testConfig(t)
	cfg.Admin = config.Admin{Listen: "0.0.0.0:0"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "admin.listen") {
		t.Fatalf("Validate: %v, want an admin.listen error", err)
	}
	srv, err := server.New(testConfig(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	srv.Config().Admin = config.Admin{Listen: "0.0.0.0:0"}
	if _, err := New(srv, Options{}); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Fatalf("New: %v, want a refusal", err)
	}
}

func TestStatusAndMetrics(t *testing.T) {
	e := startEnv(t, testConfig(t))
	e.sendSIP(options("status-1"))
	var st statusDoc
	e.getJSON("/api/status", &st)
	if st.Version != "test" || len(st.Listeners) != 1 || st.Counts.Users != 2 || st.Counts.CallsCaptured != 1 {
		t.Errorf("status: %+v", st)
	}
	code, body := e.do("GET", "/metrics", "")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		"parley_sip_messages_received_total 1", "parley_sip_messages_sent_total 1",
		`parley_sip_transactions_created_total{kind="server"} 1`, "parley_users 2",
		"parley_registrations 0", "parley_capture_calls 1", `parley_build_info{version="test"} 1`,
		"go_goroutines", `parley_guard_dropped_total{reason="banned"} 0`, "parley_sip_stage_requests_total{stage=",
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func putBinding(t *testing.T, e *testEnv, user, contact string) {
	t.Helper()
	err := e.srv.Store().Put(context.Background(), location.Binding{
		AOR: "sip:" + user + "@example.test", Contact: contact, Expires: time.Now().Add(time.Hour), Q: location.QMax,
		CallID: "c-" + contact, CSeq: 1, Source: netip.MustParseAddrPort("127.0.0.9:5099"), Transport: "UDP",
		UserAgent: "TestPhone/1.0", Updated: time.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRegistrationsPagedAndUnregister(t *testing.T) {
	e := startEnv(t, testConfig(t))
	for i := range 5 {
		putBinding(t, e, "alice", "sip:alice@127.0.0.9:"+string(rune('1'+i))+"000")
	}
	putBinding(t, e, "bob", "sip:bob@127.0.0.9:7000")
	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		var p registrationsPage
		e.getJSON("/api/registrations?limit=2&cursor="+cursor, &p)
		if p.Total != 6 {
			t.Fatalf("total %d, want 6", p.Total)
		}
		for _, r := range p.Registrations {
			seen = append(seen, r.Contact)
			if r.UserAgent != "TestPhone/1.0" || r.Source != "127.0.0.9:5099" || r.Transport != "UDP" || r.ExpiresIn <= 0 {
				t.Errorf("registration %+v", r)
			}
		}
		if p.Next == "" {
			break
		}
		cursor = p.Next
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if len(seen) != 6 {
		t.Fatalf("paged through %d registrations, want 6: %v", len(seen), seen)
	}
	var p registrationsPage
	e.getJSON("/api/registrations?user=bob", &p)
	if len(p.Registrations) != 1 || p.Registrations[0].User != "bob" {
		t.Fatalf("user=bob: %+v", p)
	}
	if code, b := e.do("DELETE", "/api/registrations/alice?contact=sip:alice@127.0.0.9:1000", ""); code != 200 {
		t.Fatalf("unregister one: %d %s", code, b)
	}
	if code, _ := e.do("DELETE", "/api/registrations/alice?contact=sip:alice@127.0.0.9:1000", ""); code != 404 {
		t.Errorf("unregister again: %d, want 404", code)
	}
	e.getJSON("/api/registrations?user=alice", &p)
	if p.Total != 4 {
		t.Errorf("alice has %d registrations after removing one, want 4", p.Total)
	}
	if code, b := e.do("DELETE", "/api/registrations/alice", ""); code != 200 {
		t.Fatalf("unregister all: %d %s", code, b)
	}
	e.getJSON("/api/registrations", &p)
	if p.Total != 1 {
		t.Errorf("%d registrations left, want bob's 1", p.Total)
	}
}

func TestUsersLiveAndPersistent(t *testing.T) {
	cfg := testConfig(t)
	e := startEnv(t, cfg)
	if code, b := e.do("POST", "/api/users", `{"name":"carol","password":"carolpw1"}`); code != 201 {
		t.Fatalf("add carol: %d %s", code, b)
	}
	if code, _ := e.do("POST", "/api/users", `{"name":"carol","password":"carolpw1"}`); code != 409 {
		t.Errorf("add carol twice: %d, want 409", code)
	}
	if code, _ := e.do("DELETE", "/api/users/alice", ""); code != 409 {
		t.Errorf("remove a config user: %d, want 409", code)
	}
	// The registrar knows carol at once: a REGISTER gets a challenge
	// (401), where an unknown user would get 404... verify via digest.
	check := func(user, pw string) int {
		t.Helper()
		return registerDigest(t, e, user, pw)
	}
	if got := check("carol", "carolpw1"); got != 200 {
		t.Errorf("carol registers: %d, want 200", got)
	}
	if code, b := e.do("PUT", "/api/users/carol", `{"password":"newpass99"}`); code != 200 {
		t.Fatalf("change password: %d %s", code, b)
	}
	if got := check("carol", "carolpw1"); got == 200 {
		t.Errorf("old password still works")
	}
	if got := check("carol", "newpass99"); got != 200 {
		t.Errorf("new password: %d, want 200", got)
	}
	data, err := os.ReadFile(filepath.Join(cfg.Data, usersFile))
	if err != nil || !bytes.Contains(data, []byte(`"carol"`)) || bytes.Contains(data, []byte("newpass99")) {
		t.Errorf("users.json: %v %s (want carol, no plain password)", err, data)
	}
	var list struct{ Users []userInfo }
	e.getJSON("/api/users", &list)
	if len(list.Users) != 3 {
		t.Errorf("users: %+v", list.Users)
	}
	if code, _ := e.do("DELETE", "/api/users/carol", ""); code != 204 {
		t.Errorf("remove carol: %d", code)
	}
	if got := check("carol", "newpass99"); got == 200 {
		t.Errorf("removed user still registers")
	}
}

// registerDigest registers user over UDP, answering one challenge, and
// returns the final status.
func registerDigest(t *testing.T, e *testEnv, user, pw string) int {
	t.Helper()
	reg := func(cseq, branch, authz string) string {
		m := "REGISTER sip:example.test SIP/2.0\n" +
			"Via: SIP/2.0/UDP LOCAL;branch=z9hG4bK-" + branch + "\n" +
			"From: <sip:" + user + "@example.test>;tag=r1\n" +
			"To: <sip:" + user + "@example.test>\n" +
			"Call-ID: reg-" + user + "-" + pw + "\n" +
			"CSeq: " + cseq + " REGISTER\n" +
			"Contact: <sip:" + user + "@127.0.0.1:5999>\n" +
			"Max-Forwards: 70\n"
		if authz != "" {
			m += "Authorization: " + authz + "\n"
		}
		return m + "Expires: 600\nContent-Length: 0\n\n"
	}
	first := reg("1", user+pw+"1", "")
	resp := e.sendSIP(first)
	if !strings.HasPrefix(resp, "SIP/2.0 401") {
		return statusOf(resp)
	}
	var p sip.Parser
	rm, err := p.Parse([]byte(resp))
	if err != nil {
		t.Fatal(err)
	}
	qm, err := p.Parse([]byte(strings.ReplaceAll(strings.ReplaceAll(first, "LOCAL", "127.0.0.1:1"), "\n", "\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	req := qm.(*sip.Request)
	if err := auth.NewClient(user, pw).Authorize(req, rm.(*sip.Response)); err != nil {
		t.Fatalf("answer challenge: %v", err)
	}
	h, _ := req.Headers.Get("Authorization")
	return statusOf(e.sendSIP(reg("2", user+pw+"2", h)))
}

func statusOf(resp string) int {
	if len(resp) < 12 {
		return 0
	}
	n := 0
	for _, d := range resp[8:11] {
		n = n*10 + int(d-'0')
	}
	return n
}

func TestBadInputChangesNothing(t *testing.T) {
	e := startEnv(t, testConfig(t))
	for _, tc := range []struct {
		method, path, body string
		want               int
		mention            string
	}{
		{"POST", "/api/users", `{"name":"dave","password":"davepw12","admin":true}`, 400, `"admin"`},
		{"POST", "/api/users", `{"name":42,"password":"davepw12"}`, 400, `"name"`},
		{"POST", "/api/users", `{"name":"dave"}`, 400, `password`},
		{"POST", "/api/users", `{"name":"da ve","password":"davepw12"}`, 400, `name`},
		{"POST", "/api/users", `{"name":"dave","password":"davepw12"} {}`, 400, `after`},
		{"POST", "/api/users", `not json`, 400, `JSON`},
		{"POST", "/api/users", `{"name":"dave","password":"` + strings.Repeat("x", 70000) + `"}`, 413, `larger`},
		{"PUT", "/api/users/alice", `{"password":1}`, 400, `password`},
		{"GET", "/api/registrations?limit=abc", ``, 400, `limit`},
		{"GET", "/api/registrations?cursor=***", ``, 400, `cursor`},
		{"GET", "/api/registrations?sort=x", ``, 400, `sort`},
		{"DELETE", "/api/bans/not-an-ip", ``, 400, `source`},
		{"GET", "/api/nothing", ``, 404, `no such`},
	} {
		code, body := e.do(tc.method, tc.path, tc.body)
		var ae apiError
		if code != tc.want || json.Unmarshal(body, &ae) != nil || !strings.Contains(ae.Error, tc.mention) {
			t.Errorf("%s %s %.60q: %d %s, want %d naming %s", tc.method, tc.path, tc.body, code, body, tc.want, tc.mention)
		}
	}
	var list struct{ Users []userInfo }
	e.getJSON("/api/users", &list)
	if len(list.Users) != 2 {
		t.Errorf("bad requests changed the users: %+v", list.Users)
	}
	if _, err := os.Stat(filepath.Join(e.cfg.Data, usersFile)); err == nil {
		t.Errorf("bad requests wrote %s", usersFile)
	}
}

func TestBans(t *testing.T) {
	e := startEnv(t, testConfig(t))
	e.srv.Guard().Ban(netip.MustParseAddr("127.0.0.5"), "test", time.Minute)
	var bans struct{ Bans []banDoc }
	e.getJSON("/api/bans", &bans)
	if len(bans.Bans) != 1 || bans.Bans[0].Source != "127.0.0.5/32" || bans.Bans[0].Reason != "test" {
		t.Fatalf("bans: %+v", bans)
	}
	if code, b := e.do("DELETE", "/api/bans/127.0.0.5", ""); code != 204 {
		t.Fatalf("unban: %d %s", code, b)
	}
	if code, _ := e.do("DELETE", "/api/bans/127.0.0.5", ""); code != 404 {
		t.Errorf("unban again: %d, want 404", code)
	}
}

// TestAdminTLS: with tls_cert and tls_key the admin speaks HTTPS only.
func TestAdminTLS(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := writeSelfSigned(t, dir)
	cfg := testConfig(t)
	cfg.Admin.TLSCert, cfg.Admin.TLSKey = certPath, keyPath
	e := startEnv(t, cfg)
	pool := x509.NewCertPool()
	certPEM, _ := os.ReadFile(certPath)
	pool.AppendCertsFromPEM(certPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	req, _ := http.NewRequest("GET", "https://"+e.admin.Addr().String()+"/api/status", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("HTTPS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("HTTPS status %d", resp.StatusCode)
	}
	if resp, err := http.Get(e.base + "/api/status"); err == nil {
		if resp.StatusCode < 400 {
			t.Errorf("plain HTTP on the TLS listener answered %d", resp.StatusCode)
		}
		resp.Body.Close()
	}
}

func writeSelfSigned(t *testing.T, dir string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cp, kp := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cp, pemEncode("CERTIFICATE", der), 0o600)
	os.WriteFile(kp, pemEncode("PRIVATE KEY", kb), 0o600)
	return cp, kp
}

func pemEncode(typ string, b []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b})
}

// TestRegistrationsFromSIPp: users registered by a real phone (SIPp) are
// listed with the source, transport, user agent and expiry it sent.
func TestRegistrationsFromSIPp(t *testing.T) {
	sipp := peertest.Need(t, "sipp", "sip-tester")
	cfg := testConfig(t)
	cfg.Auth = "none"
	e := startEnv(t, cfg)
	port := peertest.FreePort(t)
	users := make([]string, 30)
	for i := range users {
		users[i] = fmt.Sprintf("u%02d", i)
	}
	sippRegister(t, sipp, e.sipAddr(), port, users...)
	var p registrationsPage
	e.getJSON("/api/registrations?limit=1000", &p)
	if p.Total != 30 || len(p.Registrations) != 30 {
		t.Fatalf("%d registrations listed (total %d), want 30", len(p.Registrations), p.Total)
	}
	r := p.Registrations[0]
	if r.User != "u00" || r.Source != fmt.Sprintf("127.0.0.1:%d", port) || r.Transport != "UDP" || r.ExpiresIn < 590 || r.ExpiresIn > 600 {
		t.Errorf("first registration %+v", r)
	}
	if code, b := e.do("DELETE", "/api/registrations/u00", ""); code != 200 {
		t.Fatalf("unregister: %d %s", code, b)
	}
	e.getJSON("/api/registrations?user=u00", &p)
	if p.Total != 0 {
		t.Errorf("u00 still registered: %+v", p)
	}
}

// BenchmarkRegistrationsFirstPage100k is the console's first page of
// registrations with 100,000 contacts in the store.
func BenchmarkRegistrationsFirstPage100k(b *testing.B) {
	cfg := config.Default()
	cfg.Data = b.TempDir()
	cfg.Listen = []string{"udp:127.0.0.1:0"}
	cfg.Admin = config.Admin{Listen: "127.0.0.1:0", Token: testToken}
	srv, err := server.New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	a, err := New(srv, Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	for i := range 100000 {
		err := srv.Store().Put(ctx, location.Binding{AOR: fmt.Sprintf("sip:u%06d@example.test", i), Contact: fmt.Sprintf("sip:u%06d@127.0.0.1:%d", i, 1024+i%60000),
			Expires: exp, Q: location.QMax, CallID: fmt.Sprint("c", i), CSeq: 1, Source: netip.MustParseAddrPort("127.0.0.1:5070"), Transport: "UDP", UserAgent: "Bench/1", Updated: time.Now()})
		if err != nil {
			b.Fatal(err)
		}
	}
	h := a.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest("GET", "/api/registrations?limit=100", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 || !bytes.Contains(rec.Body.Bytes(), []byte(`"total": 100000`)) {
			b.Fatalf("%d %.200s", rec.Code, rec.Body.Bytes())
		}
	}
}
