package dialplan

import (
	"strconv"
	"strings"
	"testing"
)

// bigPlan has n users with an extension each (1000, 1001, ...), a
// forward per hundredth user, and a handful of patterns.
func bigPlan(b *testing.B, n int) *Plan {
	var sb strings.Builder
	users := make([]string, n)
	sb.WriteString("dialplan:\n  extensions:\n")
	for i := range users {
		users[i] = "u" + strconv.Itoa(i)
		sb.WriteString("    \"" + strconv.Itoa(1000+i) + "\": " + users[i] + "\n")
	}
	sb.WriteString("  users:\n")
	for i := 0; i < len(users); i += 100 {
		sb.WriteString("    " + users[i] + ": {forward: {no_answer: \"" + strconv.Itoa(1001+i) + "\"}}\n")
	}
	sb.WriteString("  routes:\n")
	for _, p := range []string{"_9.", "_0NXXXXXXXX", "_00!", "_+49.", "_2[0-4]X", "_5NXX", "_*X.", "_7XXX"} {
		sb.WriteString("    - match: \"" + p + "\"\n      proxy: \"sip:gw.example.net\"\n")
	}
	p, err := parseText(b, sb.String(), Options{Users: users})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkMatch: the cost does not grow with the plan (100 vs 10,000
// extensions): a map for numbers and names, a trie for patterns.
func BenchmarkMatch(b *testing.B) {
	for _, size := range []int{100, 10000} {
		b.Run(strconv.Itoa(size), func(b *testing.B) { benchmarkMatch(b, bigPlan(b, size)) })
	}
}

func benchmarkMatch(b *testing.B, p *Plan) {
	for _, bc := range []struct{ name, dialled string }{
		{"exact", "1050"},
		{"by-name", "u99"},
		{"pattern", "0301234567"},
		{"pattern-long", "+4930123456789012"},
		{"miss", "6666666"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := p.Match(bc.dialled, "u1"); ok == (bc.name == "miss") {
					b.Fatal(bc.dialled)
				}
			}
		})
	}
}

func BenchmarkParse10k(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		bigPlan(b, 10000)
	}
}
