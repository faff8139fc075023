package config

import (
	"strings"
	"testing"
	"time"
)

func TestDecode(t *testing.T) {
	c, err := Decode(strings.NewReader(`
listen: ["udp:127.0.0.1:5070", "tcp:127.0.0.1:5070"]
log: info
trace: true
timers:
  t1: 250ms
  t2: 2s
limits:
  workers: 8
  idle_timeout: 1m
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Listen) != 2 || c.Listen[0] != "udp:127.0.0.1:5070" || !c.Trace || c.Log != "info" {
		t.Fatalf("%+v", c)
	}
	if c.Timers.T1.D() != 250*time.Millisecond || c.Limits.Workers != 8 || c.Limits.IdleTimeout.D() != time.Minute {
		t.Fatalf("%+v", c)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Decode(strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Listen) != 2 {
		t.Fatalf("%+v", c.Listen)
	}
}

func TestErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"listen: [udp:127.0.0.1:5060]\nlisten_typo: 1\n", "line 2"},
		{"timers:\n  t1: fast\n", "line 2"},
		{"limits:\n  workers: many\n", "line 2"},
		{"listen: [\"sctp:127.0.0.1:5060\"]\n", "SCTP"},
		{"listen: [\"tls:127.0.0.1:5061\"]\n", "tls.cert"},
		{"log: loud\n", "log"},
		{"timers:\n  t1: 5s\n  t2: 1s\n", "t2"},
	} {
		_, err := Decode(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%q) error %v, want mention of %q", tc.in, err, tc.want)
		}
	}
}

func TestUsersAndDomain(t *testing.T) {
	c, err := Decode(strings.NewReader(`
listen: ["udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"]
domain: example.test
auth: digest
users:
  - name: alice
    password: secret
  - name: bob
    ha1: 0123456789abcdef0123456789abcdef
data: ./parley-data
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Domain != "example.test" || len(c.Users) != 2 || c.Users[1].HA1 == "" || c.Data != "./parley-data" {
		t.Fatalf("%+v", c)
	}
	if s := c.Users[0].String(); strings.Contains(s, "secret") {
		t.Fatal("password in String")
	}
	for _, tc := range []struct{ in, want string }{
		{"auth: maybe\n", "auth"},
		{"users:\n  - name: carol\n", "needs password"},
		{"users:\n  - name: a\n    password: x\n  - name: a\n    password: y\n", "twice"},
		{"users:\n  - name: a\n    ha1: xyz\n", "ha1"},
		{"users:\n  - name: a\n    pasword: x\n", "line 3"},
		{"registrar:\n  min_expires: 600\n  max_expires: 60\n", "min_expires"},
	} {
		_, err := Decode(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%q) error %v, want mention of %q", tc.in, err, tc.want)
		}
	}
}

func TestStarter(t *testing.T) {
	dir := t.TempDir()
	cfg, path, created, err := LoadOrCreateStarter(dir)
	if err != nil || !created {
		t.Fatalf("first start: %v created=%v", err, created)
	}
	if len(cfg.Users) != 2 || cfg.Users[0].Name != "alice" || cfg.Users[0].Password == "" || cfg.Users[0].Password == cfg.Users[1].Password {
		t.Fatalf("users %+v", cfg.Users)
	}
	again, path2, created, err := LoadOrCreateStarter(dir)
	if err != nil || created || path2 != path || again.Users[0].Password != cfg.Users[0].Password {
		t.Fatalf("second start: %v created=%v", err, created)
	}
}

// TestDigestAlgorithms: the default offers MD5 alone (what baresip 1.0,
// SIPp and SIPVicious answer); a file's list replaces it; users that no
// offered challenge can check are refused at load, not as a 401 loop.
func TestDigestAlgorithms(t *testing.T) {
	c, err := Decode(strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.DigestAlgorithms, ","); got != "MD5" {
		t.Fatalf("default digest_algorithms %q, want MD5", got)
	}
	c, err = Decode(strings.NewReader("digest_algorithms: [SHA-256, MD5]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.DigestAlgorithms, ","); got != "SHA-256,MD5" {
		t.Fatalf("digest_algorithms %q, want the file's SHA-256,MD5", got)
	}
	const sha = "0b9e3b8f4d0f5c8c1b2a7e6d5c4b3a291817161514131211100f0e0d0c0b0a09"
	const md5 = "5d0e4ab4bd0e0dbd16ba2a9b6b3d3a1c"
	for _, ok := range []string{
		"users:\n  - name: a\n    ha1: " + md5 + "\n",
		"digest_algorithms: [SHA-256]\nusers:\n  - name: a\n    ha1_sha256: " + sha + "\n",
		"digest_algorithms: [SHA-256, MD5]\nusers:\n  - name: a\n    ha1: " + md5 + "\n    ha1_sha256: " + sha + "\n",
		"auth: none\nusers:\n  - name: a\n    ha1_sha256: " + sha + "\n",
	} {
		if _, err := Decode(strings.NewReader(ok)); err != nil {
			t.Errorf("Decode(%q): %v", ok, err)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"digest_algorithms: [SHA-512]\n", "SHA-512"},
		{"digest_algorithms: [MD5, MD5]\n", "twice"},
		{"users:\n  - name: a\n    ha1_sha256: " + sha + "\n", "does not offer SHA-256"},
		{"digest_algorithms: [SHA-256]\nusers:\n  - name: a\n    ha1: " + md5 + "\n", "does not offer MD5"},
	} {
		_, err := Decode(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%q) error %v, want mention of %q", tc.in, err, tc.want)
		}
	}
}

func TestDialPlan(t *testing.T) {
	c, err := Decode(strings.NewReader(`
users:
  - name: alice
    password: a
  - name: bob
    password: b
dialplan:
  extensions:
    "100": alice
  routes:
    - match: "_2XX"
      user: bob
      media: direct
`))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := c.DialPlan(nil)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := plan.Match("250", "alice"); !ok || r.Line != 11 || r.Media.String() != "direct" {
		t.Fatalf("%v %v", r, ok)
	}
	if r, ok := plan.Match("bob", "alice"); !ok || r.Media.String() != "relay" {
		t.Fatalf("by name: %v %v", r, ok)
	}
	// Without dialplan: users by name, relayed.
	c, err = Decode(strings.NewReader("users:\n  - name: bob\n    password: b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if plan, err := c.DialPlan(nil); err != nil {
		t.Fatal(err)
	} else if r, ok := plan.Match("bob", ""); !ok || r.Media.String() != "relay" || r.Action.Kind() != "user" {
		t.Fatalf("default: %v %v", r, ok)
	}
	for _, tc := range []struct{ in, want string }{
		{"users:\n  - name: alice\n    password: a\ndialplan:\n  extensions:\n    \"100\": bob\n", "dialplan: line 6: extension 100: \"bob\" is not a user"},
		{"dialplan:\n  routes:\n    - match: \"1\"\n      voicemail: {}\n", "line 4: route 1: unknown action \"voicemail\""},
		{"dialplan:\n  ring_timeout: 0s\n", "line 2"},
	} {
		_, err := Decode(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%q) error %v, want mention of %q", tc.in, err, tc.want)
		}
	}
}

func TestMedia(t *testing.T) {
	c, err := Decode(strings.NewReader("media:\n  rtp_ports: 40000-40999\n  ng_listen: 127.0.0.1:2223\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Media.RTPPorts != (PortRange{40000, 40999}) || c.Media.NGListen != "127.0.0.1:2223" {
		t.Fatalf("%+v", c.Media)
	}
	if d := Default(); d.Media.RTPPorts != (PortRange{30000, 39999}) || d.Media.NGListen != "" {
		t.Fatalf("defaults %+v", d.Media)
	}
	for _, tc := range []struct{ in, want string }{
		{"media:\n  rtp_ports: 40000\n", "line 2"},
		{"media:\n  rtp_ports: lots\n", "line 2"},
		{"media:\n\n  rtp_ports: 100-200\n", "line 3"},
		{"media:\n  rtp_ports: 40000-40001\n", "two even/odd pairs"},
		{"media:\n  rtp_port: 40000-40999\n", "line 2"},
		{"media:\n  ng_listen: localhost\n", "media.ng_listen"},
		{"media:\n  ng_listen: 127.0.0.1:30001\n", "inside media.rtp_ports"},
	} {
		_, err := Decode(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%q) error %v, want mention of %q", tc.in, err, tc.want)
		}
	}
}
func TestAdminAndCapture(t *testing.T) {
	c, err := Decode(strings.NewReader(`
admin:
  listen: 0.0.0.0:8080
  token: 0123456789abcdef
  users:
    - name: ops
      password_hash: pbkdf2-sha256$600000$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5
capture:
  calls: 50
  bytes: 100000
  hep: 127.0.0.1:9060
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Admin.Listen != "0.0.0.0:8080" || len(c.Admin.Users) != 1 || c.Capture.Calls != 50 || c.Capture.HEP != "127.0.0.1:9060" {
		t.Fatalf("%+v %+v", c.Admin, c.Capture)
	}
	if s := c.Admin.Users[0].String(); strings.Contains(s, "pbkdf2") {
		t.Errorf("AdminUser.String shows the hash: %s", s)
	}
	for _, tc := range []struct{ in, want string }{
		{"admin:\n  listen: 0.0.0.0:8080\n", "not a loopback address"},
		{"admin:\n  listen: \"[::]:8080\"\n", "not a loopback address"},
		{"admin:\n  listen: 127.0.0.1:8080\n  token: short\n", "admin.token"},
		{"admin:\n  token: 0123456789abcdef\n", "listen is needed"},
		{"admin:\n  listen: 127.0.0.1\n", "admin.listen"},
		{"admin:\n  listen: 127.0.0.1:8080\n  tls_cert: a.pem\n", "tls_key"},
		{"admin:\n  listen: 127.0.0.1:8080\n  users:\n    - name: ops\n      password_hash: plain\n", "password_hash"},
		{"admin:\n  listen: 127.0.0.1:8080\n  tokn: x\n", "line 3"},
		{"capture:\n  calls: -1\n", "capture"},
		{"capture:\n  hep: nowhere\n", "capture.hep"},
	} {
		_, err := Decode(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%q) error %v, want mention of %q", tc.in, err, tc.want)
		}
	}
	// Loopback needs no auth.
	if _, err := Decode(strings.NewReader("admin:\n  listen: localhost:8080\n")); err != nil {
		t.Errorf("loopback admin without auth: %v", err)
	}
}

func TestDNS(t *testing.T) {
	c, err := Decode(strings.NewReader("dns:\n  servers: [127.0.0.1:5353, \"::1\"]\n  timeout: 2s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.DNS.Servers) != 2 || c.DNS.Servers[0] != "127.0.0.1:5353" || c.DNS.Timeout.D() != 2*time.Second {
		t.Fatalf("%+v", c.DNS)
	}
	if d := Default(); len(d.DNS.Servers) != 0 || d.DNS.Timeout != 0 {
		t.Fatalf("defaults %+v", d.DNS)
	}
	for _, tc := range []struct{ in, want string }{
		{"dns:\n  servers: [ns.example.com]\n", "dns.servers"},
		{"dns:\n  timeout: -1s\n", "dns.timeout"},
		{"dns:\n  server: [127.0.0.1]\n", "line 2"},
	} {
		_, err := Decode(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%q) error %v, want mention of %q", tc.in, err, tc.want)
		}
	}
}
