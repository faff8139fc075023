package guard

import (
	"net/netip"
	"testing"
)

// FuzzParsePrefix checks that ParsePrefix never panics, that what it
// returns is normalized (valid, masked, not IPv4-mapped, no zone), and
// that its string form parses back to the same prefix.
func FuzzParsePrefix(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::ffff:10.0.0.0/104", "::ffff:1.2.3.4", "fe80::1%eth0", "1.2.3.4/33", "", "::/0", "0.0.0.0/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePrefix(s)
		if err != nil {
			return
		}
		if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
			t.Fatalf("ParsePrefix(%q) = %v: not normalized", s, p)
		}
		q, err := ParsePrefix(p.String())
		if err != nil || q != p {
			t.Fatalf("ParsePrefix(%q) = %v, but its string parses to %v, %v", s, p, q, err)
		}
		g, err := New(Config{Trusted: []netip.Prefix{p}})
		if err != nil {
			t.Fatalf("New with trusted %v: %v", p, err)
		}
		if !g.trusted(p.Addr()) {
			t.Fatalf("trusted %v does not contain its own address", p)
		}
	})
}

// FuzzIsScanner checks the matcher against a plain reference: lower-case
// both, look at every occurrence, apply the whole-word rule.
func FuzzIsScanner(f *testing.F) {
	f.Add("friendly-scanner", "friendly-scanner")
	f.Add("iWar", "Kiwarra iwar/1")
	f.Add("sipcli", "MySIPClient")
	f.Add("-x-", "a-x-b")
	f.Add("smap", "SMAP")
	f.Add("é", "Éé")
	f.Fuzz(func(t *testing.T, word, ua string) {
		if checkScannerEntry(word) != nil {
			return
		}
		m := newMatcher([]string{word, "friendly-scanner"})
		want := referenceMatch(word, ua) || referenceMatch("friendly-scanner", ua)
		if got := m.match(ua); got != want {
			t.Fatalf("match(%q) with %q = %v, reference says %v", ua, word, got, want)
		}
	})
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i := range b {
		b[i] = lower(b[i])
	}
	return string(b)
}

func referenceMatch(word, ua string) bool {
	w, u := lowerASCII(word), lowerASCII(ua)
	for i := 0; i+len(w) <= len(u); i++ {
		if u[i:i+len(w)] != w {
			continue
		}
		if isWordByte(w[0]) && i > 0 && isWordByte(u[i-1]) {
			continue
		}
		if end := i + len(w); isWordByte(w[len(w)-1]) && end < len(u) && isWordByte(u[end]) {
			continue
		}
		return true
	}
	return false
}
