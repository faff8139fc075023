package cdr_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/parley-sip/parley/pbx/cdr"
)

// The B2BUA's use: open the embedded store in the data directory, write
// through Async at the end of each call, close at shutdown.
func ExampleNewAsync() {
	dataDir, _ := os.MkdirTemp("", "cdr-example")
	defer os.RemoveAll(dataDir)
	sqlite, err := cdr.OpenSQLite(cdr.Path(dataDir), cdr.SQLiteOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	store := cdr.NewAsync(sqlite, cdr.AsyncConfig{})

	start := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	rec := cdr.Record{Caller: "alice", Dialled: "200", Start: start, CallIDs: []string{"leg-a@pbx"}, Anchored: true, Route: "200"}
	rec.Callee, rec.Answer = "bob", start.Add(4*time.Second) // bob answered
	rec.CallIDs = append(rec.CallIDs, "leg-b@pbx")
	rec.Finish(start.Add(94*time.Second), cdr.Answered, cdr.Cause{Side: cdr.SideCallee}) // bob sent BYE
	if err := store.Write(context.Background(), rec); err != nil {
		fmt.Println(err) // ErrQueueFull: the record went to Overflow (logged)
	}
	store.Flush(context.Background())
	last, _ := store.Last(context.Background(), 1)
	fmt.Println(last[0].Caller, last[0].Callee, last[0].Disposition, last[0].Duration, last[0].Cause)
	fmt.Println(store.Close())
	// Output:
	// alice bob answered 1m30s BYE (callee)
	// <nil>
}
