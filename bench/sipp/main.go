// Command sipp drives SIP servers with SIPp at rising rates and prints, per
// offered rate, whether every transaction succeeded, the retransmission
// share, and the server's CPU seconds per 10,000 transactions
// (utime+stime from /proc, summed over the server's process group). When
// kamailio is installed it runs Kamailio with a minimal config in the same
// run and prints Parley/Kamailio CPU ratios at equal offered rates.
//
//	go run ./sipp -rates 1000,2000,5000,10000 -seconds 5
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/parley-sip/parley/internal/peertest"
)

type result struct {
	rate, calls, ok, failed, retrans int
	cpu                              float64 // server CPU seconds
}

func (r result) cpuPer10k() float64 {
	if r.ok <= 0 {
		return 0
	}
	return r.cpu / float64(r.ok) * 10000
}

func (r result) clean() bool {
	return r.failed == 0 && r.ok == r.calls && float64(r.retrans) <= 0.01*float64(r.calls)
}

func main() {
	ratesFlag := flag.String("rates", "1000,2000,4000,8000,12000", "offered OPTIONS transactions per second, comma-separated")
	seconds := flag.Int("seconds", 5, "seconds per rate step")
	transport := flag.String("t", "u1", "SIPp transport: u1 (UDP) or t1 (TCP)")
	parleyBin := flag.String("parley", "", "parley binary (default: build ../cmd/parley)")
	kamailio := flag.Bool("kamailio", true, "also run kamailio when installed")
	procs := flag.Int("procs", 2, "GOMAXPROCS for parley and children for kamailio")
	flag.Parse()

	var rates []int
	for s := range strings.SplitSeq(*ratesFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fatal("bad rate %q", s)
		}
		rates = append(rates, n)
	}
	sipp, err := exec.LookPath("sipp")
	if err != nil {
		fatal("sipp not found: apt-get install sip-tester")
	}
	work, err := os.MkdirTemp("", "parley-sipp-bench-")
	if err != nil {
		fatal("%v", err)
	}
	defer os.RemoveAll(work)
	scen, err := peertest.ScenarioBytes("options_uac")
	if err != nil {
		fatal("%v", err)
	}
	scenPath := filepath.Join(work, "options_uac.xml")
	os.WriteFile(scenPath, scen, 0o644)

	bin := *parleyBin
	if bin == "" {
		bin = filepath.Join(work, "parley")
		// Build in the product's own module (bench/ replaces it with ../).
		root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/parley-sip/parley").Output()
		if err != nil {
			fatal("locate the parley module: %v", err)
		}
		build := exec.Command("go", "build", "-o", bin, "./cmd/parley")
		build.Dir = strings.TrimSpace(string(root))
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			fatal("build parley: %v", err)
		}
	}

	servers := []struct {
		name  string
		start func(port int) (*exec.Cmd, error)
	}{
		{"parley", func(port int) (*exec.Cmd, error) {
			cmd := exec.Command(bin, "serve", "--listen", fmt.Sprintf("udp:127.0.0.1:%d,tcp:127.0.0.1:%d", port, port))
			cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(*procs))
			if g := os.Getenv("PARLEY_BENCH_GOGC"); g != "" {
				cmd.Env = append(cmd.Env, "GOGC="+g)
			}
			return cmd, nil
		}},
	}
	if kam, err := exec.LookPath("kamailio"); err == nil && *kamailio {
		servers = append(servers, struct {
			name  string
			start func(port int) (*exec.Cmd, error)
		}{"kamailio", func(port int) (*exec.Cmd, error) {
			cfg, err := os.ReadFile("sipp/kamailio-options.cfg")
			if err != nil {
				cfg, err = os.ReadFile("kamailio-options.cfg")
			}
			if err != nil {
				return nil, err
			}
			mpath := "/usr/lib/x86_64-linux-gnu/kamailio/modules/"
			text := strings.NewReplacer(
				"LISTEN_UDP", fmt.Sprintf("udp:127.0.0.1:%d", port),
				"LISTEN_TCP", fmt.Sprintf("tcp:127.0.0.1:%d", port),
				"CHILDREN", strconv.Itoa(*procs), "MPATH", mpath).Replace(string(cfg))
			path := filepath.Join(work, "kamailio.cfg")
			os.WriteFile(path, []byte(text), 0o644)
			return exec.Command(kam, "-f", path, "-DD", "-E", "-m", "1024", "-M", "64", "-w", work), nil
		}})
	} else {
		fmt.Println("kamailio not installed (apt-get install kamailio): running parley only")
	}

	all := map[string][]result{}
	for _, srv := range servers {
		port := freePort()
		cmd, err := srv.start(port)
		if err != nil {
			fatal("%s: %v", srv.name, err)
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			fatal("start %s: %v", srv.name, err)
		}
		waitTCP(port)
		time.Sleep(300 * time.Millisecond)
		for _, rate := range rates {
			r := runStep(sipp, scenPath, work, *transport, port, rate, *seconds, cmd.Process.Pid)
			all[srv.name] = append(all[srv.name], r)
			fmt.Fprintf(os.Stderr, "%-9s rate %6d: %d ok, %d failed, %d retrans, %.3f CPU s/10k\n", srv.name, rate, r.ok, r.failed, r.retrans, r.cpuPer10k())
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}

	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\trate/s\tok\tfailed\tretrans\tCPU s/10k tx\tparley/kamailio CPU\t")
	for _, srv := range servers {
		for i, r := range all[srv.name] {
			ratio := ""
			if k := all["kamailio"]; srv.name == "parley" && len(k) > i && k[i].cpuPer10k() > 0 {
				ratio = fmt.Sprintf("%.2f", r.cpuPer10k()/k[i].cpuPer10k())
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.3f\t%s\t\n", srv.name, r.rate, r.ok, r.failed, r.retrans, r.cpuPer10k(), ratio)
		}
	}
	tw.Flush()
	for _, srv := range servers {
		best := 0
		for _, r := range all[srv.name] {
			if r.clean() && r.rate > best {
				best = r.rate
			}
		}
		fmt.Printf("%s: highest clean rate (0 failures, <=1%% retransmissions): %d/s\n", srv.name, best)
	}
}

func runStep(sipp, scen, work, transport string, port, rate, seconds, serverPID int) result {
	calls := rate * seconds
	dir, _ := os.MkdirTemp(work, "step-")
	stat := filepath.Join(dir, "stat.csv")
	args := []string{"-sf", scen, "-i", "127.0.0.1", "-p", strconv.Itoa(freePort()), "-t", transport,
		"-nostdin", "-m", strconv.Itoa(calls), "-r", strconv.Itoa(rate), "-l", strconv.Itoa(rate * 4),
		"-trace_stat", "-stf", stat, "-fd", "1", "-timeout", strconv.Itoa(seconds*3+20) + "s",
		"-max_socket", "4000",
		fmt.Sprintf("127.0.0.1:%d", port)}
	before := groupCPU(serverPID)
	cmd := exec.Command(sipp, args...)
	cmd.Dir = dir
	cmd.Run()
	after := groupCPU(serverPID)
	ok, failed, retrans := parseCSV(stat)
	return result{rate: rate, calls: calls, ok: ok, failed: failed, retrans: retrans, cpu: after - before}
}

// groupCPU sums utime+stime of every process in the process group.
func groupCPU(pgid int) float64 {
	ents, _ := os.ReadDir("/proc")
	ticks := 0.0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the command name (which may hold spaces).
		s := string(data)
		s = s[strings.LastIndexByte(s, ')')+2:]
		f := strings.Fields(s)
		if len(f) < 13 {
			continue
		}
		pg, _ := strconv.Atoi(f[2])
		if pg != pgid {
			continue
		}
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		ticks += ut + st
	}
	return ticks / 100 // USER_HZ
}

func parseCSV(path string) (ok, failed, retrans int) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, -1, -1
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) < 2 {
		return 0, -1, -1
	}
	head := strings.Split(lines[0], ";")
	last := strings.Split(lines[len(lines)-1], ";")
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

func freePort() int {
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fatal("%v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
}

func waitTCP(port int) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	fatal("server on port %d did not start", port)
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "sipp bench: "+format+"\n", args...)
	os.Exit(1)
}
