package confyaml

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

type inner struct {
	Timeout Duration `yaml:"timeout"`
}

type outer struct {
	Name   string           `yaml:"name"`
	Inner  inner            `yaml:"inner"`
	List   []inner          `yaml:"list"`
	ByName map[string]inner `yaml:"by_name"`
	Ptr    *inner           `yaml:"ptr"`
}

func node(t *testing.T, s string) *yaml.Node {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(s), &n); err != nil {
		t.Fatal(err)
	}
	return &n
}

func TestDecodeStrict(t *testing.T) {
	var o outer
	if err := DecodeStrict(node(t, "name: x\ninner: {timeout: 2s}\nlist: [{timeout: 1s}]\nby_name: {a: {timeout: 3s}}\nptr: {timeout: 4s}\n"), &o); err != nil {
		t.Fatal(err)
	}
	if o.Name != "x" || o.Inner.Timeout.D() != 2*time.Second || o.List[0].Timeout.D() != time.Second || o.ByName["a"].Timeout.D() != 3*time.Second || o.Ptr.Timeout.D() != 4*time.Second {
		t.Fatalf("%+v", o)
	}
	for _, tc := range []struct{ in, want string }{
		{"nme: x\n", "line 1: field nme"},
		{"inner:\n  timeot: 1s\n", "line 2: field timeot"},
		{"list:\n  - timeout: 1s\n  - tmeout: 1s\n", "line 3"},
		{"by_name:\n  a:\n    x: 1\n", "line 3"},
		{"ptr: {y: 1}\n", "line 1"},
		{"inner:\n  timeout: soon\n", "line 2: bad duration"},
		{"name: [1]\n", "line 1"},
	} {
		var o outer
		err := DecodeStrict(node(t, tc.in), &o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestErrorf(t *testing.T) {
	n := &yaml.Node{Line: 7}
	if got := Errorf(n, "bad %s", "thing").Error(); got != "line 7: bad thing" {
		t.Fatal(got)
	}
}
