// Command relay benchmarks Parley's media relay beside rtpengine, both
// driven the same way: through the ng control protocol, with the same
// G.711 load (172-byte packets, 50 a second each way per call) from one
// load generator, at rising call counts, in one run.
//
// For each relay and call count it sets up the calls (offer + answer over
// ng), streams for a warm-up and a measured window, and reports the
// relay process's CPU time (the sum over its threads of the kernel's
// per-thread run time) per 100,000 relayed packets, and the share of the
// packets sent in the window that were lost or arrived later than 50 ms.
// Parley's relay runs as its own process: this same binary with
// -role parley-relay (media.Relay + media/ng).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/parley-sip/parley/media"
	"github.com/parley-sip/parley/media/ng"
	"github.com/parley-sip/parley/sdp"
)

type options struct {
	calls          []int
	relays         []string
	warmup, window time.Duration
	maxTime        time.Duration
	parleyPorts    string
	rtpenginePorts string
	workers        int
	cpuprofile     string
	grBin          string
	rounds         int
}

func main() {
	role := flag.String("role", "", "internal: parley-relay runs Parley's relay and ng server")
	ngAddr := flag.String("ng", "127.0.0.1:0", "parley-relay: the ng listen address")
	callsFlag := flag.String("calls", "250,500,1000,1500,2000,2400", "concurrent calls per step")
	relaysFlag := flag.String("relays", "rtpengine,parley", "relays to compare")
	warmup := flag.Duration("warmup", time.Second, "streaming before the measured window")
	window := flag.Duration("window", 4*time.Second, "measured window per step")
	maxTime := flag.Duration("max-time", 8*time.Minute, "stop starting steps after this long")
	parleyPorts := flag.String("parley-ports", "50000-59999", "Parley relay's RTP port range")
	rtpenginePorts := flag.String("rtpengine-ports", "20000-29999", "rtpengine's RTP port range (4 ports per call)")
	workers := flag.Int("workers", 0, "Parley relay worker goroutines (0: GOMAXPROCS)")
	cpuprofile := flag.String("parley-cpuprofile", "", "write the Parley relay's CPU profile to this file")
	rounds := flag.Int("rounds", 3, "measurements per relay and call count (interleaved; the summary takes medians)")
	grBin := flag.String("parley-gr-bin", "", "relay \"parley-gr\": this binary, built with -tags relay_goroutines (a goroutine per socket instead of epoll workers)")
	flag.Parse()

	if *role == "parley-relay" {
		runParleyRelay(*ngAddr, *parleyPorts, *workers, *cpuprofile)
		return
	}
	o := &options{warmup: *warmup, window: *window, maxTime: *maxTime, parleyPorts: *parleyPorts,
		rtpenginePorts: *rtpenginePorts, workers: *workers, cpuprofile: *cpuprofile, grBin: *grBin, rounds: max(*rounds, 1)}
	for _, s := range strings.Split(*callsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fatal("bad -calls %q", s)
		}
		o.calls = append(o.calls, n)
	}
	o.relays = strings.Split(*relaysFlag, ",")
	run(o)
}

// runParleyRelay is the relay process: Parley's media.Relay served over ng.
func runParleyRelay(addr, portRange string, workers int, cpuprofile string) {
	lo, hi, ok := strings.Cut(portRange, "-")
	plo, err1 := strconv.Atoi(lo)
	phi, err2 := strconv.Atoi(hi)
	if !ok || err1 != nil || err2 != nil {
		fatal("bad port range %q", portRange)
	}
	ports, err := media.NewPortAllocator(plo, phi)
	if err != nil {
		fatal("%v", err)
	}
	relay, err := media.NewRelay(media.RelayConfig{LocalAddr: netip.MustParseAddr("127.0.0.1"), Ports: ports, Workers: workers})
	if err != nil {
		fatal("%v", err)
	}
	srv := ng.NewServer(ng.Config{Relay: relay})
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		fatal("%v", err)
	}
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			fatal("%v", err)
		}
		pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	go srv.Serve(pc)
	fmt.Println("ready", pc.LocalAddr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	srv.Close()
	relay.Close()
}

// relayProc is one relay under test.
type relayProc struct {
	name string
	cmd  *exec.Cmd
	ng   *ngClient
	done chan struct{}
	log  *tailBuffer
}

var (
	startedMu sync.Mutex
	started   []*exec.Cmd
)

// stopStarted stops the processes this program started, by PID.
func stopStarted() {
	startedMu.Lock()
	defer startedMu.Unlock()
	for _, c := range started {
		if c.Process != nil && c.ProcessState == nil {
			c.Process.Signal(syscall.SIGTERM)
		}
	}
	time.Sleep(300 * time.Millisecond)
	for _, c := range started {
		if c.Process != nil && c.ProcessState == nil {
			syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		}
	}
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "relay bench: "+format+"\n", args...)
	stopStarted()
	os.Exit(1)
}

func freeUDPPort() int {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		fatal("%v", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.b = append(t.b, p...)
	if len(t.b) > 1<<16 {
		t.b = append([]byte(nil), t.b[len(t.b)-1<<15:]...)
	}
	t.mu.Unlock()
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := string(t.b)
	if len(s) > 2000 {
		s = s[len(s)-2000:]
	}
	return s
}

func startRelay(o *options, name string) *relayProc {
	if name == "direct" {
		return &relayProc{name: name} // no relay: the generator's sockets send to each other (its own floor)
	}
	port := freeUDPPort()
	ngAddr := fmt.Sprintf("127.0.0.1:%d", port)
	var cmd *exec.Cmd
	switch name {
	case "rtpengine":
		bin, err := exec.LookPath("rtpengine")
		if err != nil {
			fatal("rtpengine not found (Debian rtpengine-daemon)")
		}
		lo, hi, _ := strings.Cut(o.rtpenginePorts, "-")
		cmd = exec.Command(bin, "--config-file=none", "--table=-1", "--interface=127.0.0.1",
			"--listen-ng="+ngAddr, "--port-min="+lo, "--port-max="+hi, "--foreground", "--log-stderr",
			"--num-threads=2", "--delete-delay=0")
	case "parley", "parley-gr":
		self, err := os.Executable()
		if err != nil {
			fatal("%v", err)
		}
		if name == "parley-gr" {
			if o.grBin == "" {
				fatal("relay parley-gr needs -parley-gr-bin")
			}
			self = o.grBin
		}
		ports := o.parleyPorts
		if name == "parley-gr" {
			ports = "40000-49999" // apart from the other Parley relay running at the same time
		}
		args := []string{"-role", "parley-relay", "-ng", ngAddr, "-parley-ports", ports, "-workers", strconv.Itoa(o.workers)}
		if o.cpuprofile != "" {
			args = append(args, "-parley-cpuprofile", o.cpuprofile)
		}
		cmd = exec.Command(self, args...)
	default:
		fatal("unknown relay %q", name)
	}
	p := &relayProc{name: name, cmd: cmd, done: make(chan struct{}), log: &tailBuffer{}}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		fatal("start %s: %v", name, err)
	}
	startedMu.Lock()
	started = append(started, cmd)
	startedMu.Unlock()
	go func() { cmd.Wait(); close(p.done) }()
	c, err := newNGClient(ngAddr)
	if err != nil {
		fatal("%v", err)
	}
	p.ng = c
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := c.call(map[string]any{"command": "ping"})
		if err == nil && r.Str("result") == "pong" {
			return p
		}
		select {
		case <-p.done:
			fatal("%s exited: %s", name, p.log)
		default:
		}
		if time.Now().After(deadline) {
			fatal("%s does not answer ng ping: %v\n%s", name, err, p.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// cpuSeconds is the run time of every thread of pid (schedstat, ns).
func cpuSeconds(pid int) float64 {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0
	}
	total := 0.0
	for _, e := range ents {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, e.Name()))
		if err != nil {
			continue
		}
		f := strings.Fields(string(data))
		if len(f) > 0 {
			ns, _ := strconv.ParseFloat(f[0], 64)
			total += ns / 1e9
		}
	}
	return total
}

// ngClient sends ng requests and waits for their replies.
type ngClient struct {
	c      *net.UDPConn
	cookie int
	buf    []byte
}

func newNGClient(addr string) (*ngClient, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	c, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		return nil, err
	}
	return &ngClient{c: c, buf: make([]byte, 65536)}, nil
}

func (n *ngClient) call(req map[string]any) (ng.Dict, error) {
	n.cookie++
	cookie := fmt.Sprintf("b%d_%d", os.Getpid(), n.cookie)
	msg, err := ng.Append([]byte(cookie+" "), req)
	if err != nil {
		return nil, err
	}
	for try := 0; try < 3; try++ {
		n.c.Write(msg)
		n.c.SetReadDeadline(time.Now().Add(time.Second))
		for {
			k, err := n.c.Read(n.buf)
			if err != nil {
				break
			}
			body, ok := strings.CutPrefix(string(n.buf[:k]), cookie+" ")
			if !ok {
				continue // a late reply to an earlier try
			}
			v, err := ng.Decode([]byte(body))
			if err != nil {
				return nil, err
			}
			d, _ := v.(ng.Dict)
			if d.Str("result") == "error" {
				return d, errors.New(d.Str("error-reason"))
			}
			return d, nil
		}
	}
	return nil, fmt.Errorf("no ng reply to %v", req["command"])
}

func offerSDP(port int, id int) string {
	return fmt.Sprintf("v=0\r\no=- %d 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n", 1000+id, port)
}

func sdpPort(d ng.Dict) (netip.AddrPort, error) {
	s, err := sdp.Parse([]byte(d.Str("sdp")))
	if err != nil {
		return netip.AddrPort{}, err
	}
	if len(s.Media) == 0 {
		return netip.AddrPort{}, errors.New("no m= line")
	}
	ap, ok := s.RTPAddr(s.Media[0])
	if !ok {
		return netip.AddrPort{}, errors.New("no RTP address")
	}
	return ap, nil
}

// The load generator: the callers' side sends from socket a, the callees'
// from socket b; every packet carries its stream, send time and step. One
// goroutine does everything on a 1 ms tick: send what is due, then drain
// what arrived (so latency is measured to within the tick).
type loadgen struct {
	a, b  *rawSock
	epoch time.Time

	step         atomic.Uint32
	wStart, wEnd atomic.Int64 // window, ns since epoch

	// Owned by the generator goroutine while a step runs.
	onTime, late, stray uint64
	maxLatency          int64
}

func newLoadgen() *loadgen {
	lg := &loadgen{epoch: time.Now()}
	var err error
	if lg.a, err = newRawSock(); err != nil {
		fatal("%v", err)
	}
	if lg.b, err = newRawSock(); err != nil {
		fatal("%v", err)
	}
	lg.wStart.Store(1 << 62)
	lg.wEnd.Store(1 << 62)
	return lg
}

func (lg *loadgen) now() int64 { return int64(time.Since(lg.epoch)) }

func (lg *loadgen) receive(p []byte) {
	if len(p) != 172 {
		lg.stray++
		return
	}
	if beUint32(p[20:]) != lg.step.Load() {
		return // a late packet of an earlier step
	}
	sent := int64(beUint64(p[12:]))
	if sent < lg.wStart.Load() || sent >= lg.wEnd.Load() {
		return
	}
	lat := lg.now() - sent
	if lat <= int64(50*time.Millisecond) {
		lg.onTime++
	} else {
		lg.late++
	}
	lg.maxLatency = max(lg.maxLatency, lat)
}

func beUint64(b []byte) uint64 {
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 | uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}
func beUint32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
func putBE64(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (56 - 8*i))
	}
}
func putBE32(b []byte, v uint32) {
	for i := range 4 {
		b[i] = byte(v >> (24 - 8*i))
	}
}

// run streams until ctx ends: 50 packets a second on each of the
// destinations, spread evenly in time, and receives what comes back. It
// returns the packets stamped inside the window.
func (lg *loadgen) run(ctx context.Context, dstA, dstB []netip.AddrPort, step uint32) uint64 {
	n := len(dstA)
	streams := 2 * n
	rate := float64(streams) * 50 // packets per second
	start := time.Now()
	var sent, inWindow uint64
	var seq uint32
	recv := lg.receive
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return inWindow
		case <-tick.C:
		}
		due := uint64(time.Since(start).Seconds() * rate)
		ws, we := lg.wStart.Load(), lg.wEnd.Load()
		for sent < due {
			j := int(sent % uint64(streams))
			if j == 0 {
				seq++
			}
			var p []byte
			if j < n {
				p = lg.a.queue(dstA[j])
			} else {
				p = lg.b.queue(dstB[j-n])
			}
			p[0], p[1] = 0x80, 0
			p[2], p[3] = byte(seq>>8), byte(seq)
			putBE32(p[4:], seq*160)
			putBE32(p[8:], uint32(j))
			now := lg.now()
			putBE64(p[12:], uint64(now))
			putBE32(p[20:], step)
			if now >= ws && now < we {
				inWindow++
			}
			sent++
		}
		lg.a.flush()
		lg.b.flush()
		lg.a.drain(recv)
		lg.b.drain(recv)
	}
}

type result struct {
	relay      string
	calls      int
	pps        float64
	cpuPer100k float64
	cpuShare   float64 // relay CPU seconds per second
	loss, late float64 // percent of packets sent in the window
	lgCPU      float64
	maxLatency time.Duration
	setupErr   string
}

func runStep(lg *loadgen, p *relayProc, o *options, calls int, stepID uint32) result {
	res := result{relay: p.name, calls: calls}
	aPort := int(lg.a.addr.Port())
	bPort := int(lg.b.addr.Port())
	dstA := make([]netip.AddrPort, 0, calls) // where callers send (the relay's caller-facing port)
	dstB := make([]netip.AddrPort, 0, calls)
	ids := make([]string, 0, calls)
	defer func() {
		for _, id := range ids {
			p.ng.call(map[string]any{"command": "delete", "call-id": id, "from-tag": "caller"})
		}
	}()
	for i := range calls {
		if p.cmd == nil { // direct
			dstA = append(dstA, lg.b.addr)
			dstB = append(dstB, lg.a.addr)
			continue
		}
		id := fmt.Sprintf("bench-%d-%d", stepID, i)
		r, err := p.ng.call(map[string]any{"command": "offer", "call-id": id, "from-tag": "caller", "sdp": offerSDP(aPort, i)})
		if err != nil {
			res.setupErr = fmt.Sprintf("offer %d: %v", i, err)
			return res
		}
		ids = append(ids, id)
		toCallee, err := sdpPort(r)
		if err != nil {
			res.setupErr = fmt.Sprintf("offer %d reply: %v", i, err)
			return res
		}
		r, err = p.ng.call(map[string]any{"command": "answer", "call-id": id, "from-tag": "caller", "to-tag": "callee", "sdp": offerSDP(bPort, i)})
		if err != nil {
			res.setupErr = fmt.Sprintf("answer %d: %v", i, err)
			return res
		}
		toCaller, err := sdpPort(r)
		if err != nil {
			res.setupErr = fmt.Sprintf("answer %d reply: %v", i, err)
			return res
		}
		dstA = append(dstA, toCaller)
		dstB = append(dstB, toCallee)
	}
	lg.step.Store(stepID)
	lg.wStart.Store(1 << 62)
	lg.wEnd.Store(1 << 62)
	lg.onTime, lg.late, lg.maxLatency = 0, 0, 0
	ctx, cancel := context.WithCancel(context.Background())
	sentCh := make(chan uint64, 1)
	go func() { sentCh <- lg.run(ctx, dstA, dstB, stepID) }()
	time.Sleep(o.warmup)
	pid := -1
	if p.cmd != nil {
		pid = p.cmd.Process.Pid
	}
	self := os.Getpid()
	cpu0, lg0 := cpuSeconds(pid), cpuSeconds(self)
	t0 := time.Now()
	lg.wEnd.Store(1 << 62)
	lg.wStart.Store(lg.now())
	time.Sleep(o.window)
	lg.wEnd.Store(lg.now())
	cpu1, lg1 := cpuSeconds(pid), cpuSeconds(self)
	el := time.Since(t0).Seconds()
	time.Sleep(100 * time.Millisecond) // packets stamped at the end of the window still count
	cancel()
	inWindow := <-sentCh // the generator goroutine has stopped: its counters are ours
	onTime, late := lg.onTime, lg.late
	got := onTime + late
	res.pps = float64(got) / el
	if got > 0 {
		res.cpuPer100k = (cpu1 - cpu0) / float64(got) * 1e5
	}
	res.cpuShare = (cpu1 - cpu0) / el
	res.lgCPU = (lg1 - lg0) / el
	if inWindow > 0 {
		lost := int64(inWindow) - int64(onTime)
		res.loss = 100 * float64(max(lost, 0)) / float64(inWindow)
		res.late = 100 * float64(late) / float64(inWindow)
	}
	res.maxLatency = time.Duration(lg.maxLatency)
	return res
}

func run(o *options) {
	defer stopStarted()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sig; fatal("interrupted") }()

	begin := time.Now()
	procs := map[string]*relayProc{}
	for _, name := range o.relays {
		procs[name] = startRelay(o, name)
	}
	lg := newLoadgen()
	var all []result
	stepID := uint32(1)
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(w, "%-10s %6s %9s %11s %9s %8s %8s %9s %8s\n", "relay", "calls", "pkt/s", "CPU-s/100k", "relay CPU", "loss %", "late %", "max lat", "gen CPU")
	w.Flush()
	k := 0
	for _, n := range o.calls {
		for round := 0; round < o.rounds; round++ {
			k++
			if time.Since(begin) > o.maxTime {
				fmt.Fprintf(w, "(-max-time %v reached: steps from %d calls skipped)\n", o.maxTime, n)
				printSummary(w, o, all)
				w.Flush()
				return
			}
			order := o.relays
			if k%2 == 1 { // alternate who goes first
				order = append([]string(nil), o.relays...)
				for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
					order[i], order[j] = order[j], order[i]
				}
			}
			for _, name := range order {
				r := runStep(lg, procs[name], o, n, stepID)
				stepID++
				all = append(all, r)
				if r.setupErr != "" {
					fmt.Fprintf(w, "%-10s %6d  setup failed: %s\n", r.relay, r.calls, r.setupErr)
				} else {
					fmt.Fprintf(w, "%-10s %6d %9.0f %11.3f %9.2f %8.3f %8.3f %9v %8.2f\n", r.relay, r.calls, r.pps, r.cpuPer100k, r.cpuShare, r.loss, r.late, r.maxLatency.Round(time.Millisecond), r.lgCPU)
				}
				w.Flush()
				time.Sleep(500 * time.Millisecond) // let the sockets drain before the next step
			}
		}
	}
	printSummary(w, o, all)
	w.Flush()
}

// median of the rounds of one relay at one call count: CPU per packet and
// loss are each the median over rounds (the machine is shared; one
// disturbed round should not decide).
func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func printSummary(w *bufio.Writer, o *options, all []result) {
	type agg struct{ cpu, loss []float64 }
	by := map[string]map[int]*agg{}
	for _, r := range all {
		if r.setupErr != "" {
			continue
		}
		if by[r.relay] == nil {
			by[r.relay] = map[int]*agg{}
		}
		a := by[r.relay][r.calls]
		if a == nil {
			a = &agg{}
			by[r.relay][r.calls] = a
		}
		a.cpu = append(a.cpu, r.cpuPer100k)
		a.loss = append(a.loss, r.loss)
	}
	fmt.Fprintf(w, "\nmedians over rounds\n%6s", "calls")
	for _, name := range o.relays {
		fmt.Fprintf(w, " %12s %9s", name+" CPU", "loss %")
	}
	if by["parley"] != nil && by["rtpengine"] != nil {
		fmt.Fprintf(w, " %12s", "CPU parley/rtpe")
	}
	fmt.Fprintln(w)
	for _, n := range o.calls {
		fmt.Fprintf(w, "%6d", n)
		for _, name := range o.relays {
			if a := by[name][n]; a != nil {
				fmt.Fprintf(w, " %12.3f %9.3f", median(a.cpu), median(a.loss))
			} else {
				fmt.Fprintf(w, " %12s %9s", "-", "-")
			}
		}
		p, r := by["parley"][n], by["rtpengine"][n]
		if p != nil && r != nil && median(r.cpu) > 0 {
			fmt.Fprintf(w, " %12.2f", median(p.cpu)/median(r.cpu))
		}
		fmt.Fprintln(w)
	}
	for _, name := range o.relays {
		best := 0
		for _, n := range o.calls {
			if a := by[name][n]; a != nil && median(a.loss) < 0.1 && n > best {
				best = n
			}
		}
		fmt.Fprintf(w, "%s: most calls with < 0.1%% lost or later than 50 ms (median of rounds): %d\n", name, best)
	}
}
