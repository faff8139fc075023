package cdr_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/pbx/cdr"
	"github.com/parley-sip/parley/pbx/cdr/cdrtest"
)

func openTemp(t *testing.T) *cdr.SQLite {
	t.Helper()
	s, err := cdr.OpenSQLite(cdr.Path(t.TempDir()), cdr.SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSQLiteConformance(t *testing.T) {
	cdrtest.TestStore(t, func(t *testing.T) cdr.Store { return openTemp(t) })
}

func TestAsyncConformance(t *testing.T) {
	cdrtest.TestStore(t, func(t *testing.T) cdr.Store {
		return cdr.NewAsync(openTemp(t), cdr.AsyncConfig{Overflow: func(cdr.Record, error) {}})
	})
}

// TestReadWhileWriting: a read-only opener (parley cdr) reads what a
// writer still open has committed, and cannot write.
func TestReadWhileWriting(t *testing.T) {
	path := cdr.Path(t.TempDir())
	if _, err := cdr.OpenSQLite(path, cdr.SQLiteOptions{ReadOnly: true}); err == nil {
		t.Fatal("read-only open of a missing file succeeded")
	}
	w, err := cdr.OpenSQLite(path, cdr.SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ctx := context.Background()
	if err := w.Write(ctx, cdrtest.Answered("alice", "bob", base)); err != nil {
		t.Fatal(err)
	}
	r, err := cdr.OpenSQLite(path, cdr.SQLiteOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if rs, err := r.Last(ctx, 5); err != nil || len(rs) != 1 {
		t.Fatalf("reader: %d records, %v", len(rs), err)
	}
	if err := w.Write(ctx, cdrtest.Answered("bob", "alice", base.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	if rs, err := r.Last(ctx, 5); err != nil || len(rs) != 2 {
		t.Fatalf("reader after a second write: %d records, %v", len(rs), err)
	}
	if err := r.Write(ctx, cdrtest.Answered("x", "y", base)); err == nil {
		t.Fatal("read-only store wrote")
	}
	var mode string
	db, _ := sql.Open("sqlite", path+"?mode=ro")
	defer db.Close()
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q %v", mode, err)
	}
}

func TestSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cdr.sqlite")
	s, err := cdr.OpenSQLite(path, cdr.SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Reopening keeps the data; a newer schema is refused.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != 1 {
		t.Fatalf("user_version %d %v", v, err)
	}
	if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, ro := range []bool{false, true} {
		if _, err := cdr.OpenSQLite(path, cdr.SQLiteOptions{ReadOnly: ro}); err == nil || !strings.Contains(err.Error(), "newer") {
			t.Errorf("read-only %v: %v", ro, err)
		}
	}
}
