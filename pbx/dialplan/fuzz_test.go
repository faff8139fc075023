package dialplan

import (
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzParse: any input gives a plan or an error, never a panic; a plan
// parsed from it matches every extension it lists to a route of that
// number, and Match never panics on odd numbers.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	bad, _ := filepath.Glob(filepath.Join("testdata", "bad", "*.yaml"))
	for _, name := range append(files, bad...) {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	reg, err := NewRegistry(voicemailType())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		var doc struct {
			Dialplan yaml.Node `yaml:"dialplan"`
		}
		if yaml.Unmarshal(data, &doc) != nil {
			return
		}
		p, err := Parse(&doc.Dialplan, Options{Users: testUsers, Actions: reg})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		for num, rs := range p.exact {
			if len(rs) == 0 {
				t.Fatalf("%q has no route", num)
			}
			if rs[len(rs)-1].from == nil {
				if r, ok := p.Match(num, "nobody"); !ok || r.Line != rs[len(rs)-1].Line {
					t.Fatalf("%q does not match its route", num)
				}
			}
		}
		for _, s := range []string{"", "1", "200", "9999999", "*97", "+4930", "alice", "\x00\xff"} {
			p.Match(s, "alice")
		}
	})
}
