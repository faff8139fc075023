package cdr

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite", pure Go
)

// FileName is the database's name in the data directory.
const FileName = "cdr.sqlite"

// Path returns the database's path in a data directory.
func Path(dataDir string) string { return filepath.Join(dataDir, FileName) }

// schemaVersion is PRAGMA user_version of the schema this code writes.
// Version 1: the table calls below. A later version adds a migration in
// migrate; a file of a newer version is refused rather than misread.
const schemaVersion = 1

const schemaV1 = `
CREATE TABLE calls (
	id           INTEGER PRIMARY KEY,
	start_us     INTEGER NOT NULL,            -- Unix microseconds, UTC
	answer_us    INTEGER NOT NULL DEFAULT 0,  -- 0: never answered
	end_us       INTEGER NOT NULL,
	duration_us  INTEGER NOT NULL DEFAULT 0,  -- talk time
	caller       TEXT NOT NULL,
	callee       TEXT NOT NULL,
	dialled      TEXT NOT NULL,
	disposition  TEXT NOT NULL,               -- answered, busy, no-answer, failed, cancelled
	cause_code   INTEGER NOT NULL DEFAULT 0,  -- final SIP status; 0 for a BYE
	cause_reason TEXT NOT NULL DEFAULT '',
	cause_side   TEXT NOT NULL DEFAULT '',    -- caller, callee, pbx
	call_ids     TEXT NOT NULL DEFAULT '',    -- space-separated, the caller's leg first
	anchored     INTEGER NOT NULL DEFAULT 0,
	route        TEXT NOT NULL DEFAULT '',
	recording    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX calls_start ON calls(start_us, id);
CREATE INDEX calls_caller ON calls(caller, start_us);
CREATE INDEX calls_callee ON calls(callee, start_us);
`

// SQLite is the embedded Store: one file, WAL mode, safe for concurrent
// use; several processes may read while one writes.
type SQLite struct {
	db       *sql.DB
	readOnly bool
	closed   atomic.Bool
}

// SQLiteOptions tune OpenSQLite.
type SQLiteOptions struct {
	// ReadOnly opens an existing database for reading only (parley cdr,
	// while the server writes): the file is neither created nor migrated.
	ReadOnly bool
	// BusyTimeout is how long a statement waits for another connection's
	// lock before failing (default 5s).
	BusyTimeout time.Duration
}

// OpenSQLite opens (creating and migrating it unless ReadOnly) the
// database at path.
func OpenSQLite(path string, opts SQLiteOptions) (*SQLite, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if opts.ReadOnly {
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("cdr: %w", err)
		}
	} else if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, err
	}
	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = 5 * time.Second
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	if opts.ReadOnly {
		q.Set("mode", "ro")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		// NORMAL in WAL mode: a commit survives a crash of the process;
		// a power loss may drop the last transactions, not corrupt.
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Set("_txlock", "immediate")
	}
	dsn := "file:" + (&url.URL{Path: abs}).EscapedPath() + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	s := &SQLite{db: db, readOnly: opts.ReadOnly}
	if opts.ReadOnly {
		err = s.checkVersion()
	} else {
		err = s.migrate()
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("cdr: %s: %w", path, err)
	}
	return s, nil
}

func (s *SQLite) version(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var v int
	err := q.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
	return v, err
}

func (s *SQLite) checkVersion() error {
	v, err := s.version(context.Background(), s.db)
	if err != nil {
		return err
	}
	if v == 0 {
		return errors.New("not a call record database (no schema)")
	}
	if v > schemaVersion {
		return fmt.Errorf("schema version %d is newer than this program's (%d)", v, schemaVersion)
	}
	return nil
}

// migrate brings the schema to schemaVersion in one transaction.
func (s *SQLite) migrate() error {
	ctx := context.Background()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	v, err := s.version(ctx, tx)
	if err != nil {
		return err
	}
	switch {
	case v == schemaVersion:
		return nil
	case v > schemaVersion:
		return fmt.Errorf("schema version %d is newer than this program's (%d)", v, schemaVersion)
	case v == 0:
		if _, err := tx.ExecContext(ctx, schemaV1); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

const insertSQL = `INSERT INTO calls (start_us, answer_us, end_us, duration_us, caller, callee, dialled,
	disposition, cause_code, cause_reason, cause_side, call_ids, anchored, route, recording)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

func args(r *Record) []any {
	return []any{micros(r.Start), micros(r.Answer), micros(r.End), r.Duration.Microseconds(),
		r.Caller, r.Callee, r.Dialled, r.Disposition.String(), r.Cause.Code, r.Cause.Reason,
		r.Cause.Side.String(), strings.Join(r.CallIDs, " "), r.Anchored, r.Route, r.Recording}
}

// Write stores one record synchronously.
func (s *SQLite) Write(ctx context.Context, r Record) error {
	return s.WriteBatch(ctx, []Record{r})
}

// WriteBatch stores records in one transaction: all or none.
func (s *SQLite) WriteBatch(ctx context.Context, rs []Record) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if s.readOnly {
		return errors.New("cdr: store opened read-only")
	}
	for i := range rs {
		if err := rs[i].Check(); err != nil {
			return err
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, insertSQL)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for i := range rs {
		if _, err := stmt.ExecContext(ctx, args(&rs[i])...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

const selectCols = `id, start_us, answer_us, end_us, duration_us, caller, callee, dialled,
	disposition, cause_code, cause_reason, cause_side, call_ids, anchored, route, recording`

// Last returns the latest n records, oldest first.
func (s *SQLite) Last(ctx context.Context, n int) ([]Record, error) {
	if n <= 0 {
		return nil, nil
	}
	return s.Query(ctx, Filter{Limit: n})
}

// Query returns the records f selects, oldest first.
func (s *SQLite) Query(ctx context.Context, f Filter) ([]Record, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	var where []string
	var qargs []any
	if f.User != "" {
		where = append(where, "(caller = ? OR callee = ?)")
		qargs = append(qargs, f.User, f.User)
	}
	if !f.From.IsZero() {
		where = append(where, "start_us >= ?")
		qargs = append(qargs, f.From.UnixMicro())
	}
	if !f.To.IsZero() {
		where = append(where, "start_us < ?")
		qargs = append(qargs, f.To.UnixMicro())
	}
	q := "SELECT " + selectCols + " FROM calls"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	if f.Limit > 0 {
		// The latest Limit, then back to oldest first.
		q = "SELECT * FROM (" + q + " ORDER BY start_us DESC, id DESC LIMIT ?) ORDER BY start_us, id"
		qargs = append(qargs, f.Limit)
	} else {
		q += " ORDER BY start_us, id"
	}
	rows, err := s.db.QueryContext(ctx, q, qargs...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		var start, answer, end, dur int64
		var disp, side, ids string
		if err := rows.Scan(&r.ID, &start, &answer, &end, &dur, &r.Caller, &r.Callee, &r.Dialled,
			&disp, &r.Cause.Code, &r.Cause.Reason, &side, &ids, &r.Anchored, &r.Route, &r.Recording); err != nil {
			return nil, err
		}
		r.Start, r.Answer, r.End = fromMicros(start), fromMicros(answer), fromMicros(end)
		r.Duration = time.Duration(dur) * time.Microsecond
		// A value this program does not know (a newer writer) reads as
		// zero rather than failing the whole listing.
		r.Disposition, _ = ParseDisposition(disp)
		r.Cause.Side, _ = ParseSide(side)
		if ids != "" {
			r.CallIDs = strings.Split(ids, " ")
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Close closes the database (in WAL mode, the last writer to close folds
// the log back into the file).
func (s *SQLite) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.db.Close()
}
