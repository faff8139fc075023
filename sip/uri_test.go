package sip

import (
	"errors"
	"strings"
	"testing"
)

func TestParseURI(t *testing.T) {
	tests := []struct {
		in   string
		want URI
	}{
		{"sip:alice@atlanta.com", URI{Scheme: "sip", User: "alice", Host: "atlanta.com"}},
		{"sip:alice:secretword@atlanta.com;transport=tcp", URI{Scheme: "sip", User: "alice", Password: "secretword", Host: "atlanta.com", Params: ";transport=tcp"}},
		{"sips:alice@atlanta.com?subject=project%20x&priority=urgent", URI{Scheme: "sips", User: "alice", Host: "atlanta.com", Headers: "subject=project%20x&priority=urgent"}},
		{"sip:+1-212-555-1212:1234@gateway.com;user=phone", URI{Scheme: "sip", User: "+1-212-555-1212", Password: "1234", Host: "gateway.com", Params: ";user=phone"}},
		{"sips:1212@gateway.com", URI{Scheme: "sips", User: "1212", Host: "gateway.com"}},
		{"sip:alice@192.0.2.4", URI{Scheme: "sip", User: "alice", Host: "192.0.2.4"}},
		{"sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com", URI{Scheme: "sip", Host: "atlanta.com", Params: ";method=REGISTER", Headers: "to=alice%40atlanta.com"}},
		{"sip:alice;day=tuesday@atlanta.com", URI{Scheme: "sip", User: "alice;day=tuesday", Host: "atlanta.com"}},
		{"sip:[2001:db8::10]:5070;maddr=[2001:db8::20]", URI{Scheme: "sip", Host: "[2001:db8::10]", Port: 5070, Params: ";maddr=[2001:db8::20]"}},
		{"sip:user@[::ffff:192.0.2.1]", URI{Scheme: "sip", User: "user", Host: "[::ffff:192.0.2.1]"}},
		{"SIP:Alice@Example.COM:5060", URI{Scheme: "SIP", User: "Alice", Host: "Example.COM", Port: 5060}},
		{"sip:%61lice@host.", URI{Scheme: "sip", User: "%61lice", Host: "host."}},
		{"sip:srv_name.example.com", URI{Scheme: "sip", Host: "srv_name.example.com"}},
		{"sip:h;lr;x=1", URI{Scheme: "sip", Host: "h", Params: ";lr;x=1"}},
		{"tel:+1-201-555-0123", URI{Scheme: "tel", User: "+1-201-555-0123"}},
		{"tel:7042;phone-context=example.com", URI{Scheme: "tel", User: "7042", Params: ";phone-context=example.com"}},
		{"mailto:alice@example.com", URI{Scheme: "mailto", Opaque: "alice@example.com"}},
		{"urn:service:sos", URI{Scheme: "urn", Opaque: "service:sos"}},
		{"http://example.com/a?b#c", URI{Scheme: "http", Opaque: "//example.com/a?b#c"}},
	}
	for _, tt := range tests {
		u, err := ParseURI(tt.in)
		if err != nil {
			t.Errorf("ParseURI(%q): %v", tt.in, err)
			continue
		}
		if u != tt.want {
			t.Errorf("ParseURI(%q) = %+v, want %+v", tt.in, u, tt.want)
		}
		if s := u.String(); !strings.EqualFold(s, tt.in) {
			t.Errorf("String() = %q, want %q", s, tt.in)
		}
	}
}

func TestParseURIErrors(t *testing.T) {
	for in, what := range map[string]string{
		"":                           "no scheme",
		"alice@example.com":          "no scheme",
		"1sip:a@b":                   "bad scheme",
		"sip:":                       "bad host",
		"sip:alice@":                 "bad host",
		"sip:@example.com":           "bad user part",
		"sip:a b@example.com":        "bad user part",
		"sip:a@b@c":                  "bad user part",
		"sip:2001:db8::1":            "IPv6 address without brackets",
		"sip:alice@2001:db8::1":      "IPv6 address without brackets",
		"sip:[2001:db8::1":           "unclosed IPv6 reference",
		"sip:[2001:db8::g]":          "bad IPv6 reference",
		"sip:[192.0.2.1]":            "bad IPv6 reference",
		"sip:[fe80::1%25eth0]":       "bad IPv6 reference",
		"sip:[::1]x":                 "junk after IPv6 reference",
		"sip:host:0":                 "bad port",
		"sip:host:65536":             "bad port",
		"sip:host:":                  "bad port",
		"sip:host:-1":                "bad port",
		"sip:ho st":                  "bad host",
		"sip:-host":                  "bad host",
		"sip:a..b":                   "bad host",
		"sip:host;":                  "bad parameters",
		"sip:host;a=":                "bad parameters",
		"sip:host;a=\"q\"":           "bad parameters",
		"sip:host?a=<b>":             "bad headers",
		"sip:a%2@host":               "bad user part",
		"sip:a:p@ss@host":            "bad password",
		"tel:":                       "empty telephone number",
		"tel:+1 555":                 "bad telephone number",
		"tel:+1;x=":                  "bad tel parameters",
		"mailto:":                    "empty mailto URI",
		"mailto:a b":                 "bad character",
		"urn:<x>":                    "bad character",
		"sip:alice@example.com\x00":  "bad host",
		"sip:alice:pw;x@example.com": "bad password",
	} {
		_, err := ParseURI(in)
		if err == nil {
			t.Errorf("ParseURI(%q) succeeded", in)
			continue
		}
		if !errors.Is(err, ErrBadURI) || !strings.Contains(err.Error(), what) {
			t.Errorf("ParseURI(%q): %v, want %q", in, err, what)
		}
	}
}

func TestURIAccessors(t *testing.T) {
	u := mustURI(t, "sips:%61l%69ce@[2001:DB8::1]:5061;Transport=TLS;lr")
	if u.UserUnescaped() != "alice" || !u.IsSecure() || !u.IsSIP() || u.IsTel() {
		t.Errorf("%+v", u)
	}
	if u.Transport() != "tls" || u.HostPort() != "[2001:DB8::1]:5061" {
		t.Errorf("transport %q hostport %q", u.Transport(), u.HostPort())
	}
	if a, ok := u.Addr(); !ok || a.String() != "2001:db8::1" {
		t.Errorf("Addr %v %v", a, ok)
	}
	if h := mustURI(t, "sip:example.com"); func() bool { _, ok := h.Addr(); return ok }() {
		t.Error("Addr of a host name")
	}
	if v, ok := u.Param("LR"); !ok || v != "" {
		t.Errorf("lr %q %v", v, ok)
	}
}

// TestURIEqual is the table of RFC 3261 §19.1.4 and a few of our own.
func TestURIEqual(t *testing.T) {
	equal := [][2]string{
		// §19.1.4: equivalent URIs.
		{"sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"},
		{"sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"},
		{"sip:carol@chicago.com", "sip:carol@chicago.com;security=on"},
		{"sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"},
		{"sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com", "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"},
		{"sip:alice@atlanta.com?subject=project%20x&priority=urgent", "sip:alice@atlanta.com?priority=urgent&subject=project%20x"},
		// Ours.
		{"SIP:alice@example.com", "sip:alice@EXAMPLE.com"},
		{"sip:[2001:db8::1]", "sip:[2001:DB8:0::1]"},
		{"sip:h;a=1;a=2", "sip:h;a=1;a=2"},
		{"sip:h?a=1&a=2", "sip:h?a=2&a=1"},
		{"tel:+1-201-555-0123", "tel:+1.201.555.0123"},
		{"tel:7042;phone-context=example.com", "tel:7042;PHONE-CONTEXT=EXAMPLE.COM"},
		{"urn:service:sos", "URN:service:sos"},
		{"sip:h;maddr=[::1]", "sip:h;maddr=[::1]"},
	}
	notEqual := [][2]string{
		// §19.1.4: not equivalent.
		{"SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"},
		{"sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"},
		{"sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"},
		{"sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"},
		{"sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"},
		{"sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"},
		{"sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"},
		// Ours.
		{"sip:alice@example.com", "sips:alice@example.com"},
		{"sip:alice:a@example.com", "sip:alice:b@example.com"},
		{"sip:alice@example.com;user=phone", "sip:alice@example.com"},
		{"sip:alice@example.com;ttl=1", "sip:alice@example.com"},
		{"sip:alice@example.com;method=INVITE", "sip:alice@example.com"},
		{"sip:alice@example.com;maddr=1.2.3.4", "sip:alice@example.com"},
		{"sip:h?a=1&a=1", "sip:h?a=1&a=2"},
		{"sip:h?a=1", "sip:h?a=1&b=2"},
		{"tel:+1-201-555-0123", "tel:+1-201-555-0124"},
		{"tel:7042;phone-context=a.com", "tel:7042"},
		{"tel:7042", "sip:7042@example.com"},
		{"urn:service:sos", "urn:service:SOS"},
		{"mailto:a@b", "urn:a@b"},
	}
	for _, p := range equal {
		a, b := mustURI(t, p[0]), mustURI(t, p[1])
		if !a.Equal(&b) || !b.Equal(&a) {
			t.Errorf("%s and %s should be equal", p[0], p[1])
		}
	}
	for _, p := range notEqual {
		a, b := mustURI(t, p[0]), mustURI(t, p[1])
		if a.Equal(&b) || b.Equal(&a) {
			t.Errorf("%s and %s should not be equal", p[0], p[1])
		}
	}
}

func TestParseAddress(t *testing.T) {
	tests := []struct {
		in                   string
		display, uri, params string
		wildcard             bool
		out                  string // String(); "" means in
	}{
		{in: `"Alice A." <sip:alice@example.com>;tag=1`, display: "Alice A.", uri: "sip:alice@example.com", params: ";tag=1"},
		{in: `Bob <sip:bob@example.com>`, display: "Bob", uri: "sip:bob@example.com", out: `"Bob" <sip:bob@example.com>`},
		{in: `Mr.  Bob  Smith<sip:bob@example.com>`, display: "Mr.  Bob  Smith", uri: "sip:bob@example.com", out: `"Mr.  Bob  Smith" <sip:bob@example.com>`},
		{in: `<sip:bob@example.com;transport=tcp>;expires=60;q=0.5`, uri: "sip:bob@example.com;transport=tcp", params: ";expires=60;q=0.5"},
		{in: `sip:bob@example.com;tag=99`, uri: "sip:bob@example.com", params: ";tag=99", out: `<sip:bob@example.com>;tag=99`},
		{in: `  *  `, wildcard: true, out: "*"},
		{in: `"\"Q\" \\ x" <sip:q@h>`, display: `"Q" \ x`, uri: "sip:q@h"},
		{in: `"" <sip:q@h>`, uri: "sip:q@h", out: `<sip:q@h>`},
		{in: `" " <sip:q@h>`, display: " ", uri: "sip:q@h"},
		{in: "\"Jos\xc3\xa9\" <sip:j@h>", display: "Jos\xc3\xa9", uri: "sip:j@h"},
		{in: `< sip:j@h >`, uri: "sip:j@h", out: `<sip:j@h>`},
		{in: `<tel:+1555>;x="a;b"`, uri: "tel:+1555", params: `;x="a;b"`},
		{in: `<urn:service:sos>`, uri: "urn:service:sos"},
		{in: `<sip:a@h?Subject=x&Priority=y>`, uri: "sip:a@h?Subject=x&Priority=y"},
	}
	for _, tt := range tests {
		a, err := ParseAddress(tt.in)
		if err != nil {
			t.Errorf("ParseAddress(%q): %v", tt.in, err)
			continue
		}
		if a.Display != tt.display || a.URI.String() != tt.uri && !tt.wildcard || string(a.Params) != tt.params || a.Wildcard != tt.wildcard {
			t.Errorf("ParseAddress(%q) = %+v", tt.in, a)
		}
		want := tt.out
		if want == "" {
			want = tt.in
		}
		if s := a.String(); s != want {
			t.Errorf("String() = %q, want %q", s, want)
		}
	}
	for _, in := range []string{
		"", `"unterminated <sip:a@h>`, `"x" sip:a@h`, `<sip:a@h`, `Bell, Alexander <sip:a@h>`,
		`<sip:a@h> junk`, `<sip:a@h>;`, `<sip:a@h>;=x`, `<sip:a@h>;x=`, `sip:a@h?x=y`, `sip:a@h, sip:b@h`,
		`<sip:2001:db8::1>`, `<sip:>`, `<>`, `"a\"`, `<sip:a@h>;x="unterminated`,
	} {
		if a, err := ParseAddress(in); err == nil {
			t.Errorf("ParseAddress(%q) = %+v, want an error", in, a)
		}
	}
}

func TestParseVia(t *testing.T) {
	tests := []struct {
		in               string
		transport, host  string
		port             int
		branch, received string
		rport            int
		hasRport         bool
		out              string
	}{
		{in: "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds", transport: "UDP", host: "pc33.atlanta.com", branch: "z9hG4bK776asdhds"},
		{in: "SIP / 2.0 / TCP  host.example.com : 5060 ;branch=z9hG4bK1 ;rport", transport: "TCP", host: "host.example.com", port: 5060, branch: "z9hG4bK1", hasRport: true,
			out: "SIP/2.0/TCP host.example.com:5060;branch=z9hG4bK1 ;rport"},
		{in: "sip/2.0/tls h:5061;received=192.0.2.1;rport=5555", transport: "tls", host: "h", port: 5061, received: "192.0.2.1", rport: 5555, hasRport: true,
			out: "SIP/2.0/tls h:5061;received=192.0.2.1;rport=5555"},
		{in: "SIP/2.0/UDP [2001:db8::9:1]:5070;branch=z9hG4bKas3;received=2001:db8::9:255", transport: "UDP", host: "[2001:db8::9:1]", port: 5070, branch: "z9hG4bKas3", received: "2001:db8::9:255"},
		{in: "SIP/2.0/UDP [2001:db8::9:1] : 5070", transport: "UDP", host: "[2001:db8::9:1]", port: 5070, out: "SIP/2.0/UDP [2001:db8::9:1]:5070"},
		{in: "SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKhjhs8ass877", transport: "WSS", host: "df7jal23ls0d.invalid", branch: "z9hG4bKhjhs8ass877"},
		{in: "SIP/2.0/UDP\th\t;\tbranch=z9hG4bKt", transport: "UDP", host: "h", branch: "z9hG4bKt", out: "SIP/2.0/UDP h;\tbranch=z9hG4bKt"},
	}
	for _, tt := range tests {
		v, err := ParseVia(tt.in)
		if err != nil {
			t.Errorf("ParseVia(%q): %v", tt.in, err)
			continue
		}
		rport, has := v.RPort()
		if v.Transport != tt.transport || v.Host != tt.host || v.Port != tt.port || v.Branch() != tt.branch || v.Received() != tt.received || rport != tt.rport || has != tt.hasRport || v.Protocol != "SIP/2.0" {
			t.Errorf("ParseVia(%q) = %+v", tt.in, v)
		}
		want := tt.out
		if want == "" {
			want = tt.in
		}
		if s := v.String(); s != want {
			t.Errorf("String() = %q, want %q", s, want)
		}
	}
	for _, in := range []string{
		"", "SIP/2.0", "SIP/2.0/", "SIP/2.0/UDP", "SIP/2.0/UDP ", "SIP/3.0/UDP h", "SIPS/2.0/UDP h", "SIP/2.0/UDP 2001:db8::1",
		"SIP/2.0/UDP h:0", "SIP/2.0/UDP h:99999", "SIP/2.0/UDP h;", "SIP/2.0/UDP h;branch=", "SIP/2.0/UDP h junk", "SIP/2.0/UDP [::1",
	} {
		if v, err := ParseVia(in); err == nil {
			t.Errorf("ParseVia(%q) = %+v, want an error", in, v)
		}
	}
}

func TestParseCSeq(t *testing.T) {
	for in, want := range map[string]CSeq{
		"4711 INVITE":            {4711, "INVITE"},
		"  0   ACK ":             {0, "ACK"},
		"2147483647 BYE":         {1<<31 - 1, "BYE"},
		"00000000000001 OPTIONS": {1, "OPTIONS"},
		"1\tNEWMETHOD":           {1, "NEWMETHOD"},
	} {
		c, err := ParseCSeq(in)
		if err != nil || c != want {
			t.Errorf("ParseCSeq(%q) = %v, %v; want %v", in, c, err, want)
		}
	}
	for in, what := range map[string]string{
		"":                "no sequence number",
		"INVITE":          "no sequence number",
		"-1 INVITE":       "no sequence number",
		"2147483648 BYE":  "too large",
		"99999999999 BYE": "too large",
		"1":               "bad method",
		"1INVITE":         "bad method",
		"1 IN VITE":       "bad method",
		"1 INV\"TE":       "bad method",
	} {
		_, err := ParseCSeq(in)
		if se, ok := AsStatusError(err); !ok || se.Code != 400 || !strings.Contains(se.Reason, what) {
			t.Errorf("ParseCSeq(%q): %v, want %q", in, err, what)
		}
	}
	if s := (CSeq{12, "INFO"}).String(); s != "12 INFO" {
		t.Error(s)
	}
}

func TestCredentials(t *testing.T) {
	c, err := ParseCredentials(`Digest username="bob", realm="a, \"b\"", nonce=abc,uri="sip:x@y",  qop=auth , opaque=""`)
	if err != nil || c.Scheme != "Digest" {
		t.Fatalf("%+v %v", c, err)
	}
	for k, want := range map[string]string{"username": "bob", "REALM": `a, "b"`, "nonce": "abc", "uri": "sip:x@y", "qop": "auth", "opaque": ""} {
		if v, ok := c.Param(k); !ok || v != want {
			t.Errorf("Param(%q) = %q, %v; want %q", k, v, ok, want)
		}
	}
	if _, ok := c.Param("response"); ok {
		t.Error("absent parameter found")
	}
	if _, err := ParseCredentials("  "); err == nil {
		t.Error("empty credentials parsed")
	}
	c, _ = ParseCredentials("Basic")
	if c.Scheme != "Basic" || c.Params != "" {
		t.Errorf("%+v", c)
	}
}

func TestParams(t *testing.T) {
	p := Params(`;lr;Transport=TCP; q = 0.5 ;x="a;b"`)
	for k, want := range map[string]string{"lr": "", "transport": "TCP", "Q": "0.5", "x": `"a;b"`} {
		if v, ok := p.Get(k); !ok || v != want {
			t.Errorf("Get(%q) = %q, %v; want %q", k, v, ok, want)
		}
	}
	if p.Has("tag") {
		t.Error("Has(tag)")
	}
	if got := p.With("transport", "udp").With("tag", "9"); got != `;lr;Transport=udp;q=0.5;x="a;b";tag=9` {
		t.Errorf("With: %q", got)
	}
	if got := p.Without("LR").Without("x"); got != ";Transport=TCP;q=0.5" {
		t.Errorf("Without: %q", got)
	}
	if got := p.Without("absent"); got != p {
		t.Errorf("Without(absent) = %q", got)
	}
	if q := Quote(`a "b" \c`); q != `"a \"b\" \\c"` || Unquote(q) != `a "b" \c` {
		t.Errorf("Quote %q Unquote %q", q, Unquote(q))
	}
	if Unquote(`plain`) != "plain" || Unquote(`"`) != `"` {
		t.Error("Unquote of unquoted text")
	}
}

// TestHostAddrThreeColons holds the RFC 5118 §4.10 tolerance narrow: only
// the first ":::" followed by nothing but an IPv4 address is accepted.
func TestHostAddrThreeColons(t *testing.T) {
	for host, want := range map[string]string{
		"[2001:db8:::192.0.2.1]":      "2001:db8::c000:201",
		"2001:db8:::192.0.2.1":        "2001:db8::c000:201", // received= without brackets
		"[:::192.0.2.1]":              "::c000:201",
		"[2001:db8::192.0.2.1]":       "2001:db8::c000:201",
		"[::ffff:192.0.2.1]":          "::ffff:192.0.2.1",
		"192.0.2.1":                   "192.0.2.1",
		"[2001:db8:::1]":              "",
		"[2001:db8::1:::1.2.3.4]":     "",
		"[2001:db8::::192.0.2.1]":     "",
		"[2001:db8:::192.0.2]":        "",
		"[2001:db8:::192.0.2.1:]":     "",
		"[2001:db8:::192.0.2.1%eth0]": "",
		"[fe80::1%eth0]":              "",
		"[192.0.2.1]":                 "",
		"example.com":                 "",
	} {
		a, ok := HostAddr(host)
		got := ""
		if ok {
			got = a.String()
		}
		if got != want {
			t.Errorf("HostAddr(%q) = %q, %v; want %q", host, got, ok, want)
		}
		_, err := ParseURI("sip:u@" + strings.Trim(host, "[]"))
		if host[0] == '[' {
			_, err = ParseURI("sip:u@" + host)
		}
		if (err == nil) != (want != "") && host[0] == '[' {
			t.Errorf("ParseURI(sip:u@%s) error %v, want ok=%v", host, err, want != "")
		}
	}
}

func TestQuoteEscapesControls(t *testing.T) {
	for in, want := range map[string]string{
		"a\x00b":    "\"a\\\x00b\"",
		"tab\there": "\"tab\there\"",
		"cr\r\nlf":  "\"cr  lf\"",
		`q"\`:       `"q\"\\"`,
		"del\x7f":   "\"del\\\x7f\"",
	} {
		got := Quote(in)
		if got != want {
			t.Errorf("Quote(%q) = %q, want %q", in, got, want)
		}
		if in != "cr\r\nlf" && Unquote(got) != in {
			t.Errorf("Unquote(Quote(%q)) = %q", in, Unquote(got))
		}
	}
}
