package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const modulePath = "github.com/parley-sip/parley"

// TestReadmeLayout keeps the README's Layout table true: each package's row
// lists exactly the Parley packages it imports (go list, tests excluded),
// and every import is of a package in a row above, so the table is also
// the one-way order of the layers.
func TestReadmeLayout(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to list the import graph")
	}
	root := filepath.Join("..", "..")
	cmd := exec.Command(goTool, "list", "-f", `{{.ImportPath}} {{join .Imports ","}}`, "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	actual := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		pkg, imports, _ := strings.Cut(strings.TrimSpace(line), " ")
		pkg = strings.TrimPrefix(strings.TrimPrefix(pkg, modulePath), "/")
		if strings.HasPrefix(pkg, "internal/") {
			continue // helpers, not layers
		}
		var ours []string
		for _, imp := range strings.Split(imports, ",") {
			if rest, ok := strings.CutPrefix(imp, modulePath+"/"); ok {
				ours = append(ours, rest)
			}
		}
		slices.Sort(ours)
		actual[pkg] = ours
	}

	f, err := os.Open(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var order []string
	documented := map[string][]string{}
	inLayout := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			inLayout = line == "## Layout"
			continue
		}
		if !inLayout || !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 2 {
			t.Fatalf("README Layout row %q: want | package | imports |", line)
		}
		pkg := strings.Trim(strings.TrimSpace(cells[0]), "`")
		var imports []string
		for _, imp := range strings.Split(cells[1], ",") {
			if imp = strings.Trim(strings.TrimSpace(imp), "`"); imp != "" && imp != "—" {
				imports = append(imports, imp)
			}
		}
		slices.Sort(imports)
		order = append(order, pkg)
		documented[pkg] = imports
	}
	if len(order) == 0 {
		t.Fatal("README.md has no Layout table")
	}

	for pkg, imports := range actual {
		doc, ok := documented[pkg]
		switch {
		case !ok:
			t.Errorf("README Layout has no row for %s (imports %v)", pkg, imports)
		case !slices.Equal(doc, imports):
			t.Errorf("README Layout: %s imports %v, the table says %v", pkg, imports, doc)
		}
	}
	for i, pkg := range order {
		if _, ok := actual[pkg]; !ok {
			t.Errorf("README Layout names %s, which is no package", pkg)
		}
		for _, imp := range documented[pkg] {
			if strings.HasPrefix(imp, "internal/") {
				continue
			}
			if j := slices.Index(order, imp); j < 0 || j >= i {
				t.Errorf("README Layout: %s imports %s, which is not in a row above it", pkg, imp)
			}
		}
	}
}
