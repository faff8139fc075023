package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// memResult is what registering n contacts cost one server.
type memResult struct {
	kind       string
	ok, failed int
	took       time.Duration
	cpu        float64
	// Parley: VmRSS of its one process. Kamailio: the sum of Pss
	// (proportional set size: shared pages divided among the processes
	// mapping them, so shared memory is counted once) over its processes.
	rssBefore, rssAfter int64
	// Kamailio only: real_used of its shared memory pool (core.shmmem),
	// where usrloc keeps the contacts.
	shmBefore, shmAfter int64
}

// measureMemory starts a fresh server of kind (auth none), registers n
// distinct users with one contact each, and measures memory before and
// after.
func measureMemory(o *options, kind string, n, window int, settle time.Duration) memResult {
	srv := startServer(o, kind, "memory", false, false)
	defer srv.stop()
	res := memResult{kind: kind}
	time.Sleep(time.Second)
	res.rssBefore = srv.memory()
	res.shmBefore = srv.shmUsed()
	cpu0 := groupCPU(srv.pid())
	start := time.Now()
	res.ok, res.failed = blastRegister(srv.target(), n, window)
	res.took = time.Since(start)
	res.cpu = groupCPU(srv.pid()) - cpu0
	// Let the server settle before reading memory: Parley keeps a small
	// record of each completed REGISTER transaction (its key and response)
	// for Timer J (64*T1 = 32 s, RFC 3261 §17.2.2) to absorb
	// retransmissions, and the Go runtime returns freed heap to the OS
	// gradually (after its next collection).
	for waited := time.Duration(0); waited < settle; waited += 5 * time.Second {
		time.Sleep(min(5*time.Second, settle-waited))
		fmt.Fprintf(os.Stderr, "memory %-9s %3.0fs after: %.1f MiB\n", kind, (waited + min(5*time.Second, settle-waited)).Seconds(), float64(srv.memory())/(1<<20))
	}
	res.rssAfter = srv.memory()
	res.shmAfter = srv.shmUsed()
	fmt.Fprintf(os.Stderr, "memory %-9s %d/%d registered in %.1fs (%.0f/s), %.2f CPU s\n", kind, res.ok, n, res.took.Seconds(), float64(res.ok)/res.took.Seconds(), res.cpu)
	return res
}

// memory returns parley's VmRSS, or the sum of kamailio's Pss, in bytes.
func (s *server) memory() int64 {
	if s.kind != "kamailio" {
		return procKB(fmt.Sprintf("/proc/%d/status", s.pid()), "VmRSS:") * 1024
	}
	var sum int64
	for _, pid := range groupPIDs(s.pid()) {
		sum += procKB(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:") * 1024
	}
	return sum
}

// procKB reads a "Name:   123 kB" line.
func procKB(path, name string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	for l := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(l, name); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				v, _ := strconv.ParseInt(f[0], 10, 64)
				return v
			}
		}
	}
	return -1
}

var realUsed = regexp.MustCompile(`real_used:\s*(\d+)`)

// shmUsed asks kamailio for its shared memory in use (kamcmd core.shmmem);
// -1 for parley or when kamcmd is missing.
func (s *server) shmUsed() int64 {
	if s.ctl == "" {
		return -1
	}
	out, err := exec.Command("kamcmd", "-s", "unix:"+s.ctl, "core.shmmem").CombinedOutput()
	if err != nil {
		return -1
	}
	m := realUsed.FindSubmatch(out)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return v
}

// blastRegister registers users m0..m(n-1)@example.test, one contact each,
// from one UDP socket with at most window REGISTERs outstanding,
// retransmitting (500 ms doubling, 7 tries) until each gets a final
// response. It returns the 200s and the other outcomes.
func blastRegister(target string, n, window int) (ok, failed int) {
	dst, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		fatal("%v", err)
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		fatal("%v", err)
	}
	defer c.Close()
	c.SetReadBuffer(8 << 20)
	c.SetWriteBuffer(8 << 20)
	local := c.LocalAddr().String()

	type pending struct {
		msg   []byte
		sent  time.Time
		tries int
	}
	var (
		mu      sync.Mutex
		out     = map[string]*pending{}
		slots   = make(chan struct{}, window)
		results = make(chan bool, window)
	)
	finish := func(id string, good bool) {
		mu.Lock()
		_, was := out[id]
		delete(out, id)
		mu.Unlock()
		if was {
			<-slots
			results <- good
		}
	}
	go func() {
		buf := make([]byte, 65536)
		for {
			m, err := c.Read(buf)
			if err != nil {
				return
			}
			msg := buf[:m]
			if !bytes.HasPrefix(msg, []byte("SIP/2.0 ")) || len(msg) < 11 {
				continue
			}
			code, _ := strconv.Atoi(string(msg[8:11]))
			if code < 200 {
				continue
			}
			i := bytes.Index(msg, []byte("\r\nCall-ID:"))
			if i < 0 {
				continue
			}
			rest := msg[i+len("\r\nCall-ID:"):]
			if j := bytes.Index(rest, []byte("\r\n")); j >= 0 {
				rest = rest[:j]
			}
			finish(string(bytes.TrimSpace(rest)), code == 200)
		}
	}()
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-t.C:
				var resend [][]byte
				var dead []string
				mu.Lock()
				for id, p := range out {
					if now.Sub(p.sent) < (500*time.Millisecond)<<min(p.tries, 3) {
						continue
					}
					if p.tries >= 6 {
						dead = append(dead, id)
						continue
					}
					p.tries++
					p.sent = now
					resend = append(resend, p.msg)
				}
				mu.Unlock()
				for _, m := range resend {
					c.WriteToUDP(m, dst)
				}
				for _, id := range dead {
					finish(id, false)
				}
			}
		}
	}()
	done := make(chan struct{})
	go func() {
		for range n {
			if <-results {
				ok++
			} else {
				failed++
			}
		}
		close(done)
	}()
	for i := range n {
		slots <- struct{}{}
		id := fmt.Sprintf("mem%d@bench", i)
		user := "m" + strconv.Itoa(i)
		msg := []byte("REGISTER sip:example.test SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bKmem" + strconv.Itoa(i) + ";rport\r\n" +
			"Max-Forwards: 70\r\n" +
			"From: <sip:" + user + "@example.test>;tag=t" + strconv.Itoa(i) + "\r\n" +
			"To: <sip:" + user + "@example.test>\r\n" +
			"Call-ID: " + id + "\r\n" +
			"CSeq: 1 REGISTER\r\n" +
			"Contact: <sip:" + user + "@" + local + ">;expires=3600\r\n" +
			"User-Agent: parley-bench\r\n" +
			"Content-Length: 0\r\n\r\n")
		mu.Lock()
		out[id] = &pending{msg: msg, sent: time.Now()}
		mu.Unlock()
		c.WriteToUDP(msg, dst)
	}
	<-done
	close(stop)
	return ok, failed
}

func printMemory(ms []memResult, n int) {
	fmt.Printf("\n## memory — %d contacts registered (distinct users, auth none)\n\n", n)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\tregistered\tfailed\treg/s\tCPU s/10k\tmeasure\tbefore MiB\tafter MiB\tbytes/contact\t")
	per := func(before, after int64, ok int) string {
		if before < 0 || after < 0 || ok == 0 {
			return "n/a"
		}
		return strconv.FormatInt((after-before)/int64(ok), 10)
	}
	mib := func(v int64) string {
		if v < 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.1f", float64(v)/(1<<20))
	}
	for _, m := range ms {
		rate := float64(m.ok) / m.took.Seconds()
		cpu := 0.0
		if m.ok > 0 {
			cpu = m.cpu / float64(m.ok) * 10000
		}
		measure := "VmRSS"
		if m.kind == "kamailio" {
			measure = "sum of Pss"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.3f\t%s\t%s\t%s\t%s\t\n", m.kind, m.ok, m.failed, rate, cpu, measure,
			mib(m.rssBefore), mib(m.rssAfter), per(m.rssBefore, m.rssAfter, m.ok))
		if m.kind == "kamailio" {
			fmt.Fprintf(tw, "%s\t\t\t\t\t%s\t%s\t%s\t%s\t\n", m.kind, "shm real_used", mib(m.shmBefore), mib(m.shmAfter), per(m.shmBefore, m.shmAfter, m.ok))
		}
	}
	tw.Flush()
	fmt.Println("Parley: VmRSS of its one process: the location store's in-memory index (the journal is on disk), plus the peak of")
	fmt.Println("  completed REGISTER transactions' records held for Timer J (32 s) while registering, with the Go heap's GC headroom")
	fmt.Println("  (GOGC tuned from 400 down to 50 as the live heap passes 64 MiB, unless PARLEY_BENCH_GOGC sets it); the runtime")
	fmt.Println("  keeps freed memory mapped until a collection after the records end.")
	fmt.Println("Kamailio: Pss summed over its processes counts the shared memory pool once, and only the pages touched;")
	fmt.Println("  shm real_used is what usrloc allocated from that pool (kamcmd core.shmmem). It answers REGISTER statelessly.")
}
