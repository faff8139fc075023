package guard

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"net/netip"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDensity(t *testing.T) {
	tests := []struct {
		name     string
		window   time.Duration
		max      int
		packets  int
		spacing  time.Duration // clock advance after each packet
		admitted int           // packets let through
		banned   bool
	}{
		{"burst of exactly the budget passes", time.Second, 100, 100, 0, 100, false},
		{"one beyond the budget bans", time.Second, 100, 101, 0, 100, true},
		{"sustained at the rate passes for ever", time.Second, 100, 5000, 10 * time.Millisecond, 5000, false},
		{"twice the rate is banned after twice the budget", time.Second, 100, 5000, 5 * time.Millisecond, 199, true},
		{"defaults: 50 phones booting at once (1750)", 0, 0, 1750, 0, 1750, false},
		{"defaults: 10k/s flood cut within 0.25 s", 0, 0, 10000, 100 * time.Microsecond, 2222, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, clk, _ := newTestGuard(t, Config{Window: tt.window, MaxRequests: tt.max})
			src := addr("192.0.2.1")
			admitted, firstDrop := 0, -1
			for i := range tt.packets {
				if g.Admit(src) {
					admitted++
				} else if firstDrop < 0 {
					firstDrop = i
				}
				clk.Advance(tt.spacing)
			}
			if admitted != tt.admitted {
				t.Errorf("admitted %d of %d packets, want %d (first drop at packet %d)", admitted, tt.packets, tt.admitted, firstDrop)
			}
			banned := len(g.Bans()) == 1
			if banned != tt.banned {
				t.Errorf("banned = %v, want %v (bans %v)", banned, tt.banned, g.Bans())
			}
			st := g.Stats()
			if st.Admitted+st.DroppedBanned+st.DroppedDensity != uint64(tt.packets) {
				t.Errorf("stats %+v do not add up to %d packets", st, tt.packets)
			}
			if tt.banned && (st.DroppedDensity != 1 || st.BansDensity != 1) {
				t.Errorf("stats %+v: want one density drop and one density ban", st)
			}
		})
	}
}

func TestBanExpiry(t *testing.T) {
	g, clk, _ := newTestGuard(t, Config{Window: time.Second, MaxRequests: 10, BanTime: time.Minute})
	src, other := addr("192.0.2.1"), addr("192.0.2.2")
	if n := send(g, src, 11); n != 10 {
		t.Fatalf("admitted %d, want 10 then a ban", n)
	}
	if !g.Admit(other) {
		t.Fatal("another source is dropped by the first one's ban")
	}
	bans := g.Bans()
	if len(bans) != 1 || bans[0].Source != netip.MustParsePrefix("192.0.2.1/32") || bans[0].Reason != ReasonDensity ||
		!bans[0].Until.Equal(clockBase.Add(time.Minute)) {
		t.Fatalf("Bans() = %+v, want 192.0.2.1/32 density until +1m", bans)
	}
	clk.Advance(time.Minute - time.Nanosecond)
	if g.Admit(src) {
		t.Fatal("admitted 1 ns before the ban ends")
	}
	clk.Advance(time.Nanosecond)
	if n := send(g, src, 10); n != 10 {
		t.Fatalf("after the ban admitted %d of 10: the budget should be full again", n)
	}
	if st := g.Stats(); st.BansActive != 0 || st.BansTotal != 1 {
		t.Errorf("stats %+v: want 0 active of 1 total", st)
	}
}

func TestTrusted(t *testing.T) {
	g, _, _ := newTestGuard(t, Config{
		Window: time.Second, MaxRequests: 10, AuthFailures: 2,
		Trusted: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("::ffff:172.16.0.0/108")},
	})
	for _, s := range []string{"10.1.2.3", "::ffff:10.1.2.3", "172.16.9.9"} {
		src := addr(s)
		if n := send(g, src, 1000); n != 1000 {
			t.Errorf("trusted %s: admitted %d of 1000", s, n)
		}
		for range 10 {
			if g.AuthFailed(src, "alice") {
				t.Errorf("trusted %s locked out", s)
			}
		}
		if g.AuthLocked(src) {
			t.Errorf("trusted %s AuthLocked", s)
		}
	}
	if st := g.Stats(); st.SourcesTracked != 0 {
		t.Errorf("trusted sources tracked: %+v", st)
	}
	g.Ban(addr("10.1.2.3"), "admin says", time.Hour)
	if g.Admit(addr("10.1.2.3")) {
		t.Error("an explicit Ban does not apply to a trusted source")
	}
	if !g.Admit(addr("10.1.2.4")) {
		t.Error("the ban of one trusted address hit another")
	}
	g6, _, _ := newTestGuard(t, Config{Window: time.Second, MaxRequests: 10, Trusted: []netip.Prefix{netip.MustParsePrefix("2001:db8::5/128")}})
	send(g6, addr("2001:db8::6"), 11) // bans 2001:db8::/64
	if n := send(g6, addr("2001:db8::5"), 100); n != 100 {
		t.Errorf("trusted address in a /64 banned for density: admitted %d of 100", n)
	}
	if n := send(g, addr("10.2.0.1"), 20); n != 10 {
		t.Errorf("untrusted neighbour admitted %d of 20, want 10", n)
	}
}

func TestAuthLockout(t *testing.T) {
	g, clk, _ := newTestGuard(t, Config{AuthFailures: 10, AuthWindow: time.Minute, AuthBanTime: 30 * time.Minute})
	guesser, phone, third := addr("198.51.100.66"), addr("203.0.113.10"), addr("203.0.113.11")

	for i := 1; i <= 10; i++ {
		locked := g.AuthFailed(guesser, "alice")
		if want := i == 10; locked != want {
			t.Fatalf("failure %d: locked = %v, want %v", i, locked, want)
		}
	}
	if !g.AuthLocked(guesser) {
		t.Fatal("guesser not locked after 10 failures")
	}
	if !g.Admit(guesser) {
		t.Error("a lock-out dropped packets in Admit; it should only stop challenges")
	}
	// alice's own phone: one typo, then correct. Not locked.
	if g.AuthFailed(phone, "alice") || g.AuthLocked(phone) {
		t.Error("alice's phone (another source) is locked out by the guesser")
	}
	if g.AuthLocked(third) {
		t.Error("an unrelated source is locked out")
	}
	bans := g.Bans()
	if len(bans) != 1 || bans[0].Reason != ReasonAuth || bans[0].Source.Addr() != guesser {
		t.Errorf("Bans() = %+v, want the guesser's auth lock-out", bans)
	}
	clk.Advance(30 * time.Minute)
	if g.AuthLocked(guesser) {
		t.Error("still locked after AuthBanTime")
	}
	if g.AuthFailed(guesser, "alice") {
		t.Error("one failure after the lock-out locks again: the budget should be full")
	}
	st := g.Stats()
	if st.BansAuth != 1 || st.DroppedAuth != 1 {
		t.Errorf("stats %+v: want 1 auth ban and 1 auth drop", st)
	}

	// A phone retrying a wrong password every 20 s is never locked.
	slow := addr("203.0.113.20")
	for i := range 200 {
		if g.AuthFailed(slow, "bob") {
			t.Fatalf("a failure every 20 s locked out after %d", i+1)
		}
		clk.Advance(20 * time.Second)
	}
}

func TestUnban(t *testing.T) {
	g, _, logs := newTestGuard(t, Config{AuthFailures: 1})
	src := addr("192.0.2.9")
	if g.Unban(src) {
		t.Error("Unban of a source never banned reports true")
	}
	g.Ban(src, "", 0)
	g.AuthFailed(src, "x")
	if len(g.Bans()) != 2 {
		t.Fatalf("Bans() = %+v, want a ban and a lock-out", g.Bans())
	}
	if !g.Unban(src) {
		t.Error("Unban reports false")
	}
	if !g.Admit(src) || g.AuthLocked(src) || len(g.Bans()) != 0 {
		t.Errorf("after Unban: bans %+v", g.Bans())
	}
	if !strings.Contains(logs.String(), `"msg":"unban"`) {
		t.Errorf("no unban line in %s", logs)
	}
	// A longer ban in force is not shortened.
	g.Ban(src, "long", time.Hour)
	g.Ban(src, "short", time.Minute)
	if b := g.Bans(); len(b) != 1 || b[0].Reason != "long" {
		t.Errorf("Bans() = %+v, want the hour-long ban kept", b)
	}
}

func TestIPv4MappedAndIPv6Blocks(t *testing.T) {
	g, _, _ := newTestGuard(t, Config{Window: time.Second, MaxRequests: 10})
	if n := send(g, addr("192.0.2.1"), 5) + send(g, addr("::ffff:192.0.2.1"), 6); n != 10 {
		t.Errorf("IPv4 and IPv4-mapped: admitted %d of 11, want 10 (one budget)", n)
	}
	if b := g.Bans(); len(b) != 1 || b[0].Source.String() != "192.0.2.1/32" {
		t.Errorf("Bans() = %+v, want 192.0.2.1/32", b)
	}
	if n := send(g, addr("2001:db8::1"), 5) + send(g, addr("2001:db8::ffff:2"), 5) + send(g, addr("fe80::1%eth0"), 0); n != 10 {
		t.Errorf("one /64: admitted %d, want 10", n)
	}
	if g.Admit(addr("2001:db8::3")) {
		t.Error("a third address of the same /64 passes after the budget")
	}
	if !g.Admit(addr("2001:db8:0:1::1")) {
		t.Error("the next /64 is dropped")
	}
	if n := send(g, addr("fe80::1%eth0"), 6) + send(g, addr("fe80::2%eth1"), 5); n != 10 {
		t.Errorf("zones: admitted %d of 11, want 10 (zones are ignored)", n)
	}
	if g.AuthLocked(addr("::ffff:192.0.2.1")) != g.AuthLocked(addr("192.0.2.1")) {
		t.Error("AuthLocked differs between the mapped and plain form")
	}

	g128, _, _ := newTestGuard(t, Config{Window: time.Second, MaxRequests: 10, IPv6PrefixLen: 128})
	if n := send(g128, addr("2001:db8::1"), 10) + send(g128, addr("2001:db8::2"), 10); n != 20 {
		t.Errorf("IPv6PrefixLen 128: admitted %d of 20", n)
	}
	if b := g.Bans(); len(b) < 2 || b[0].Source.String() != "192.0.2.1/32" || b[1].Source.String() != "2001:db8::/64" {
		t.Errorf("Bans() = %+v, want 192.0.2.1/32 then 2001:db8::/64", b)
	}
}

func TestScanner(t *testing.T) {
	g, _, _ := newTestGuard(t, Config{})
	tests := []struct {
		ua   string
		want bool
	}{
		{"friendly-scanner", true},
		{"FRIENDLY-SCANNER", true},
		{"sipvicious/0.3.4", true},
		{"SIPVicious", true},
		{"sipcli/v1.8", true},
		{"VaxSIPUserAgent/3.1", true},
		{"iWar", true},
		{"sundayddr", true},
		{"SIVuS Discovery Scanner", true},
		{"smap 0.6", true},
		{"sip-scan", true},
		{"sipptk", true},
		{"Mozilla/5.0 (friendly-scanner)", true},
		{"sipsak 0.9.8.1", false},
		{"", false},
		{"Yealink SIP-T46S 66.86.0.15", false},
		{"Zoiper rv2.10.19.10", false},
		{"baresip v1.0.0 (x86_64/linux)", false},
		{"SIPp", false},
		{"MySIPClient 2.0", false},   // sipcli inside a word
		{"Kiwarra softphone", false}, // iwar inside a word
		{"Asmapp", false},
		{"Linphone/5.2 (belle-sip/5.2)", false},
	}
	for _, tt := range tests {
		if got := g.IsScanner(tt.ua); got != tt.want {
			t.Errorf("IsScanner(%q) = %v, want %v", tt.ua, got, tt.want)
		}
	}
	if st := g.Stats(); st.DroppedScanner != 13 {
		t.Errorf("DroppedScanner = %d, want 13", st.DroppedScanner)
	}

	custom, _, _ := newTestGuard(t, Config{ScannerUserAgents: []string{"EvilBot", "-x-"}})
	for ua, want := range map[string]bool{"evilbot/1": true, "friendly-scanner": false, "a-x-b": true, "evilbots": false} {
		if got := custom.IsScanner(ua); got != want {
			t.Errorf("custom IsScanner(%q) = %v, want %v", ua, got, want)
		}
	}
	off, _, _ := newTestGuard(t, Config{ScannerUserAgents: []string{}})
	if off.IsScanner("friendly-scanner") {
		t.Error("an empty list does not turn the filter off")
	}
}

func TestMaxSourcesBound(t *testing.T) {
	const max, spoofed = DefaultMaxSources, 1 << 20
	g, _, _ := newTestGuard(t, Config{})
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)

	flooder := addr("198.51.100.1")
	flooderAdmitted := 0
	for i := range uint32(spoofed) {
		g.Admit(addrN(i))
		if i%100 == 0 && g.Admit(flooder) {
			flooderAdmitted++
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	st := g.Stats()
	if st.SourcesTracked > max {
		t.Errorf("tracking %d sources, bound %d", st.SourcesTracked, max)
	}
	if st.Evicted < spoofed-2*max {
		t.Errorf("evicted %d, want about %d", st.Evicted, spoofed-max)
	}
	// The flooder's busy entry survived the churn and was banned at its budget.
	if flooderAdmitted != DefaultMaxRequests {
		t.Errorf("the flooder among 1M spoofed sources got %d packets through, want %d", flooderAdmitted, DefaultMaxRequests)
	}
	grow := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("1M spoofed sources: heap in use grew %d bytes, %d tracked (%d bytes each)", grow, st.SourcesTracked, grow/int64(st.SourcesTracked))
	if grow > 16<<20 {
		t.Errorf("heap grew %d bytes for %d sources tracked at most", grow, max)
	}

	// A table full of bans admits new sources uncounted instead of refusing them.
	tiny, _, _ := newTestGuard(t, Config{MaxSources: 1, Window: time.Second, MaxRequests: 1})
	send(tiny, addr("192.0.2.1"), 2)
	if n := send(tiny, addr("192.0.2.2"), 2); n != 2 {
		t.Errorf("new source: %d of 2 admitted while the table is full of bans, want both", n)
	}
	if st := tiny.Stats(); st.Untracked != 2 || st.SourcesTracked != 1 {
		t.Errorf("stats %+v: want 2 untracked, 1 tracked", st)
	}
	tiny.Ban(addr("192.0.2.3"), "", time.Hour) // Ban always finds room
	if tiny.Admit(addr("192.0.2.3")) {
		t.Error("Ban in a table full of bans did not take")
	}
}

func TestSweep(t *testing.T) {
	g, clk, _ := newTestGuard(t, Config{Window: time.Second, MaxRequests: 10})
	for i := range uint32(1000) {
		g.Admit(addrN(i))
	}
	send(g, addr("192.0.2.1"), 11) // banned for 5 minutes
	if st := g.Stats(); st.SourcesTracked != 1001 {
		t.Fatalf("tracking %d, want 1001", st.SourcesTracked)
	}
	clk.Advance(2 * time.Second)
	if st := g.Stats(); st.SourcesTracked != 1 || st.BansActive != 1 {
		t.Errorf("after the window: %+v, want only the banned source left", st)
	}
	clk.Advance(DefaultBanTime)
	if st := g.Stats(); st.SourcesTracked != 0 {
		t.Errorf("after the ban: tracking %d", st.SourcesTracked)
	}
}

// TestLogLines parses the JSON log and checks the keys fail2ban and
// operators rely on.
func TestLogLines(t *testing.T) {
	g, clk, logs := newTestGuard(t, Config{Window: time.Second, MaxRequests: 1, AuthFailures: 1})
	clk.Advance(1500 * time.Millisecond)
	send(g, addr("::ffff:192.0.2.1"), 5) // one ban, whatever the packets after it
	g.AuthFailed(addr("192.0.2.2"), "alice")
	g.Ban(addr("2001:db8::7"), "scanner", time.Hour)

	type line struct {
		Level, Msg, Source, Reason, Until, Block, User string
	}
	var lines []line
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var l line
		var raw map[string]any
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		b, _ := json.Marshal(raw)
		_ = json.Unmarshal(b, &l)
		lines = append(lines, l)
	}
	want := []line{
		{"WARN", "ban", "192.0.2.1", "density", "2026-12-04T09:05:01Z", "", ""},
		{"WARN", "ban", "192.0.2.2", "auth", "2026-12-04T09:30:01Z", "", "alice"},
		{"WARN", "ban", "2001:db8::7", "scanner", "2026-12-04T10:00:01Z", "2001:db8::/64", ""},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d log lines, want %d:\n%s", len(lines), len(want), logs)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d = %+v, want %+v", i, lines[i], want[i])
		}
		if _, err := time.Parse(time.RFC3339, lines[i].Until); err != nil {
			t.Errorf("line %d until: %v", i, err)
		}
	}

	// The text form, as a fail2ban failregex would read it.
	var text logBuffer
	tg, _, _ := newTestGuard(t, Config{Logger: slog.New(slog.NewTextHandler(&text, nil)), Window: time.Second, MaxRequests: 1})
	send(tg, addr("192.0.2.50"), 2)
	re := regexp.MustCompile(`level=WARN msg=ban source=(\S+) reason=(\S+) until=(\S+)\n$`)
	if m := re.FindStringSubmatch(text.String()); m == nil || m[1] != "192.0.2.50" || m[2] != "density" {
		t.Errorf("text line %q does not match %v", text.String(), re)
	}
}

func TestNewErrors(t *testing.T) {
	bad := map[string]Config{
		"negative window":          {Window: -time.Second},
		"too dense":                {Window: time.Nanosecond, MaxRequests: 2},
		"negative ban time":        {BanTime: -1},
		"negative auth window":     {AuthWindow: -1},
		"negative auth ban":        {AuthBanTime: -1},
		"negative max sources":     {MaxSources: -1},
		"huge max sources":         {MaxSources: 1 << 30},
		"ipv6 prefix 129":          {IPv6PrefixLen: 129},
		"empty scanner entry":      {ScannerUserAgents: []string{"ok", " "}},
		"control in scanner":       {ScannerUserAgents: []string{"a\nb"}},
		"long scanner entry":       {ScannerUserAgents: []string{strings.Repeat("x", 200)}},
		"invalid trusted prefix":   {Trusted: []netip.Prefix{{}}},
		"short mapped prefix":      {Trusted: []netip.Prefix{netip.MustParsePrefix("::ffff:0:0/90")}},
		"too many scanner entries": {ScannerUserAgents: make([]string, 300)},
	}
	for name, cfg := range bad {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	g, err := New(Config{MaxRequests: -1, AuthFailures: -1})
	if err != nil {
		t.Fatal(err)
	}
	src := addr("192.0.2.1")
	if n := send(g, src, 10000); n != 10000 {
		t.Errorf("density off: admitted %d of 10000", n)
	}
	for range 100 {
		if g.AuthFailed(src, "u") {
			t.Fatal("lock-out off but locked")
		}
	}
	cfg := g.Config()
	if cfg.Window != DefaultWindow || cfg.BanTime != DefaultBanTime || len(cfg.ScannerUserAgents) != len(defaultScannerUserAgents) {
		t.Errorf("defaults not filled in: %+v", cfg)
	}
}

func TestParsePrefix(t *testing.T) {
	tests := []struct{ in, want string }{
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"192.0.2.7", "192.0.2.7/32"},
		{" 2001:db8::1 ", "2001:db8::1/128"},
		{"2001:db8::1/32", "2001:db8::/32"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"::ffff:192.0.2.1", "192.0.2.1/32"},
		{"fe80::1%eth0", ""},
		{"10.0.0.0/33", ""},
		{"example.com", ""},
		{"", ""},
	}
	for _, tt := range tests {
		p, err := ParsePrefix(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("ParsePrefix(%q) = %v, want an error", tt.in, p)
			}
			continue
		}
		if err != nil || p.String() != tt.want {
			t.Errorf("ParsePrefix(%q) = %v, %v; want %s", tt.in, p, err, tt.want)
		}
	}
}

func TestNoAllocations(t *testing.T) {
	g, _, _ := newTestGuard(t, Config{Trusted: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}})
	src, banned, trusted := addr("192.0.2.1"), addr("192.0.2.2"), addr("10.9.1.1")
	g.Admit(src)
	g.Ban(banned, "", time.Hour)
	for name, f := range map[string]func(){
		"Admit admitted":    func() { g.Admit(src) },
		"Admit banned":      func() { g.Admit(banned) },
		"Admit trusted":     func() { g.Admit(trusted) },
		"Admit IPv6":        func() { g.Admit(addr("2001:db8::1")) },
		"IsScanner phone":   func() { g.IsScanner("Yealink SIP-T46S 66.86.0.15") },
		"IsScanner scanner": func() { g.IsScanner("friendly-scanner") },
		"AuthLocked":        func() { g.AuthLocked(src) },
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v allocations per call", name, n)
		}
	}
}

func TestConcurrent(t *testing.T) {
	g, clk, _ := newTestGuard(t, Config{Window: time.Second, MaxRequests: 50, MaxSources: 256, AuthFailures: 5})
	const workers, perWorker = 8, 5000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				src := addrN(uint32(i*7+w) % 1000)
				g.Admit(src)
				switch i % 100 {
				case 1:
					g.AuthFailed(src, "u")
				case 2:
					g.AuthLocked(src)
				case 3:
					g.Ban(src, "", time.Second)
				case 4:
					g.Unban(src)
				case 5:
					_ = g.Bans()
				case 6:
					_ = g.Stats()
				case 7:
					g.IsScanner("friendly-scanner")
				case 8:
					clk.Advance(time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	st := g.Stats()
	if got := st.Admitted + st.DroppedBanned + st.DroppedDensity; got != workers*perWorker {
		t.Errorf("admitted+dropped = %d, want %d (%+v)", got, workers*perWorker, st)
	}
	if st.SourcesTracked > 256 {
		t.Errorf("tracking %d sources, bound 256", st.SourcesTracked)
	}
}

func TestAuthLockoutDoubles(t *testing.T) {
	g, clk, _ := newTestGuard(t, Config{AuthFailures: 1, AuthBanTime: 30 * time.Minute, AuthBanTimeMax: 4 * time.Hour})
	src := addr("198.51.100.66")
	lockFor := func() time.Duration {
		t.Helper()
		start := clk.Now()
		if !g.AuthFailed(src, "alice") {
			t.Fatal("not locked after the failure")
		}
		b := g.Bans()
		if len(b) != 1 {
			t.Fatalf("Bans() = %+v", b)
		}
		d := b[0].Until.Sub(start)
		clk.Advance(d)
		if g.AuthLocked(src) {
			t.Fatalf("still locked at the end of its %v", d)
		}
		return d
	}
	for i, want := range []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour, 4 * time.Hour} {
		if got := lockFor(); got != want {
			t.Errorf("lock-out %d lasted %v, want %v", i+1, got, want)
		}
	}
	clk.Advance(4 * time.Hour) // AuthBanTimeMax without a lock-out: forgotten
	if got := lockFor(); got != 30*time.Minute {
		t.Errorf("after a quiet AuthBanTimeMax the lock-out lasted %v, want 30m again", got)
	}
	// The history keeps the entry out of the sweep, and then lets it go.
	clk.Advance(time.Hour)
	if st := g.Stats(); st.SourcesTracked != 1 {
		t.Errorf("tracking %d, want the source with its history", st.SourcesTracked)
	}
	clk.Advance(4 * time.Hour)
	if st := g.Stats(); st.SourcesTracked != 0 {
		t.Errorf("tracking %d after the history is forgotten", st.SourcesTracked)
	}
}

func TestBanVeryLong(t *testing.T) {
	g, _, _ := newTestGuard(t, Config{})
	src := addr("192.0.2.1")
	g.Ban(src, "forever", time.Duration(1<<62))
	if g.Admit(src) {
		t.Error("a very long ban overflowed and does not hold")
	}
	if b := g.Bans(); len(b) != 1 || b[0].Until.Before(clockBase.Add(9*365*24*time.Hour)) {
		t.Errorf("Bans() = %+v, want one ending about 10 years on", b)
	}
}
