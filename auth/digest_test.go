package auth

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/parley-sip/parley/sip"
)

// RFC 7616 §3.9.1: the worked example, for both algorithms.
func TestRFC7616Example(t *testing.T) {
	const (
		user     = "Mufasa"
		password = "Circle of Life"
		realm    = "http-auth@example.org"
		nonce    = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
		cnonce   = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
		opaque   = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
	)
	for _, tc := range []struct {
		alg, want string
	}{
		{MD5, "8ca523f5e9506fed4657c9700eebdbec"},
		{SHA256, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			// The challenge exactly as the RFC prints it.
			chv := `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=` + tc.alg +
				`, nonce="` + nonce + `", opaque="` + opaque + `"`
			cr, err := sip.ParseCredentials(chv)
			if err != nil {
				t.Fatal(err)
			}
			ch, err := parseChallenge(cr, false)
			if err != nil {
				t.Fatal(err)
			}
			if ch.qop != "auth" {
				t.Fatalf("qop chosen = %q, want auth", ch.qop)
			}
			val := ch.answer("GET", "/dir/index.html", user, password, nil, 1, cnonce)
			cr, err = sip.ParseCredentials(val)
			if err != nil {
				t.Fatal(err)
			}
			p, err := parseDigest(cr.Params)
			if err != nil {
				t.Fatal(err)
			}
			if p.response != tc.want {
				t.Errorf("response = %s, want %s", p.response, tc.want)
			}
			if p.nc != "00000001" || p.qop != "auth" || p.cnonce != cnonce || p.opaque != opaque ||
				p.uri != "/dir/index.html" || p.username != user || p.realm != realm || p.algorithm != tc.alg {
				t.Errorf("answer fields wrong: %s", val)
			}

			// The server side computes the same from a stored HA1.
			alg, _ := parseAlgorithm(tc.alg)
			ha1 := HA1MD5(user, realm, password)
			if alg.sha {
				ha1 = HA1SHA256(user, realm, password)
			}
			in := digestInput{alg: alg, method: "GET", uri: "/dir/index.html", nonce: nonce,
				nc: "00000001", cnonce: cnonce, qop: "auth"}
			if got := string(appendResponse(nil, []byte(ha1), &in)); got != tc.want {
				t.Errorf("server response = %s, want %s", got, tc.want)
			}
		})
	}
}

// RFC 2617 §3.5 example (MD5, qop=auth) and its RFC 2069 form, whose expected
// value follows from the same formula without qop.
func TestRFC2617Example(t *testing.T) {
	ha1 := HA1MD5("Mufasa", "testrealm@host.com", "Circle Of Life")
	in := digestInput{method: "GET", uri: "/dir/index.html", nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
		nc: "00000001", cnonce: "0a4f113b", qop: "auth"}
	if got := string(appendResponse(nil, []byte(ha1), &in)); got != "6629fae49393a05397450978507c4ef1" {
		t.Errorf("response = %s", got)
	}
}

func TestHA1Helpers(t *testing.T) {
	m := md5.Sum([]byte("Mufasa:http-auth@example.org:Circle of Life"))
	if got := HA1MD5("Mufasa", "http-auth@example.org", "Circle of Life"); got != hex.EncodeToString(m[:]) {
		t.Errorf("HA1MD5 = %s", got)
	}
	s := sha256.Sum256([]byte("a:b:c"))
	if got := HA1SHA256("a", "b", "c"); got != hex.EncodeToString(s[:]) {
		t.Errorf("HA1SHA256 = %s", got)
	}
}

func TestParseDigest(t *testing.T) {
	good := []struct {
		in   string
		want digestParams
	}{
		{`username="bob", realm="x", nonce="n", uri="sip:x", response="r"`,
			digestParams{username: "bob", realm: "x", nonce: "n", uri: "sip:x", response: "r"}},
		{`Username = "b\"o\\b" ,REALM=x,nc=00000001,qop=auth,,`,
			digestParams{username: `b"o\b`, realm: "x", nc: "00000001", qop: "auth"}},
		{`uri=sip:bob@x;transport=tcp, unknown="a,b", x=y`, digestParams{uri: "sip:bob@x;transport=tcp"}},
		{`qop="auth, auth-int"`, digestParams{qop: "auth, auth-int"}},
		{``, digestParams{}},
		{"realm=\"x\"\t,\r\n nonce=\"y\"", digestParams{realm: "x", nonce: "y"}},
	}
	for _, tc := range good {
		got, err := parseDigest(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseDigest(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	bad := []struct {
		in   string
		want error
	}{
		{`username="bob`, errSyntax},
		{`username`, errSyntax},
		{`=x`, errSyntax},
		{`username=`, errSyntax},
		{`username="a"b`, errSyntax},
		{`username=a b`, errSyntax},
		{`realm="x", REALM="y"`, errDuplicate},
		{`nonce="a" nonce="b"`, errSyntax},
	}
	for _, tc := range bad {
		if _, err := parseDigest(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("parseDigest(%q) error = %v, want %v", tc.in, err, tc.want)
		}
	}
}

func TestParseNC(t *testing.T) {
	for in, want := range map[string]uint32{"00000001": 1, "0000000a": 10, "0000000A": 10, "ffffffff": 1<<32 - 1} {
		if got, ok := parseNC(in); !ok || got != want {
			t.Errorf("parseNC(%q) = %d, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "1", "0000001", "000000001", "0000000g", "+0000001"} {
		if _, ok := parseNC(in); ok {
			t.Errorf("parseNC(%q) accepted", in)
		}
	}
	if formatNC(1) != "00000001" || formatNC(0xabcdef12) != "abcdef12" {
		t.Error("formatNC")
	}
}
