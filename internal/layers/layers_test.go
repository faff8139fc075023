package layers

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/parley-sip/parley/"

// rank is each top-level package's layer: imports must point to a lower
// rank. Packages under internal/ are helpers any layer may use and are not
// ranked.
var rank = map[string]int{
	"sip":         0,
	"sdp":         1,
	"transport":   1,
	"auth":        1,
	"location":    1,
	"guard":       1,
	"transaction": 2,
	"media":       2,
	"dialog":      3,
	"ua":          4,
	"registrar":   4,
	"proxy":       4,
	"pbx":         5,
	"config":      6,
	"server":      7,
	"admin":       8,
	"cmd":         9,
}

// top returns the top-level directory of a package path in the module.
func top(pkg string) string {
	rel := strings.TrimPrefix(pkg, module)
	t, _, _ := strings.Cut(rel, "/")
	return t
}

func TestImportsPointOneWay(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", module+"...")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		pkg := fields[0]
		from := top(pkg)
		if from == "internal" {
			continue
		}
		r, ok := rank[from]
		if !ok {
			t.Errorf("%s: top-level package %q has no layer; add it to rank (and to DESIGN.md)", pkg, from)
			continue
		}
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			to := top(imp)
			if to == "internal" || to == from && !strings.HasPrefix(imp, pkg+"/") {
				// Helpers; or a subpackage's parent (location/redis →
				// location), which may not import its children.
				continue
			}
			if to == from {
				t.Errorf("%s imports its own subpackage %s: subpackages build on their parent, not the other way", pkg, imp)
				continue
			}
			if rank[to] >= r {
				t.Errorf("%s (layer %d) imports %s (layer %d): imports must point down the layers", pkg, r, imp, rank[to])
			}
		}
	}
}
