package admin

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/pbx/cdr"
)

// TestCDRQuery: records the PBX wrote are queried by user and time range,
// as JSON and CSV; before any call there are none, and bad bounds are 400.
func TestCDRQuery(t *testing.T) {
	e := startEnv(t, testConfig(t))
	var none struct{ CDRs []cdrDoc }
	e.getJSON("/api/cdrs", &none)
	if len(none.CDRs) != 0 {
		t.Fatalf("cdrs before any call: %+v", none)
	}
	db, err := cdr.OpenSQLite(cdr.Path(e.cfg.Data), cdr.SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	for i, rec := range []cdr.Record{
		{Caller: "alice", Callee: "bob", Dialled: "bob", Start: t0, Answer: t0.Add(2 * time.Second), Disposition: cdr.Answered, CallIDs: []string{"c1"}},
		{Caller: "bob", Callee: "carol", Dialled: "200", Start: t0.Add(time.Hour), Disposition: cdr.NoAnswer, Cause: cdr.Cause{Code: 480, Reason: "Temporarily Unavailable", Side: cdr.SideCallee}, CallIDs: []string{"c2"}},
		{Caller: "carol", Callee: "alice", Start: t0.Add(24 * time.Hour), Disposition: cdr.Busy, CallIDs: []string{"c3"}},
	} {
		rec.Finish(rec.Start.Add(time.Duration(10+i)*time.Second), rec.Disposition, rec.Cause)
		if err := db.Write(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	var got struct{ CDRs []cdrDoc }
	e.getJSON("/api/cdrs?user=alice", &got)
	if len(got.CDRs) != 2 || got.CDRs[0].Callee != "bob" || got.CDRs[0].Duration != 8 || got.CDRs[1].Caller != "carol" {
		t.Errorf("alice's calls: %+v", got.CDRs)
	}
	e.getJSON("/api/cdrs?from=2026-12-01T08:30:00Z&to=2026-12-02", &got)
	if len(got.CDRs) != 1 || got.CDRs[0].CauseCode != 480 || got.CDRs[0].Disposition != cdr.NoAnswer.String() {
		t.Errorf("range: %+v", got.CDRs)
	}
	code, body := e.do("GET", "/api/cdrs?format=csv", "")
	rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if code != 200 || err != nil || len(rows) != 4 || rows[0][0] != "id" || rows[1][5] != "alice" {
		t.Errorf("CSV: %d %v %q", code, err, rows)
	}
	for _, bad := range []string{"?from=yesterday", "?limit=0", "?format=xml", "?since=1h"} {
		code, body := e.do("GET", "/api/cdrs"+bad, "")
		var ae apiError
		if code != 400 || json.Unmarshal(body, &ae) != nil || ae.Error == "" {
			t.Errorf("%s: %d %s, want 400", bad, code, body)
		}
	}
}
