package dialplan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/parley-sip/parley/internal/confyaml"
)

var testUsers = []string{"alice", "bob", "carol", "dave", "erin"}

// parseFile parses the value of the dialplan: key of a test file.
func parseText(t testing.TB, text string, opts Options) (*Plan, error) {
	t.Helper()
	var doc struct {
		Dialplan yaml.Node `yaml:"dialplan"`
	}
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	return Parse(&doc.Dialplan, opts)
}

func loadPlan(t *testing.T) *Plan {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("testdata", "plan.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := parseText(t, string(text), Options{Users: testUsers})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMatch(t *testing.T) {
	p := loadPlan(t)
	for _, tc := range []struct {
		dialled, caller string
		want            string // Route.String(), "" for no match
		line            int
	}{
		{"100", "bob", "100 → user alice media relay", 6},
		{"101", "", "101 → user bob media direct", 7},
		{"102", "", "102 → user carol media relay recorded", 8},
		{"200", "", "200 → group hunt media relay", 20},
		{"300", "", "300 → play prompts/closed.wav media relay", 29},
		{"301", "", "301 → play prompts/busy.wav media relay", 31},
		{"400", "", "400 → forward 100 media relay", 33},
		{"*97", "alice", "*97 → user alice media relay", 35},
		{"*97", "bob", "*97 → user bob media relay", 38},
		{"*97", "", "*97 → user bob media relay", 38},
		{"250", "", "_2XX → user erin media relay", 40},
		{"212", "", "_21[0-4] → user dave media relay", 42},
		{"215", "", "_2XX → user erin media relay", 40},
		{"2150", "", "", 0},
		{"9", "", "", 0}, // "." needs one more character
		{"90301234", "", "_9. → proxy sip:gw.example.net:5060 media none", 44},
		{"8", "", "_8! → proxy carol media none", 46},
		{"8123", "", "_8! → proxy carol media none", 46},
		{"5200", "", "_5NXX → user alice media relay recorded", 48},
		{"5100", "", "", 0},
		{"erin", "", "erin → user erin media relay", 0},
		{"zed", "", "", 0},
		{"", "", "", 0},
		{strings.Repeat("9", 65), "", "", 0},
	} {
		r, ok := p.Match(tc.dialled, tc.caller)
		got := ""
		if ok {
			got = r.String()
		}
		if got != tc.want || ok && r.Line != tc.line {
			t.Errorf("Match(%q, %q) = %q line %d, want %q line %d", tc.dialled, tc.caller, got, r.Line, tc.want, tc.line)
		}
	}
	r, _ := p.Match("200", "")
	g := r.Action.(*RingGroup)
	if g.Strategy != Hunt || len(g.Members) != 3 || g.Members[0].Timeout != 10*time.Second || g.Members[1].Timeout != 5*time.Second || g.Timeout != 45*time.Second {
		t.Errorf("group %+v", g)
	}
	r, _ = p.Match("202", "")
	if g := r.Action.(*RingGroup); g.Strategy != Sequential || g.Members[1].Timeout != 45*time.Second {
		t.Errorf("group %+v", g)
	}
	r, _ = p.Match("101", "")
	if ru := r.Action.(*RingUser); ru.Timeout != 20*time.Second {
		t.Errorf("timeout %v", ru.Timeout)
	}
	if a := p.User("alice"); a.ForwardNoAnswer != "200" || a.NoAnswerAfter != 15*time.Second || a.DND {
		t.Errorf("alice %+v", a)
	}
	if b := p.User("bob"); b.ForwardBusy != "300" || !b.DND || b.NoAnswerAfter != DefaultNoAnswerAfter {
		t.Errorf("bob %+v", b)
	}
	if c := p.User("carol"); c.ForwardAlways != "101" || !c.Record {
		t.Errorf("carol %+v", c)
	}
	if e := p.User("erin"); e != (UserSettings{NoAnswerAfter: DefaultNoAnswerAfter}) {
		t.Errorf("erin %+v", e)
	}
	if p.RingTimeout() != 45*time.Second || p.Len() != 17 {
		t.Errorf("ring timeout %v len %d", p.RingTimeout(), p.Len())
	}
}

func TestDefault(t *testing.T) {
	for _, p := range []*Plan{Default([]string{"alice", "bob"}), must(parseText(t, "other: 1\n", Options{Users: []string{"alice", "bob"}}))} {
		r, ok := p.Match("bob", "alice")
		if !ok || r.Media != MediaRelay || r.Action.(*RingUser).User != "bob" || r.Action.(*RingUser).Timeout != DefaultRingTimeout {
			t.Fatalf("%v %v", r, ok)
		}
		if _, ok := p.Match("carol", "alice"); ok {
			t.Fatal("carol matched")
		}
	}
	for mode, want := range map[string]string{"direct": "bob → user bob media direct", "proxy": "bob → proxy bob media none", "off": ""} {
		p, err := parseText(t, "dialplan:\n  users_by_name: "+mode+"\n", Options{Users: []string{"bob"}})
		if err != nil {
			t.Fatal(err)
		}
		r, ok := p.Match("bob", "")
		if got := r; ok && got.String() != want || !ok && want != "" {
			t.Errorf("%s: %v %v", mode, r, ok)
		}
	}
}

func must(p *Plan, err error) *Plan {
	if err != nil {
		panic(err)
	}
	return p
}

// TestBadPlans reads testdata/bad: each file's first line says the error
// it must produce ("# want: TEXT").
func TestBadPlans(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "bad", "*.yaml"))
	if len(files) < 20 {
		t.Fatalf("only %d files", len(files))
	}
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(string(text), "\n")
		want, ok := strings.CutPrefix(first, "# want: ")
		if !ok {
			t.Fatalf("%s: no want line", f)
		}
		_, err = parseText(t, string(text), Options{Users: testUsers})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v\nwant %q", filepath.Base(f), err, want)
		}
	}
}

type voicemailConfig struct {
	Box      string            `yaml:"box"`
	MaxLen   confyaml.Duration `yaml:"max_length"`
	Greeting string            `yaml:"greeting"`
}

func voicemailType() ActionType {
	return ActionType{Name: "voicemail", Anchored: true, Decode: func(n *yaml.Node) (any, error) {
		var c voicemailConfig
		if err := confyaml.DecodeStrict(n, &c); err != nil {
			return nil, err
		}
		if c.Box == "" {
			return nil, confyaml.Errorf(n, "box is required")
		}
		return &c, nil
	}}
}

func TestRegistry(t *testing.T) {
	reg, err := NewRegistry(voicemailType())
	if err != nil {
		t.Fatal(err)
	}
	text := "dialplan:\n  routes:\n    - match: \"*98\"\n      voicemail: {box: alice, max_length: 2m}\n"
	p, err := parseText(t, text, Options{Actions: reg})
	if err != nil {
		t.Fatal(err)
	}
	r, ok := p.Match("*98", "")
	h, isHook := r.Action.(*Hook)
	if !ok || !isHook || h.Kind() != "voicemail" || h.Config.(*voicemailConfig).MaxLen.D() != 2*time.Minute {
		t.Fatalf("%+v", r)
	}
	if _, err := parseText(t, text, Options{}); err == nil || !strings.Contains(err.Error(), `unknown action "voicemail"`) {
		t.Fatalf("without the registry: %v", err)
	}
	for in, want := range map[string]string{
		"voicemail: {box: a, greting: x}":          "line 4: field greting not found",
		"voicemail: {greeting: x}":                 "line 4: box is required",
		"voicemail: {box: a}\n      media: direct": "voicemail needs media: relay",
	} {
		_, err := parseText(t, "dialplan:\n  routes:\n    - match: \"*98\"\n      "+in+"\n", Options{Actions: reg})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
	for _, bad := range []ActionType{
		{Name: "voicemail", Decode: voicemailType().Decode},
		{Name: "user", Decode: voicemailType().Decode},
		{Name: "Conf", Decode: voicemailType().Decode},
		{Name: "conference"},
	} {
		if err := reg.Register(bad); err == nil {
			t.Errorf("Register(%q) accepted", bad.Name)
		}
	}
}

func TestManyErrorsAreBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("dialplan:\n  extensions:\n")
	for i := 0; i < 500; i++ {
		b.WriteString("    \"1@" + strings.Repeat("1", i%10+1) + string(rune('a'+i%26)) + "\": nobody\n")
	}
	_, err := parseText(t, b.String(), Options{Users: testUsers})
	if err == nil || strings.Count(err.Error(), "\n") > maxErrors+1 || !strings.Contains(err.Error(), "too many errors") {
		t.Fatalf("%d lines", strings.Count(err.Error(), "\n"))
	}
}

func TestNotAMapping(t *testing.T) {
	for _, in := range []string{"dialplan: [1, 2]\n", "dialplan: 3\n", "dialplan:\n  routes: {a: 1}\n", "dialplan:\n  routes: [1]\n", "dialplan:\n  extensions: [1]\n", "dialplan:\n  routes:\n    - {match: [1], user: alice}\n"} {
		if _, err := parseText(t, in, Options{}); err == nil || !strings.Contains(err.Error(), "line ") {
			t.Errorf("%q: %v", in, err)
		}
	}
}
