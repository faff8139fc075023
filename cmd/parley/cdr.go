package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/pbx/cdr"
)

// cdrCommand prints call detail records: `parley cdr`.
func cdrCommand(args []string, stdout, stderr io.Writer) int {
	return cdrMain(args, stdout, stderr, time.Now(), time.Local)
}

// cdrMain is cdrCommand with the clock and the time zone given (tests).
func cdrMain(args []string, stdout, stderr io.Writer, now time.Time, loc *time.Location) int {
	flags := flag.NewFlagSet("parley cdr", flag.ContinueOnError)
	flags.SetOutput(stderr)
	configPath := flags.String("config", "", "config file (YAML), as for parley serve; without it DATA/parley.yaml if it exists")
	dataDir := flags.String("data", "", "data directory, overriding the config's data (default ./parley-data)")
	n := flags.Int("n", 20, "how many calls: the latest N (0: all that match)")
	user := flags.String("user", "", "only calls from or to this user")
	since := flags.String("since", "", "only calls that started since: a duration back from now (24h, 30m), a date (2026-12-01) or an RFC 3339 time")
	asCSV := flags.Bool("csv", false, "print CSV with every field instead of columns")
	utc := flags.Bool("utc", false, "print times in UTC instead of the local time zone")
	flags.Usage = func() {
		fmt.Fprintln(stderr, "Usage: parley cdr [flags]\n\nPrints the last calls, one a line, oldest first; works while the server runs.")
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		return flagExit(err)
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "parley cdr: unexpected argument %q\n", flags.Arg(0))
		return 2
	}
	if *n < 0 {
		fmt.Fprintln(stderr, "parley cdr: -n must not be negative")
		return 2
	}
	if *utc {
		loc = time.UTC
	}
	filter := cdr.Filter{User: *user, Limit: *n}
	if *since != "" {
		from, err := parseSince(*since, now, loc)
		if err != nil {
			fmt.Fprintln(stderr, "parley cdr:", err)
			return 2
		}
		filter.From = from
	}
	dir, err := cdrDataDir(*configPath, *dataDir)
	if err != nil {
		fmt.Fprintln(stderr, "parley cdr:", err)
		return 2
	}
	path := cdr.Path(dir)
	store, err := cdr.OpenSQLite(path, cdr.SQLiteOptions{ReadOnly: true})
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(stderr, "parley cdr: no calls recorded yet: %s does not exist\n", path)
		} else {
			fmt.Fprintln(stderr, "parley cdr:", err)
		}
		return 1
	}
	defer store.Close()
	records, err := store.Query(context.Background(), filter)
	if err != nil {
		fmt.Fprintln(stderr, "parley cdr:", err)
		return 1
	}
	if *asCSV {
		err = printCSV(stdout, records, loc)
	} else {
		err = printColumns(stdout, records, loc)
	}
	if err != nil {
		fmt.Fprintln(stderr, "parley cdr:", err)
		return 1
	}
	return 0
}

// cdrDataDir finds the data directory the way parley serve does: --data
// wins; else the config's data (--config, or DATA/parley.yaml in the
// default directory when it exists).
func cdrDataDir(configPath, dataDir string) (string, error) {
	if dataDir != "" && configPath == "" {
		return dataDir, nil
	}
	path := configPath
	if path == "" {
		path = filepath.Join(config.Default().Data, config.StarterName)
		if _, err := os.Stat(path); err != nil {
			return config.Default().Data, nil
		}
	}
	cfg, err := config.Load(path)
	if err != nil {
		return "", err
	}
	if dataDir != "" {
		return dataDir, nil
	}
	return cfg.Data, nil
}

// parseSince reads --since: a duration back from now, a date (midnight in
// loc) or an RFC 3339 time.
func parseSince(s string, now time.Time, loc *time.Location) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("--since %s: a duration back from now must be positive", s)
		}
		return now.Add(-d), nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, loc); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--since %q: want a duration (24h), a date (2026-12-01) or an RFC 3339 time", s)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// talk formats a talk time as m:ss or h:mm:ss.
func talk(r cdr.Record) string {
	if r.Answer.IsZero() {
		return "-"
	}
	s := int64(r.Duration.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

func mediaColumn(r cdr.Record) string {
	if r.Anchored {
		return "relay"
	}
	return "direct"
}

// printColumns prints one call a line under a header, aligned.
func printColumns(w io.Writer, records []cdr.Record, loc *time.Location) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "START\tCALLER\tDIALLED\tCALLEE\tRESULT\tTALK\tHANG-UP\tMEDIA")
	for _, r := range records {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			r.Start.In(loc).Format("2006-01-02 15:04:05"), orDash(clean(r.Caller)), orDash(clean(r.Dialled)),
			orDash(clean(r.Callee)), r.Disposition, talk(r), orDash(clean(r.Cause.String())), mediaColumn(r))
	}
	return tw.Flush()
}

// clean keeps a field on its line and its column: control characters
// (a record is data from the network) become '?'; tabs would break the
// alignment.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

func fmtTime(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format(time.RFC3339Nano)
}

// printCSV prints every field, a header first (RFC 4180).
func printCSV(w io.Writer, records []cdr.Record, loc *time.Location) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"id", "start", "answer", "end", "duration_s", "caller", "callee", "dialled", "disposition",
		"cause_code", "cause_reason", "cause_side", "call_ids", "anchored", "route", "recording"})
	for _, r := range records {
		cw.Write([]string{
			strconv.FormatInt(r.ID, 10), fmtTime(r.Start, loc), fmtTime(r.Answer, loc), fmtTime(r.End, loc),
			strconv.FormatFloat(r.Duration.Seconds(), 'f', 3, 64), r.Caller, r.Callee, r.Dialled, r.Disposition.String(),
			strconv.Itoa(r.Cause.Code), r.Cause.Reason, r.Cause.Side.String(), strings.Join(r.CallIDs, " "),
			strconv.FormatBool(r.Anchored), r.Route, r.Recording,
		})
	}
	cw.Flush()
	return cw.Error()
}
