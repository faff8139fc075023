package admin

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parley-sip/parley/pbx/cdr"
)

// cdrReader opens the call detail records of the data directory read-only,
// on first use (the file appears with the first recorded call) and keeps
// the handle; the PBX writes them through pbx/cdr. It reads what `parley
// cdr` reads.
type cdrReader struct {
	path string
	mu   sync.Mutex
	db   *cdr.SQLite
}

func (c *cdrReader) store() (*cdr.SQLite, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.db != nil {
		return c.db, nil
	}
	db, err := cdr.OpenSQLite(c.path, cdr.SQLiteOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	c.db = db
	return db, nil
}

func (c *cdrReader) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.db == nil {
		return nil
	}
	err := c.db.Close()
	c.db = nil
	return err
}

type cdrDoc struct {
	ID          int64     `json:"id"`
	Caller      string    `json:"caller"`
	Callee      string    `json:"callee"`
	Dialled     string    `json:"dialled"`
	Start       time.Time `json:"start"`
	Answer      time.Time `json:"answer,omitzero"`
	End         time.Time `json:"end"`
	Duration    float64   `json:"duration_seconds"`
	Disposition string    `json:"disposition"`
	CauseCode   int       `json:"cause_code,omitempty"`
	CauseReason string    `json:"cause_reason,omitempty"`
	CauseSide   string    `json:"cause_side,omitempty"`
	CallIDs     []string  `json:"call_ids"`
	Anchored    bool      `json:"anchored"`
	Route       string    `json:"route,omitempty"`
	Recording   string    `json:"recording,omitempty"`
}

// parseAPITime reads a from/to bound: RFC 3339, or a date (UTC midnight).
func parseAPITime(name, v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%s %q: want an RFC 3339 time (2026-12-01T08:00:00Z) or a date (2026-12-01)", name, v)
}

// getCDRs answers GET /api/cdrs?user=&from=&to=&limit=&format=csv: the
// latest limit records (default 100, at most 10,000) whose caller or
// callee is user and whose start is in [from, to), oldest first.
func (a *Server) getCDRs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := cdr.Filter{User: q.Get("user"), Limit: 100}
	for k := range q {
		switch k {
		case "user", "from", "to", "limit", "format":
		default:
			a.badRequest(w, fmt.Errorf("unknown query parameter %q (want user, from, to, limit, format)", k))
			return
		}
	}
	var err error
	if v := q.Get("from"); v != "" {
		if f.From, err = parseAPITime("from", v); err != nil {
			a.badRequest(w, err)
			return
		}
	}
	if v := q.Get("to"); v != "" {
		if f.To, err = parseAPITime("to", v); err != nil {
			a.badRequest(w, err)
			return
		}
	}
	if v := q.Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 1 || f.Limit > 10000 {
			a.badRequest(w, fmt.Errorf("limit %q: want a number 1..10000", v))
			return
		}
	}
	format := q.Get("format")
	if format != "" && format != "json" && format != "csv" {
		a.badRequest(w, fmt.Errorf("format %q: want json or csv", format))
		return
	}
	var records []cdr.Record
	db, err := a.cdrs.store()
	switch {
	case errors.Is(err, fs.ErrNotExist): // no call recorded yet
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "cdr store: %v", err)
		return
	default:
		if records, err = db.Query(r.Context(), f); err != nil {
			writeError(w, http.StatusServiceUnavailable, "cdr store: %v", err)
			return
		}
	}
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="cdrs.csv"`)
		cw := csv.NewWriter(w)
		cw.Write([]string{"id", "start", "answer", "end", "duration_s", "caller", "callee", "dialled", "disposition",
			"cause_code", "cause_reason", "cause_side", "call_ids", "anchored", "route", "recording"})
		for _, rec := range records {
			cw.Write([]string{
				strconv.FormatInt(rec.ID, 10), csvTime(rec.Start), csvTime(rec.Answer), csvTime(rec.End),
				strconv.FormatFloat(rec.Duration.Seconds(), 'f', 3, 64), rec.Caller, rec.Callee, rec.Dialled, rec.Disposition.String(),
				strconv.Itoa(rec.Cause.Code), rec.Cause.Reason, rec.Cause.Side.String(), strings.Join(rec.CallIDs, " "),
				strconv.FormatBool(rec.Anchored), rec.Route, rec.Recording,
			})
		}
		cw.Flush()
		return
	}
	out := make([]cdrDoc, 0, len(records))
	for _, rec := range records {
		d := cdrDoc{ID: rec.ID, Caller: rec.Caller, Callee: rec.Callee, Dialled: rec.Dialled, Start: rec.Start.UTC(), Answer: rec.Answer.UTC(),
			End: rec.End.UTC(), Duration: rec.Duration.Seconds(), Disposition: rec.Disposition.String(), CauseCode: rec.Cause.Code,
			CauseReason: rec.Cause.Reason, CallIDs: rec.CallIDs, Anchored: rec.Anchored, Route: rec.Route, Recording: rec.Recording}
		if rec.Cause.Code != 0 || rec.Cause.Reason != "" {
			d.CauseSide = rec.Cause.Side.String()
		}
		if rec.Answer.IsZero() {
			d.Answer = time.Time{}
		}
		if d.CallIDs == nil {
			d.CallIDs = []string{}
		}
		out = append(out, d)
	}
	writeJSON(w, http.StatusOK, map[string]any{"cdrs": out})
}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
