package dialplan

import (
	"strings"
	"testing"
)

// TestPatternPrecedence: the most specific pattern wins at the first
// position where the candidates differ, whatever the order they are
// written in.
func TestPatternPrecedence(t *testing.T) {
	patterns := []string{"_X.", "_2!", "_2XX", "_2[0-4]X", "_21X", "_215", "_2NXX", "_!"}
	for _, order := range [][]string{patterns, reversed(patterns)} {
		var b strings.Builder
		b.WriteString("dialplan:\n  routes:\n")
		for _, p := range order {
			b.WriteString("    - match: \"" + p + "\"\n      play: \"" + p + "\"\n")
		}
		plan, err := parseText(t, b.String(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		for dialled, want := range map[string]string{
			"215":  "_215",
			"216":  "_21X",
			"236":  "_2[0-4]X",
			"286":  "_2XX",
			"2861": "_2NXX",
			"2061": "_2!",
			"2":    "_2!",
			"3":    "_!", // "_X." needs two characters
			"31":   "_X.",
			"*":    "_!",
		} {
			r, ok := plan.Match(dialled, "")
			if !ok || r.Pattern != want {
				t.Errorf("%q matched %q %v, want %q", dialled, r.Pattern, ok, want)
			}
		}
	}
}

func reversed(s []string) []string {
	r := make([]string, len(s))
	for i, v := range s {
		r[len(s)-1-i] = v
	}
	return r
}

func TestCompilePattern(t *testing.T) {
	for in, want := range map[string]string{
		"2XX":                   "",
		"[1-3#]":                "",
		"x.":                    "",
		"+49!":                  "",
		"2.X":                   "may only end",
		"[3-1]":                 "bad range",
		"[2":                    "without ]",
		"[a.b]":                 "not allowed in []",
		"2@":                    "not allowed in a pattern",
		"":                      "empty pattern",
		strings.Repeat("1", 65): "longer than",
	} {
		_, err := compilePattern(in)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("compilePattern(%q) = %v, want %q", in, err, want)
		}
	}
	p, _ := compilePattern("[1-3#]Z")
	if !p.steps[0].class.has('#') || !p.steps[0].class.has('2') || p.steps[0].class.has('4') || p.steps[1].class.has('0') {
		t.Error("set contents")
	}
}
