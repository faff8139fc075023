package peertest

import (
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

//go:embed sipp/*.xml
var scenarios embed.FS

// Scenario writes the named embedded SIPp scenario ("options_uac") into dir
// and returns its path.
func Scenario(t testing.TB, dir, name string) string {
	t.Helper()
	data, err := scenarios.ReadFile("sipp/" + name + ".xml")
	if err != nil {
		t.Fatalf("no SIPp scenario %q: %v", name, err)
	}
	path := filepath.Join(dir, name+".xml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// ScenarioBytes returns an embedded scenario, for tools outside tests.
func ScenarioBytes(name string) ([]byte, error) { return scenarios.ReadFile("sipp/" + name + ".xml") }

// SIPp describes one SIPp run.
type SIPp struct {
	Scenario  string        // embedded scenario name
	Transport string        // "u1" (UDP, one socket), "t1" (TCP, one connection), "un", "tn"
	Target    string        // host:port to send to ("" for a UAS)
	LocalIP   string        // -i, default 127.0.0.1 (other loopback addresses tell sources apart)
	LocalPort int           // -p
	Calls     int           // -m
	Rate      float64       // calls per second (-r); 0 means SIPp's default
	Lost      int           // -lost percent
	Timeout   time.Duration // -timeout (global), also bounds Wait
	Extra     []string      // more arguments
	// Files are copied into the run's directory (SIPp's working
	// directory) before it starts: name there → path to copy, such as a
	// pcap a scenario plays by relative name.
	Files map[string]string
}

// Result is what a finished SIPp run reported.
type Result struct {
	ExitCode      int
	Successful    int
	Failed        int
	Retransmitted int
	Output        string
	Dir           string
}

// Args builds SIPp's command line.
func (s SIPp) Args(dir string) []string {
	ip := s.LocalIP
	if ip == "" {
		ip = "127.0.0.1"
	}
	args := []string{"-sf", filepath.Join(dir, s.Scenario+".xml"),
		"-i", ip, "-p", strconv.Itoa(s.LocalPort),
		"-t", s.Transport, "-nostdin",
		"-trace_err", "-error_file", filepath.Join(dir, "errors.log"),
		"-trace_stat", "-stf", filepath.Join(dir, "stat.csv"),
		"-max_socket", "2000",
	}
	if s.Calls > 0 {
		args = append(args, "-m", strconv.Itoa(s.Calls))
	}
	if s.Rate > 0 {
		args = append(args, "-r", strconv.FormatFloat(s.Rate, 'f', -1, 64))
	}
	if s.Lost > 0 {
		args = append(args, "-lost", strconv.Itoa(s.Lost))
	}
	if s.Timeout > 0 {
		args = append(args, "-timeout", strconv.Itoa(int(s.Timeout.Seconds()))+"s", "-timeout_error")
	}
	args = append(args, s.Extra...)
	if s.Target != "" {
		args = append(args, s.Target)
	}
	return args
}

// Start starts SIPp in a temp dir with the scenario written there.
func (s SIPp) Start(t testing.TB, sipp string) (*Process, string) {
	t.Helper()
	dir := t.TempDir()
	Scenario(t, dir, s.Scenario)
	for name, from := range s.Files {
		b, err := os.ReadFile(from)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), b, 0o644)
		}
		if err != nil {
			t.Fatalf("SIPp file %s: %v", name, err)
		}
	}
	return Start(t, dir, sipp, s.Args(dir)...), dir
}

// Run runs SIPp to completion and parses its final statistics.
func (s SIPp) Run(t testing.TB, sipp string) Result {
	t.Helper()
	p, dir := s.Start(t, sipp)
	limit := s.Timeout + 30*time.Second
	if s.Timeout == 0 {
		limit = 2 * time.Minute
	}
	err := p.Wait(limit)
	r := Result{Output: p.Output(), Dir: dir}
	if p.Cmd.ProcessState != nil {
		r.ExitCode = p.Cmd.ProcessState.ExitCode()
	} else if err != nil {
		r.ExitCode = -1
	}
	r.Successful, r.Failed, r.Retransmitted = parseStats(filepath.Join(dir, "stat.csv"))
	return r
}

// Errors returns SIPp's error log, for failure messages.
func (r Result) Errors() string {
	b, _ := os.ReadFile(filepath.Join(r.Dir, "errors.log"))
	return Tail(string(b), 40)
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d, %d successful, %d failed, %d retransmissions", r.ExitCode, r.Successful, r.Failed, r.Retransmitted)
}

var csvSplit = regexp.MustCompile(`;`)

// parseStats reads the cumulative counters from the last line of SIPp's
// statistics CSV.
func parseStats(path string) (ok, failed, retrans int) {
	data, err := os.ReadFile(path)
	if err != nil {
		return -1, -1, -1
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) < 2 {
		return -1, -1, -1
	}
	head := csvSplit.Split(lines[0], -1)
	last := csvSplit.Split(lines[len(lines)-1], -1)
	get := func(name string) int {
		for i, h := range head {
			if h == name && i < len(last) {
				n, _ := strconv.Atoi(last[i])
				return n
			}
		}
		return -1
	}
	return get("SuccessfulCall(C)"), get("FailedCall(C)"), get("Retransmissions(C)")
}
