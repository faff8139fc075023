package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/pbx/cdr"
	"github.com/parley-sip/parley/pbx/cdr/cdrtest"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/*.golden")

var cdrBase = time.Date(2026, 12, 3, 22, 15, 0, 0, time.UTC)

// writeCalls fills DIR/cdr.sqlite and returns the writer, left open as a
// running server would keep it.
func writeCalls(t *testing.T, dir string) *cdr.SQLite {
	t.Helper()
	s, err := cdr.OpenSQLite(cdr.Path(dir), cdr.SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	long := cdrtest.Answered("alice", "bob", cdrBase)
	long.Dialled = "101"
	long.Finish(long.Answer.Add(time.Hour+2*time.Minute+3*time.Second), cdr.Answered, cdr.Cause{Side: cdr.SideCallee})
	busy := cdr.Record{Caller: "bob", Callee: "carol", Dialled: "200", Start: cdrBase.Add(time.Hour), End: cdrBase.Add(time.Hour + time.Second),
		Disposition: cdr.Busy, Cause: cdr.Cause{Code: 486, Reason: "Busy Here", Side: cdr.SideCallee}, CallIDs: []string{"x1"}, Anchored: true}
	cancelled := cdr.Record{Caller: "sip:+4930123@trunk.example\tx", Callee: "alice", Dialled: "100", Start: cdrBase.Add(2 * time.Hour), End: cdrBase.Add(2*time.Hour + 9*time.Second),
		Disposition: cdr.Cancelled, Cause: cdr.Cause{Code: 487, Reason: "Request Terminated", Side: cdr.SideCaller}, Anchored: false}
	failed := cdr.Record{Caller: "carol", Dialled: "999", Start: cdrBase.Add(3 * time.Hour), End: cdrBase.Add(3 * time.Hour),
		Disposition: cdr.Failed, Cause: cdr.Cause{Code: 404, Reason: "Not Found", Side: cdr.SidePBX}, Anchored: true}
	for _, r := range []cdr.Record{long, busy, cancelled, failed} {
		if err := s.Write(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func runCDR(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cdrMain(args, &out, &errb, cdrBase.Add(4*time.Hour), time.UTC)
	return out.String(), errb.String(), code
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestCDRCommand(t *testing.T) {
	dir := t.TempDir()
	writer := writeCalls(t, dir)
	out, errs, code := runCDR(t, "--data", dir)
	if code != 0 {
		t.Fatalf("code %d: %s", code, errs)
	}
	golden(t, "cdr.golden", out)
	// Aligned: every line puts RESULT at the same column.
	lines := strings.Split(strings.TrimSpace(out), "\n")
	col := strings.Index(lines[0], "RESULT")
	for _, l := range lines[1:] {
		if l[col-2:col] != "  " || l[col] == ' ' {
			t.Errorf("not aligned at column %d: %q", col, l)
		}
	}

	for _, tc := range []struct {
		args []string
		want []string // callers, in order
	}{
		{[]string{"-n", "2"}, []string{"sip:+4930123@trunk.example?x", "carol"}},
		{[]string{"--user", "alice"}, []string{"alice", "sip:+4930123@trunk.example?x"}},
		{[]string{"--user", "carol", "-n", "1"}, []string{"carol"}},
		{[]string{"--since", "150m"}, []string{"sip:+4930123@trunk.example?x", "carol"}},
		{[]string{"--since", "2026-12-04"}, []string{"sip:+4930123@trunk.example?x", "carol"}},
		{[]string{"--since", "2026-12-03T23:00:00Z"}, []string{"bob", "sip:+4930123@trunk.example?x", "carol"}},
		{[]string{"--user", "nobody"}, nil},
	} {
		out, errs, code := runCDR(t, append([]string{"--data", dir}, tc.args...)...)
		if code != 0 {
			t.Fatalf("%v: code %d: %s", tc.args, code, errs)
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			got = append(got, strings.Fields(l)[2])
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%v: callers %v, want %v\n%s", tc.args, got, tc.want, out)
		}
	}

	// While the "server" keeps writing, a new call shows up.
	if err := writer.Write(context.Background(), cdrtest.Answered("erin", "dave", cdrBase.Add(3*time.Hour+time.Minute))); err != nil {
		t.Fatal(err)
	}
	out, _, _ = runCDR(t, "--data", dir, "-n", "1")
	if !strings.Contains(out, "erin") {
		t.Errorf("new call not seen:\n%s", out)
	}
}

func TestCDRCSV(t *testing.T) {
	dir := t.TempDir()
	writeCalls(t, dir)
	out, errs, code := runCDR(t, "--data", dir, "--csv", "-n", "0")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errs)
	}
	golden(t, "cdr.csv.golden", out)
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 5 || rows[0][0] != "id" || rows[1][4] != "3723.000" {
		t.Fatalf("%v %v", rows, err)
	}
}

func TestCDRConfigAndErrors(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	writeCalls(t, data)
	cfgPath := filepath.Join(dir, "parley.yaml")
	if err := os.WriteFile(cfgPath, []byte("data: "+data+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errs, code := runCDR(t, "--config", cfgPath, "-n", "1"); code != 0 || !strings.Contains(out, "carol") {
		t.Fatalf("--config: code %d %s %s", code, out, errs)
	}
	// --data overrides the config's data, as with serve.
	empty := filepath.Join(dir, "empty")
	if _, errs, code := runCDR(t, "--config", cfgPath, "--data", empty); code != 1 || !strings.Contains(errs, "no calls recorded yet") {
		t.Fatalf("missing database: code %d %s", code, errs)
	}
	if _, err := os.Stat(cdr.Path(empty)); err == nil {
		t.Fatal("parley cdr created a database")
	}
	for _, args := range [][]string{{"-n", "-1"}, {"--since", "yesterday"}, {"--since", "-5m"}, {"extra"}, {"--bogus"}} {
		if _, _, code := runCDR(t, append([]string{"--data", data}, args...)...); code != 2 {
			t.Errorf("%v: code %d, want 2", args, code)
		}
	}
	if _, errs, code := runCDR(t, "--config", filepath.Join(dir, "missing.yaml")); code != 2 || errs == "" {
		t.Errorf("missing config: code %d", code)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"cdr", "--help"}, &out, &errb); code != 0 || !strings.Contains(errb.String(), "parley cdr") {
		t.Errorf("help: %d %q", code, errb.String())
	}
}

// TestCDRServerStopped: with the server stopped (the writer closed, WAL
// folded back), the read-only open still works.
func TestCDRServerStopped(t *testing.T) {
	dir := t.TempDir()
	writeCalls(t, dir).Close()
	out, errs, code := runCDR(t, "--data", dir, "-n", "1")
	if code != 0 || !strings.Contains(out, "carol") {
		t.Fatalf("code %d: %s %s", code, out, errs)
	}
}
