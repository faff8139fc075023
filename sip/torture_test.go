package sip

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The messages under testdata/valid and testdata/invalid are our own torture
// set in the spirit of RFC 4475 and RFC 5118. Every file must have an entry
// in validCases or invalidCases, and every entry a file.

// via is the expected top Via.
type via struct {
	transport, host string
	port            int
	branch          string
	received        string
	rport           int // -1: no rport parameter, 0: bare ";rport"
}

type validCase struct {
	method      string // requests
	status      int    // responses
	reason      string
	ruri        string // URI.String()
	ruriUser    string
	ruriHost    string
	ruriPort    int
	via         via
	vias        int
	fromDisplay string
	fromTag     string
	toDisplay   string
	toTag       string
	callID      string
	cseq        CSeq
	maxFwd      int      // -1 when absent
	contacts    []string // URIs, "*" for the wildcard
	bodyLen     int
	check       func(t *testing.T, m Message)
}

const (
	stdCallID = "a84b4c76e66710@pc33.example.com"
	stdBranch = "z9hG4bK776asdhds"
)

var stdVia = via{transport: "UDP", host: "pc33.example.com", branch: stdBranch, rport: -1}

// std fills in the defaults of the messages made from the common template.
func std(c validCase) validCase {
	if c.method == "" {
		c.method = INVITE
	}
	if c.ruri == "" {
		c.ruri, c.ruriUser, c.ruriHost = "sip:bob@example.org", "bob", "example.org"
	}
	if c.via == (via{}) {
		c.via = stdVia
	}
	if c.vias == 0 {
		c.vias = 1
	}
	if c.fromDisplay == "" && c.fromTag == "" {
		c.fromDisplay, c.fromTag = "Alice", "1928301774"
	}
	if c.toDisplay == "-" {
		c.toDisplay = ""
	} else if c.toDisplay == "" {
		c.toDisplay = "Bob"
	}
	if c.callID == "" {
		c.callID = stdCallID
	}
	if c.cseq == (CSeq{}) {
		c.cseq = CSeq{314159, c.method}
	}
	if c.maxFwd == 0 {
		c.maxFwd = 70
	} else if c.maxFwd == -2 {
		c.maxFwd = 0
	}
	return c
}

func headerValue(name string) func(t *testing.T, m Message) {
	n, v, _ := strings.Cut(name, "=")
	return func(t *testing.T, m Message) {
		t.Helper()
		got, ok := m.Hdr().Get(n)
		if !ok || got != v {
			t.Errorf("%s = %q, %v; want %q", n, got, ok, v)
		}
	}
}

func values(name string, want ...string) func(t *testing.T, m Message) {
	return func(t *testing.T, m Message) {
		t.Helper()
		got := slices.Collect(m.Hdr().Values(name))
		if !slices.Equal(got, want) {
			t.Errorf("%s values = %q; want %q", name, got, want)
		}
	}
}

func all(fs ...func(t *testing.T, m Message)) func(t *testing.T, m Message) {
	return func(t *testing.T, m Message) {
		t.Helper()
		for _, f := range fs {
			f(t, m)
		}
	}
}

var validCases = map[string]validCase{
	"basic-invite": std(validCase{contacts: []string{"sip:alice@pc33.example.com"}, bodyLen: 141,
		check: func(t *testing.T, m Message) {
			if ct := m.Hdr().ContentType(); ct != "application/sdp" {
				t.Errorf("Content-Type %q", ct)
			}
		}}),
	"torture-wsinv": {method: INVITE, ruri: "sip:vivekg@chair-dnrc.example.com;unknownparam", ruriUser: "vivekg", ruriHost: "chair-dnrc.example.com",
		via:         via{transport: "UDP", host: "192.0.2.2", branch: "390skdjuw", rport: -1},
		vias:        3,
		fromDisplay: `J Rosenberg \"`, fromTag: "98asjd8", toTag: "1918181833n",
		callID: "wsinv.ndaksdj@192.0.2.1", cseq: CSeq{9, INVITE}, maxFwd: 68,
		contacts: []string{"sip:jdrosen@example.com"}, bodyLen: 150,
		check: all(
			headerValue("NewFangledHeader=newfangled value continued newfangled value"),
			headerValue("UnknownHeaderWithUnusualValue=;;,,;;,;"),
			headerValue("Subject="),
			values("Via", "SIP  /   2.0 /UDP 192.0.2.2;branch=390skdjuw",
				"SIP  / 2.0  / TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8",
				"SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239"),
			func(t *testing.T, m Message) {
				var branches []string
				for v, err := range m.Hdr().Vias() {
					if err != nil {
						t.Fatal(err)
					}
					branches = append(branches, v.Transport+" "+v.SentBy()+" "+v.Branch())
				}
				want := []string{"UDP 192.0.2.2 390skdjuw", "TCP spindle.example.com z9hG4bK9ikj8", "UDP 192.168.255.111 z9hG4bK30239"}
				if !slices.Equal(branches, want) {
					t.Errorf("vias %q", branches)
				}
				for c, err := range m.Hdr().Contacts() {
					if err != nil || c.Display != `Quoted string ""` {
						t.Errorf("contact %+v %v", c, err)
					}
					if q, _ := c.Param("q"); q != "0.33" {
						t.Errorf("q %q", q)
					}
					if v, _ := c.Param("newparam"); v != "newvalue" {
						t.Errorf("newparam %q", v)
					}
				}
				for r, err := range m.Hdr().Routes() {
					if err != nil || r.URI.Host != "services.example.com" || !r.URI.Params.Has("unknown-no-value") {
						t.Errorf("route %+v %v", r, err)
					}
				}
			})},
	"folding": std(validCase{via: via{transport: "UDP", host: "pc33.example.com", branch: "z9hG4bKfold1", rport: -1},
		contacts: []string{"sip:alice@pc33.example.com"},
		check:    all(headerValue("Subject=I know you're there, pull up the chair and sit down"), headerValue("Via=SIP/2.0/UDP pc33.example.com ;branch=z9hG4bKfold1"))}),
	"lws-colons-tabs": {method: OPTIONS, ruri: "sip:carol@chicago.example.com", ruriUser: "carol", ruriHost: "chicago.example.com",
		via: via{transport: "TCP", host: "client.example.com", port: 5061, branch: "z9hG4bKtabs"}, vias: 1,
		fromDisplay: "Tab Man", fromTag: "tt1", callID: "tabs-1@example.com", cseq: CSeq{63104, OPTIONS}, maxFwd: 70,
		check: headerValue("Accept=application/sdp")},
	"compact-forms": {method: INVITE, ruri: "sip:bob@example.org", ruriUser: "bob", ruriHost: "example.org",
		via: via{transport: "UDP", host: "192.0.2.7", port: 5062, branch: "z9hG4bKcompact", rport: -1}, vias: 1,
		fromTag: "cf1", callID: "compact-forms@192.0.2.7", cseq: CSeq{1, INVITE}, maxFwd: 70,
		contacts: []string{"sip:alice@192.0.2.7:5062"}, bodyLen: 4,
		check: all(values("Supported", "100rel", "timer"), headerValue("Subject=compact"), headerValue("Content-Type=application/sdp"),
			func(t *testing.T, m Message) {
				if !m.Hdr().HasOption("k", "TIMER") || m.Hdr().HasOption("Supported", "path") {
					t.Error("HasOption")
				}
				out := m.String()
				for _, name := range []string{"\r\nVia: ", "\r\nFrom: ", "\r\nTo: ", "\r\nCall-ID: ", "\r\nContact: ", "\r\nSupported: ", "\r\nSubject: ", "\r\nContent-Type: ", "\r\nContent-Length: 4\r\n"} {
					if !strings.Contains(out, name) {
						t.Errorf("written form lacks %q", name)
					}
				}
			})},
	"case-insensitive": {method: REGISTER, ruri: "SIP:registrar.EXAMPLE.com", ruriHost: "registrar.EXAMPLE.com",
		via: via{transport: "udp", host: "ua.example.com", port: 5060, branch: "z9hG4bKcase"}, vias: 1,
		fromTag: "ci1", callID: "case@ua", cseq: CSeq{2, REGISTER}, maxFwd: 70,
		contacts: []string{"sip:user@ua.example.com"},
		check: func(t *testing.T, m Message) {
			r := m.(*Request)
			if !r.URI.IsSIP() || r.URI.IsSecure() {
				t.Error("scheme SIP not recognised")
			}
			for c := range r.Contacts() {
				if e, _ := c.Param("expires"); e != "60" {
					t.Errorf("expires %q", e)
				}
			}
		}},
	"escaped-ruri": std(validCase{ruri: "sip:%61lice%20smith@example.com;transport=TCP", ruriUser: "%61lice%20smith", ruriHost: "example.com",
		contacts: []string{"sip:a@pc33.example.com"},
		check: func(t *testing.T, m Message) {
			u := m.(*Request).URI
			if u.UserUnescaped() != "alice smith" || u.Transport() != "tcp" {
				t.Errorf("user %q transport %q", u.UserUnescaped(), u.Transport())
			}
			other, _ := ParseURI("sip:alice%20smith@EXAMPLE.com;transport=tcp")
			if !u.Equal(&other) {
				t.Error("not equal to its unescaped form")
			}
		}}),
	"semicolon-user": std(validCase{ruri: "sip:user;par=u%40example.net@example.com", ruriUser: "user;par=u%40example.net", ruriHost: "example.com", toDisplay: "-",
		check: func(t *testing.T, m Message) {
			if m.(*Request).URI.Params != "" {
				t.Error("params taken from the user part")
			}
		}}),
	"escaped-display": std(validCase{fromDisplay: `"Quoted" Bob \ Co`, fromTag: "esc1", toDisplay: `José "J" Smith`}),
	"escaped-null-user": std(validCase{ruri: "sip:null-%00-null@example.com", ruriUser: "null-%00-null", ruriHost: "example.com", toDisplay: "-",
		check: func(t *testing.T, m Message) {
			if u := m.(*Request).URI.UserUnescaped(); u != "null-\x00-null" {
				t.Errorf("user %q", u)
			}
		}}),
	// RFC 4475 §3.1.1.4: %00 in URIs is an escape like any other; the AOR
	// must not be cut at the NUL, and the two contacts stay distinct.
	"torture-escnull": {method: REGISTER, ruri: "sip:example.com", ruriHost: "example.com",
		via: via{transport: "UDP", host: "host5.example.com", branch: "z9hG4bKkdjuw", rport: -1}, vias: 1,
		fromTag: "839923423", callID: "escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd", cseq: CSeq{14398234, REGISTER}, maxFwd: 70,
		contacts: []string{"sip:%00@host5.example.com", "sip:%00%00@host5.example.com"},
		check: func(t *testing.T, m Message) {
			to, _ := m.Hdr().To()
			if u := to.URI.UserUnescaped(); u != "null-\x00-null" {
				t.Errorf("To user %q", u)
			}
			var users []string
			for c := range m.Hdr().Contacts() {
				users = append(users, c.URI.UserUnescaped())
			}
			if !slices.Equal(users, []string{"\x00", "\x00\x00"}) {
				t.Errorf("contact users %q", users)
			}
		}},
	// A quoted display name may hold "%00" (plain text, no escape there)
	// and a quoted-pair escaping a NUL byte (§25.1 quoted-pair).
	"display-escaped-null": std(validCase{fromDisplay: "null-%00-null", fromTag: "1928301774", toDisplay: "Bob \x00 Null",
		check: func(t *testing.T, m Message) {
			to, _ := m.Hdr().To()
			if got := to.String(); got != "\"Bob \\\x00 Null\" <sip:bob@example.org>" {
				t.Errorf("To written as %q", got)
			}
		}}),
	// RFC 5118 §4.10: RFC 3261's ABNF allows ":::" before an embedded IPv4
	// address; it is tolerated, kept as written, and equal to the "::" form.
	"ipv6-bug-abnf-3-colons": {method: OPTIONS, ruri: "sip:user@[2001:db8:::192.0.2.1]", ruriUser: "user", ruriHost: "[2001:db8:::192.0.2.1]",
		via: via{transport: "UDP", host: "lab1.east.example.com", branch: "z9hG4bKas3-111", rport: -1}, vias: 1,
		fromTag: "810x2", callID: "G9559905523997077@hlau_4100", cseq: CSeq{689, OPTIONS}, maxFwd: 70,
		check: func(t *testing.T, m Message) {
			u := m.(*Request).URI
			if a, ok := u.Addr(); !ok || a != netip.MustParseAddr("2001:db8::192.0.2.1") {
				t.Errorf("addr %v %v", a, ok)
			}
			other, _ := ParseURI("sip:user@[2001:db8::192.0.2.1]")
			if !u.Equal(&other) {
				t.Error("not equal to the two-colon form")
			}
			if to, err := m.Hdr().To(); err != nil || to.URI.Host != "[2001:db8:::192.0.2.1]" {
				t.Errorf("To %+v %v", to, err)
			}
		}},
	"ipv6-correct-abnf-2-colons": {method: OPTIONS, ruri: "sip:user@[2001:db8::192.0.2.1]", ruriUser: "user", ruriHost: "[2001:db8::192.0.2.1]",
		via: via{transport: "UDP", host: "lab1.east.example.com", branch: "z9hG4bKas3-111", rport: -1}, vias: 1,
		fromTag: "810x2", callID: "G9559905523997077@hlau_4100", cseq: CSeq{689, OPTIONS}, maxFwd: 70},
	"ipv6-ruri-via-contact": {method: INVITE, ruri: "sip:[2001:db8::10]:5070", ruriHost: "[2001:db8::10]", ruriPort: 5070,
		via:  via{transport: "UDP", host: "[2001:db8::9:1]", port: 5070, branch: "z9hG4bKas3-111", received: "2001:db8::9:255", rport: 5070},
		vias: 1, fromTag: "v6a", callID: "SSG9559905523997077@hlau_4100", cseq: CSeq{86, INVITE}, maxFwd: 70,
		contacts: []string{"sip:caller@[2001:db8::9:1]:5070;transport=udp"},
		check: func(t *testing.T, m Message) {
			u := m.(*Request).URI
			if a, ok := u.Addr(); !ok || a.String() != "2001:db8::10" || u.HostPort() != "[2001:db8::10]:5070" {
				t.Errorf("addr %v %v %q", a, ok, u.HostPort())
			}
			v, _ := m.Hdr().TopVia()
			if v.SentBy() != "[2001:db8::9:1]:5070" {
				t.Errorf("sent-by %q", v.SentBy())
			}
		}},
	"ipv6-register-contacts": {method: REGISTER, ruri: "sip:[2001:db8::10]", ruriHost: "[2001:db8::10]",
		via: via{transport: "TCP", host: "[2001:db8::9:1]", branch: "z9hG4bKv6reg", rport: -1}, vias: 1,
		fromTag: "81x2", callID: "v6reg@2001:db8::9:1", cseq: CSeq{98176, REGISTER}, maxFwd: 70,
		contacts: []string{"sip:user@[2001:db8::9:1]:5060", "sip:user@[::ffff:192.0.2.1]"}},
	"ipv6-port-in-via-maddr": {method: OPTIONS, ruri: "sip:[2001:db8::10];maddr=[2001:db8::20]", ruriHost: "[2001:db8::10]",
		via: via{transport: "UDP", host: "[2001:db8::9:1]", branch: "z9hG4bKmaddr", rport: 0}, vias: 2,
		fromTag: "mad", callID: "maddr-v6", cseq: CSeq{5, OPTIONS}, maxFwd: 69,
		check: func(t *testing.T, m Message) {
			if v, _ := m.(*Request).URI.Param("maddr"); v != "[2001:db8::20]" {
				t.Errorf("maddr %q", v)
			}
		}},
	"tel-ruri": std(validCase{ruri: "tel:+1-201-555-0123;phone-context=example.com", ruriUser: "+1-201-555-0123", toDisplay: "-",
		check: func(t *testing.T, m Message) {
			u := m.(*Request).URI
			other, _ := ParseURI("tel:+12015550123;PHONE-CONTEXT=Example.com")
			if !u.IsTel() || !u.Equal(&other) {
				t.Error("tel URI")
			}
		}}),
	"mailto-ruri": std(validCase{method: OPTIONS, ruri: "mailto:bob@example.org", ruriHost: "-", toDisplay: "-",
		check: func(t *testing.T, m Message) {
			if u := m.(*Request).URI; u.Opaque != "bob@example.org" || u.IsSIP() {
				t.Errorf("opaque %+v", u)
			}
		}}),
	"urn-ruri": std(validCase{ruri: "urn:service:sos", ruriHost: "-", toDisplay: "-", contacts: []string{"sip:alice@pc33.example.com"},
		check: func(t *testing.T, m Message) {
			if u := m.(*Request).URI; u.Scheme != "urn" || u.Opaque != "service:sos" {
				t.Errorf("opaque %+v", u)
			}
		}}),
	"unknown-method": std(validCase{method: "NEWMETHOD", contacts: []string{"sip:alice@pc33.example.com"}, bodyLen: 5}),
	"unknown-headers": std(validCase{method: OPTIONS,
		check: all(values("x-custom", "some value", "second line"), headerValue("!Weird%Header*_+`'~=still a token name"),
			headerValue("X-Empty="), headerValue("P-Asserted-Identity=<sip:alice@example.com>"))}),
	"values-one-line": std(validCase{via: via{transport: "UDP", host: "p2.example.net", branch: "z9hG4bKp2", rport: -1}, vias: 3, maxFwd: 68,
		cseq: CSeq{1, INVITE}, contacts: []string{"sip:alice@pc33.example.com", "sip:alice@mobile.example.com"},
		check: all(values("Supported", "timer", "100rel", "path"),
			values("Route", "<sip:p3.example.org;lr>", "<sip:p4.example.org;lr>"),
			values("m", `<sip:alice@pc33.example.com>;q=0.7`, `"Alice, mobile" <sip:alice@mobile.example.com>;q=0.3`),
			func(t *testing.T, m Message) {
				var rcv []string
				for v, err := range m.Hdr().Vias() {
					if err != nil {
						t.Fatal(err)
					}
					rcv = append(rcv, v.Received())
				}
				if !slices.Equal(rcv, []string{"", "192.0.2.1", ""}) {
					t.Errorf("received %q", rcv)
				}
			})}),
	"values-repeated-lines": std(validCase{via: via{transport: "TCP", host: "p2.example.net", port: 5060, branch: "z9hG4bKrep2", rport: -1}, vias: 3, maxFwd: 68,
		cseq: CSeq{2, INVITE}, contacts: []string{"sip:alice@pc33.example.com", "sip:alice@mobile.example.com"},
		check: all(values("Supported", "timer", "100rel"), values("Route", "<sip:p3.example.org;lr>", "<sip:p4.example.org;lr>"))}),
	"cl-smaller-than-body": std(validCase{method: MESSAGE, bodyLen: 5,
		check: func(t *testing.T, m Message) {
			if string(m.MessageBody()) != "Hello" {
				t.Errorf("body %q", m.MessageBody())
			}
		}}),
	"no-content-length": std(validCase{method: MESSAGE, bodyLen: 17}),
	"register-star": {method: REGISTER, ruri: "sip:registrar.example.com", ruriHost: "registrar.example.com",
		via: via{transport: "UDP", host: "bobspc.example.com", port: 5060, branch: "z9hG4bKnashds7", rport: -1}, vias: 1,
		fromDisplay: "Bob", fromTag: "456248", toDisplay: "Bob", callID: "843817637684230@998sdasdh09", cseq: CSeq{1826, REGISTER}, maxFwd: 70,
		contacts: []string{"*"},
		check: func(t *testing.T, m Message) {
			if e, ok := m.Hdr().Expires(); !ok || e != 0 {
				t.Errorf("expires %d %v", e, ok)
			}
		}},
	"register-contacts": {method: REGISTER, ruri: "sip:registrar.example.com", ruriHost: "registrar.example.com",
		via: via{transport: "UDP", host: "bobspc.example.com", port: 5060, branch: "z9hG4bKreg2", rport: -1}, vias: 1,
		fromDisplay: "Bob", fromTag: "reg2", toDisplay: "Bob", callID: "reg2@bobspc", cseq: CSeq{1827, REGISTER}, maxFwd: 70,
		contacts: []string{"sip:bob@192.0.2.4", "sip:bob@bobspc.example.com;transport=tcp"},
		check: func(t *testing.T, m Message) {
			var got []string
			for c := range m.Hdr().Contacts() {
				e, _ := c.Param("expires")
				got = append(got, e)
				if inst, ok := c.Param("+sip.instance"); ok && inst != `"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"` {
					t.Errorf("instance %q", inst)
				}
			}
			if !slices.Equal(got, []string{"3600", "600"}) {
				t.Errorf("expires %q", got)
			}
			if e, _ := m.Hdr().Expires(); e != 7200 {
				t.Errorf("Expires %d", e)
			}
		}},
	"response-180-rr": std(validCase{method: "-", status: 180, reason: "Ringing",
		via: via{transport: "UDP", host: "p1.example.com", branch: "z9hG4bKp1", received: "192.0.2.1", rport: -1}, vias: 2,
		toTag: "a6c85cf", maxFwd: -1, contacts: []string{"sip:bob@192.0.2.4"}, cseq: CSeq{314159, INVITE},
		check: func(t *testing.T, m Message) {
			var rr []string
			for a, err := range m.Hdr().RecordRoutes() {
				if err != nil {
					t.Fatal(err)
				}
				rr = append(rr, a.URI.String())
			}
			if !slices.Equal(rr, []string{"sip:p2.example.net;lr", "sip:p1.example.com;lr"}) {
				t.Errorf("record-route %q", rr)
			}
			h := m.Hdr().Clone()
			h.RemoveFirstValue("Via")
			v, _ := h.TopVia()
			if p, _ := v.RPort(); v.Host != "pc33.example.com" || p != 5062 || v.Received() != "192.0.2.101" {
				t.Errorf("second via %+v", v)
			}
		}}),
	"response-200-rr-lines": std(validCase{method: "-", status: 200, reason: "OK",
		via: via{transport: "TCP", host: "p2.example.net", branch: "z9hG4bKp2", rport: -1}, vias: 3,
		toTag: "314159", maxFwd: -1, contacts: []string{"sip:bob@192.0.2.4"}, cseq: CSeq{314159, INVITE}, bodyLen: 141,
		check: func(t *testing.T, m Message) {
			var rr []string
			for a, err := range m.Hdr().RecordRoutes() {
				if err != nil {
					t.Fatal(err)
				}
				rr = append(rr, a.Display+"|"+a.URI.String())
			}
			if !slices.Equal(rr, []string{"|sip:p2.example.net;lr", "Proxy, One|sip:p1.example.com;lr"}) {
				t.Errorf("record-route %q", rr)
			}
			if !m.(*Response).IsSuccess() {
				t.Error("IsSuccess")
			}
		}}),
	"response-odd-reason":   std(validCase{method: "-", status: 482, reason: "Loop  Detected à la carte", toDisplay: "-", toTag: "r1", maxFwd: -1, cseq: CSeq{3, INVITE}}),
	"response-unknown-code": std(validCase{method: "-", status: 699, reason: "Something Unusual", toDisplay: "-", toTag: "r2", maxFwd: -1, cseq: CSeq{4, BYE}}),
	"no-blank-line":         std(validCase{method: OPTIONS, cseq: CSeq{9, OPTIONS}}),
	"lf-only":               std(validCase{method: MESSAGE, bodyLen: 8}),
	"leading-crlf":          std(validCase{method: OPTIONS}),
	"cseq-max":              std(validCase{method: BYE, toTag: "t2", cseq: CSeq{1<<31 - 1, BYE}, maxFwd: 255}),
	"quoted-params": std(validCase{method: SUBSCRIBE, toDisplay: "-",
		check: func(t *testing.T, m Message) {
			to, _ := m.Hdr().To()
			if x, _ := to.Param("x"); x != `"a \"quoted\" ; value"` || Unquote(x) != `a "quoted" ; value` {
				t.Errorf("x %q", x)
			}
			if ev, _ := m.Hdr().Event(); ev != "presence" {
				t.Errorf("event %q", ev)
			}
		}}),
	"body-with-nul":  std(validCase{method: MESSAGE, bodyLen: 11}),
	"ack":            std(validCase{method: ACK, toTag: "a6c85cf"}),
	"cancel":         std(validCase{method: CANCEL}),
	"display-tokens": std(validCase{fromDisplay: "Alice   Liddell", fromTag: "dt1", toDisplay: "Mr. Bob"}),
	"sips-password-uri-headers": std(validCase{ruri: "sips:bob:secret@example.org:5061;transport=tls", ruriUser: "bob", ruriHost: "example.org", ruriPort: 5061,
		contacts: []string{"sip:alice@pc33.example.com?Subject=Project%20X&Priority=urgent"},
		check: func(t *testing.T, m Message) {
			r := m.(*Request)
			if r.URI.Password != "secret" || !r.URI.IsSecure() {
				t.Errorf("uri %+v", r.URI)
			}
			rt, err := r.ReferTo()
			if err != nil || rt.URI.Headers != "Replaces=abc%3Bto-tag%3D1" {
				t.Errorf("refer-to %+v %v", rt, err)
			}
		}}),
	"empty-subject": std(validCase{check: all(headerValue("Subject="), headerValue("Organization="))}),
	"via-params": std(validCase{method: OPTIONS,
		via: via{transport: "UDP", host: "239.255.255.1", port: 5060, branch: "z9hG4bKmc", received: "192.0.2.9", rport: 5099},
		check: func(t *testing.T, m Message) {
			v, _ := m.Hdr().TopVia()
			if ttl, _ := v.Params.Get("ttl"); ttl != "15" || !v.Params.Has("x-flag") {
				t.Errorf("via params %q", v.Params)
			}
		}}),
	"notify": std(validCase{method: NOTIFY, toDisplay: "-", toTag: "n2", bodyLen: 14,
		check: all(headerValue("Subscription-State=active;expires=599"), func(t *testing.T, m Message) {
			if ev, ok := m.Hdr().Event(); !ok || ev != "dialog" {
				t.Errorf("event %q", ev)
			}
		})}),
	"authorization": std(validCase{method: REGISTER, ruri: "sip:example.com", ruriHost: "example.com",
		check: func(t *testing.T, m Message) {
			c, ok := m.Hdr().Authorization()
			if !ok || c.Scheme != "Digest" {
				t.Fatalf("credentials %+v", c)
			}
			for k, want := range map[string]string{"username": "bob", "realm": "example.com", "uri": "sip:example.com", "qop": "auth", "nc": "00000001", "algorithm": "MD5", "cnonce": "0a4f113b"} {
				if v, ok := c.Param(k); !ok || v != want {
					t.Errorf("%s = %q, want %q", k, v, want)
				}
			}
			if n := len(slices.Collect(m.Hdr().Values("Authorization"))); n != 1 {
				t.Errorf("Authorization split into %d values", n)
			}
		}}),
	"response-401": std(validCase{method: "-", status: 401, reason: "Unauthorized", toDisplay: "-", toTag: "4a1", maxFwd: -1, cseq: CSeq{1, REGISTER},
		check: func(t *testing.T, m Message) {
			c, ok := m.Hdr().WWWAuthenticate()
			if !ok {
				t.Fatal("no challenge")
			}
			if q, _ := c.Param("qop"); q != "auth,auth-int" {
				t.Errorf("qop %q", q)
			}
			if o, ok := c.Param("opaque"); !ok || o != "" {
				t.Errorf("opaque %q %v", o, ok)
			}
			if s, _ := c.Param("stale"); s != "FALSE" {
				t.Errorf("stale %q", s)
			}
		}}),
	"response-100-timestamp": std(validCase{method: "-", status: 100, reason: "Trying", toDisplay: "-", maxFwd: -1, cseq: CSeq{314159, INVITE}, check: headerValue("Timestamp=54.2 0.1")}),
	"max-forwards-zero":      std(validCase{method: OPTIONS, maxFwd: -2}),
	"no-max-forwards":        std(validCase{method: OPTIONS, maxFwd: -1}),
	"long-but-under-limits": std(validCase{method: OPTIONS, check: func(t *testing.T, m Message) {
		if n := len(slices.Collect(m.Hdr().Values("X-Many"))); n != 1 {
			t.Errorf("unknown header split into %d values", n)
		}
	}}),
	"version-lowercase-response": std(validCase{method: "-", status: 200, reason: "ok", toDisplay: "-", toTag: "lc", maxFwd: -1, cseq: CSeq{5, OPTIONS}}),
	"transport-uri-params": std(validCase{ruri: "sip:bob@example.org;transport=ws;lr;user=phone;method=INVITE;ttl=1", ruriUser: "bob", ruriHost: "example.org",
		contacts: []string{"sip:alice@df7jal23ls0d.invalid;transport=ws"},
		check: func(t *testing.T, m Message) {
			u := m.(*Request).URI
			if u.Transport() != "ws" || !u.Params.Has("lr") {
				t.Errorf("params %q", u.Params)
			}
		}}),
}

type invalidCase struct {
	code   int
	reason string // a part of the reason that names what is wrong
	limits Limits
	msg    bool // the message is returned beside the error, to answer it
}

var invalidCases = map[string]invalidCase{
	"ipv6-unbracketed-ruri":      {400, "Request-URI: IPv6 address without brackets", Limits{}, true},
	"ipv6-unbracketed-ruri-user": {400, "Request-URI: IPv6 address without brackets", Limits{}, true},
	"ipv6-unbracketed-via":       {400, "Via: bad sent-by", Limits{}, true},
	"ipv6-unbracketed-from":      {400, "From: bad URI: IPv6 address without brackets", Limits{}, true},
	"ipv6-unclosed-ruri":         {400, "Request-URI: unclosed IPv6", Limits{}, true},
	"cl-larger-than-body":        {400, "Content-Length: larger than the body", Limits{}, true},
	"cl-negative":                {400, "Content-Length: not a number", Limits{}, true},
	"cl-not-number":              {400, "Content-Length: not a number", Limits{}, true},
	"cl-twice":                   {400, "Content-Length: appears more than once", Limits{}, true},
	"missing-via":                {400, "Missing Via", Limits{}, true},
	"missing-from":               {400, "Missing From", Limits{}, true},
	"missing-to":                 {400, "Missing To", Limits{}, true},
	"missing-call-id":            {400, "Missing Call-ID", Limits{}, true},
	"missing-cseq":               {400, "Missing CSeq", Limits{}, true},
	"cseq-method-mismatch":       {400, "CSeq: method ACK does not match INVITE", Limits{}, true},
	"cseq-too-large":             {400, "CSeq: sequence number too large", Limits{}, true},
	"cseq-no-method":             {400, "CSeq: bad method", Limits{}, true},
	"cseq-negative":              {400, "CSeq: no sequence number", Limits{}, true},
	"version-7":                  {505, "SIP/7.0", Limits{}, true},
	"version-2-1":                {505, "SIP/2.1", Limits{}, true},
	"nul-in-header":              {400, "NUL byte in Subject", Limits{}, true},
	"huge-header":                {513, "header line too long", Limits{MaxLineLength: 1024}, true},
	"too-many-headers":           {513, "too many headers", Limits{MaxHeaders: 30}, true},
	"too-large":                  {513, "Message Too Large", Limits{MaxMessageSize: 2500}, false},
	"request-uri-too-long":       {414, "Request-URI Too Long", Limits{MaxLineLength: 1024}, false},
	"max-forwards-not-number":    {400, "Max-Forwards: not a number", Limits{}, true},
	"multiple-from":              {400, "From: appears more than once", Limits{}, true},
	"unquoted-display-comma":     {400, "From: bad display name", Limits{}, true},
	"unterminated-quote":         {400, "To: unterminated display name", Limits{}, true},
	"missing-gt":                 {400, "To: missing '>'", Limits{}, true},
	"lws-in-ruri":                {400, "Request-URI: contains whitespace", Limits{}, true},
	"expires-not-number":         {400, "Expires: not a number", Limits{}, true},
	"via-bad-version":            {505, "Version Not Supported: Via SIP/3.0", Limits{}, true},
	"nul-escaped-outside-quote":  {400, "NUL byte in Subject", Limits{}, true},
	"ipv6-3-colons-no-ipv4":      {400, "Request-URI: bad IPv6 reference", Limits{}, true},
	"header-without-colon":       {400, "no colon", Limits{}, true},
	"empty-call-id":              {400, "Call-ID: empty", Limits{}, true},
	"bad-port-ruri":              {400, "Request-URI: bad port", Limits{}, true},
	"status-code-short":          {400, "status code", Limits{}, false},
	"garbage-start-line":         {400, "request line", Limits{}, false},
	"bad-method-chars":           {400, "method", Limits{}, false},
}

func readCases(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.sip"))
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]byte, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".sip")] = data
	}
	return out
}

func TestTortureCaseFiles(t *testing.T) {
	valid, invalid := readCases(t, "valid"), readCases(t, "invalid")
	if len(valid)+len(invalid) < 45 {
		t.Errorf("only %d messages", len(valid)+len(invalid))
	}
	for name := range valid {
		if _, ok := validCases[name]; !ok {
			t.Errorf("testdata/valid/%s.sip has no entry in validCases", name)
		}
	}
	for name := range validCases {
		if _, ok := valid[name]; !ok {
			t.Errorf("validCases[%q] has no file", name)
		}
	}
	for name := range invalid {
		if _, ok := invalidCases[name]; !ok {
			t.Errorf("testdata/invalid/%s.sip has no entry in invalidCases", name)
		}
	}
	for name := range invalidCases {
		if _, ok := invalid[name]; !ok {
			t.Errorf("invalidCases[%q] has no file", name)
		}
	}
}

func TestTortureValid(t *testing.T) {
	for name, data := range readCases(t, "valid") {
		want, ok := validCases[name]
		if !ok {
			continue
		}
		t.Run(name, func(t *testing.T) {
			m, err := Parse(data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			checkValid(t, m, want)
			out := m.String()
			if len(out) != m.MarshalSize() {
				t.Errorf("MarshalSize %d, wrote %d", m.MarshalSize(), len(out))
			}
			m2, err := Parse([]byte(out))
			if err != nil {
				t.Fatalf("re-parse: %v\n%s", err, out)
			}
			if diff := messageDiff(m, m2); diff != "" {
				t.Errorf("round trip: %s", diff)
			}
			checkValid(t, m2, want)
			if out2 := m2.String(); out2 != out {
				t.Errorf("writing is not stable:\n%q\n%q", out, out2)
			}
		})
	}
}

func checkValid(t *testing.T, m Message, want validCase) {
	t.Helper()
	h := m.Hdr()
	switch r := m.(type) {
	case *Request:
		if want.status != 0 {
			t.Fatalf("got a request, want a %d response", want.status)
		}
		if r.Method != want.method {
			t.Errorf("method %q, want %q", r.Method, want.method)
		}
		if got := r.URI.String(); got != want.ruri {
			t.Errorf("R-URI %q, want %q", got, want.ruri)
		}
		host := want.ruriHost
		if host == "-" {
			host = ""
		}
		if r.URI.User != want.ruriUser || r.URI.Host != host || r.URI.Port != want.ruriPort {
			t.Errorf("R-URI parts %q %q %d", r.URI.User, r.URI.Host, r.URI.Port)
		}
	case *Response:
		if r.StatusCode != want.status || r.Reason != want.reason {
			t.Errorf("status %d %q, want %d %q", r.StatusCode, r.Reason, want.status, want.reason)
		}
	}
	v, err := h.TopVia()
	if err != nil {
		t.Fatalf("TopVia: %v", err)
	}
	rport, hasRport := v.RPort()
	if !hasRport {
		rport = -1
	}
	got := via{v.Transport, v.Host, v.Port, v.Branch(), v.Received(), rport}
	if got != want.via {
		t.Errorf("top Via %+v, want %+v", got, want.via)
	}
	if n := h.ViaCount(); n != want.vias {
		t.Errorf("%d Via values, want %d", n, want.vias)
	}
	from, err := h.From()
	if err != nil || from.Display != want.fromDisplay || from.Tag() != want.fromTag || h.FromTag() != want.fromTag {
		t.Errorf("From %q tag %q (%v), want %q tag %q", from.Display, from.Tag(), err, want.fromDisplay, want.fromTag)
	}
	to, err := h.To()
	if err != nil || to.Display != want.toDisplay || to.Tag() != want.toTag || h.ToTag() != want.toTag {
		t.Errorf("To %q tag %q (%v), want %q tag %q", to.Display, to.Tag(), err, want.toDisplay, want.toTag)
	}
	if id := h.CallID(); id != want.callID {
		t.Errorf("Call-ID %q, want %q", id, want.callID)
	}
	if cs, err := h.CSeq(); err != nil || cs != want.cseq {
		t.Errorf("CSeq %v (%v), want %v", cs, err, want.cseq)
	}
	mf, ok := h.MaxForwards()
	if !ok {
		mf = -1
	}
	if mf != want.maxFwd {
		t.Errorf("Max-Forwards %d, want %d", mf, want.maxFwd)
	}
	var contacts []string
	for a, err := range h.Contacts() {
		switch {
		case err != nil:
			t.Errorf("Contact: %v", err)
		case a.Wildcard:
			contacts = append(contacts, "*")
		default:
			contacts = append(contacts, a.URI.String())
		}
	}
	if !slices.Equal(contacts, want.contacts) {
		t.Errorf("contacts %q, want %q", contacts, want.contacts)
	}
	if n := len(m.MessageBody()); n != want.bodyLen {
		t.Errorf("body %d bytes, want %d", n, want.bodyLen)
	}
	if want.check != nil {
		want.check(t, m)
	}
}

func TestTortureInvalid(t *testing.T) {
	for name, data := range readCases(t, "invalid") {
		want, ok := invalidCases[name]
		if !ok {
			continue
		}
		t.Run(name, func(t *testing.T) {
			p := Parser{Limits: want.limits}
			m, err := p.Parse(data)
			if err == nil {
				t.Fatalf("parsed without error:\n%s", m)
			}
			se, ok := AsStatusError(err)
			if !ok {
				t.Fatalf("not a *StatusError: %v", err)
			}
			if se.Code != want.code || !strings.Contains(se.Reason, want.reason) {
				t.Errorf("got %d %q, want %d with %q", se.Code, se.Reason, want.code, want.reason)
			}
			if (m != nil) != want.msg {
				t.Errorf("message returned: %v, want %v", m != nil, want.msg)
			}
			if m != nil {
				if _, err := m.Hdr().TopVia(); err != nil && want.reason != "Missing Via" && !strings.Contains(want.reason, "Via") {
					t.Errorf("no Via to answer with: %v", err)
				}
			}
		})
	}
}
