package admin

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/parley-sip/parley/internal/peertest"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/pbx/cdr"
)

// browserCtx starts headless Chromium (Debian's; nothing is downloaded)
// with the flags that keep it local and quiet. On failure a screenshot of
// the page goes to the test's artifact directory.
func browserCtx(t *testing.T) context.Context {
	t.Helper()
	exe := peertest.Need(t, "chromium", "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost"),
		chromedp.WindowSize(1400, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	if err := chromedp.Do(ctx); err != nil { // start the browser now, without a deadline
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			sctx, c := context.WithTimeout(ctx, 10*time.Second)
			if png, err := chromedp.Run(sctx, chromedp.FullScreenshot(90)); err == nil {
				path := filepath.Join(t.ArtifactDir(), "screenshot.png")
				if os.WriteFile(path, png, 0o644) == nil {
					t.Logf("screenshot: %s", path)
				}
			}
			c()
		}
		cancel()
		cancelAlloc()
	})
	return ctx
}

// step runs actions with a bound, failing the test with what was tried.
func step(t *testing.T, ctx context.Context, what string, d time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		t.Fatalf("browser: %s: %v", what, err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("browser: evaluate %s: %v", js, err)
	}
	return v
}

func waitJS(t *testing.T, ctx context.Context, what, js string, d time.Duration) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if _, err := chromedp.Run(sctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		t.Fatalf("browser: waiting for %s (%s): %v", what, js, err)
	}
}

// sippRegister registers users with SIPp's register_uac from port.
func sippRegister(t *testing.T, sipp, target string, port int, users ...string) {
	t.Helper()
	inf := filepath.Join(t.TempDir(), "users.csv")
	if err := os.WriteFile(inf, []byte("SEQUENTIAL\n"+strings.Join(users, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := peertest.SIPp{Scenario: "register_uac", Transport: "u1", Target: target, LocalPort: port, Calls: len(users),
		Timeout: 30 * time.Second, Extra: []string{"-inf", inf, "-key", "domain", "example.test", "-key", "expires", "600"}}
	if res := run.Run(t, sipp); res.ExitCode != 0 || res.Successful != len(users) {
		t.Fatalf("SIPp REGISTER: %s\n%s", res, res.Errors())
	}
}

// TestConsoleInBrowser: log in, watch a registration appear live, place a
// call with SIPp through the server, open its ladder, check the arrows,
// click one, download the pcap and read it.
func TestConsoleInBrowser(t *testing.T) {
	sipp := peertest.Need(t, "sipp", "sip-tester")
	cfg := testConfig(t)
	cfg.Auth = "none"
	// The proxy: one Call-ID end to end, one ladder. Through the PBX the
	// two legs are two Call-IDs, which the console does not join yet.
	off := false
	cfg.PBX.Enabled = &off
	e := startEnv(t, cfg)
	ctx := browserCtx(t)

	step(t, ctx, "open the login page", 20*time.Second,
		chromedp.Navigate(e.base+"/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), "wrong-token-1234567890"),
		chromedp.Click(chromedp.ID("login-button")),
	)
	waitJS(t, ctx, "the refusal of a wrong token", `document.getElementById('login-error').textContent.includes('Wrong')`, 10*time.Second)
	eval[bool](t, ctx, `(document.getElementById('token').value = '', true)`)
	step(t, ctx, "log in", 20*time.Second,
		chromedp.SendKeys(chromedp.ID("token"), testToken),
		chromedp.Click(chromedp.ID("login-button")),
		chromedp.WaitVisible(chromedp.ID("dashboard")),
	)
	step(t, ctx, "open registrations", 10*time.Second, chromedp.Click(chromedp.CSS(`a[href="#/registrations"]`)), chromedp.WaitVisible(chromedp.ID("registrations")))
	waitJS(t, ctx, "the event stream", `document.getElementById('live').classList.contains('on')`, 10*time.Second)
	if n := eval[int](t, ctx, `document.querySelectorAll('#r-table tbody tr').length`); n != 0 {
		t.Fatalf("%d registrations before any phone registered", n)
	}

	// bob registers from a SIPp callee's port; the page shows him without
	// a reload (server-sent events).
	target := e.sipAddr()
	bobPort := peertest.FreePort(t)
	sippRegister(t, sipp, target, bobPort, "bob")
	waitJS(t, ctx, "bob's registration to appear live", `document.querySelector('#r-table tr[data-user="bob"]') !== null`, 10*time.Second)
	if got := eval[string](t, ctx, `document.querySelector('#r-table tr[data-user="bob"]').textContent`); !strings.Contains(got, "127.0.0.1:"+strconv.Itoa(bobPort)) || !strings.Contains(got, "UDP") {
		t.Errorf("bob's row: %q, want his source address and UDP", got)
	}

	t.Logf("registrations page fetched and drawn in %s ms", eval[string](t, ctx, `document.body.dataset.regPageMs`))

	// A call: SIPp calls bob through the server; bob's SIPp answers.
	callee, _ := peertest.SIPp{Scenario: "uas_answer", Transport: "u1", LocalPort: bobPort, Calls: 1, Timeout: 30 * time.Second}.Start(t, sipp)
	time.Sleep(200 * time.Millisecond) // let the callee bind its port
	caller := peertest.SIPp{Scenario: "uac_call_via_proxy", Transport: "u1", Target: target, LocalPort: peertest.FreePort(t),
		Calls: 1, Timeout: 30 * time.Second, Extra: []string{"-s", "bob"}}
	if res := caller.Run(t, sipp); res.ExitCode != 0 || res.Successful != 1 {
		t.Fatalf("SIPp call: %s\n%s", res, res.Errors())
	}
	if err := callee.Wait(30 * time.Second); err != nil {
		t.Fatalf("SIPp callee: %v\n%s", err, callee.Output())
	}

	step(t, ctx, "open recent calls", 10*time.Second, chromedp.Click(chromedp.CSS(`a[href="#/calls"]`)), chromedp.WaitVisible(chromedp.ID("calls")))
	waitJS(t, ctx, "the call in recent calls", `document.querySelector('#c-table tr[data-method="INVITE"]') !== null`, 10*time.Second)
	callID := eval[string](t, ctx, `document.querySelector('#c-table tr[data-method="INVITE"]').dataset.callid`)
	step(t, ctx, "open the ladder", 10*time.Second, chromedp.Click(chromedp.CSS(`#c-table tr[data-method="INVITE"]`)), chromedp.WaitVisible(chromedp.ID("ladder-svg")))
	labels := eval[[]string](t, ctx, `[...document.querySelectorAll('#ladder .arrow')].map(g => g.dataset.label)`)
	parties := eval[[]string](t, ctx, `[...document.querySelectorAll('#ladder .party')].map(p => p.dataset.party)`)
	if len(parties) != 3 || parties[1] != "parley" {
		t.Errorf("ladder columns %q, want caller, parley, callee", parties)
	}
	t.Logf("ladder: %q", labels)
	want := []string{"INVITE", "100", "180", "200", "ACK", "BYE", "200"}
	if !subsequence(labels, want) {
		t.Fatalf("ladder arrows %q do not hold %q in order", labels, want)
	}
	// Every message of the call is an arrow, with its time offset.
	if n := eval[int](t, ctx, `document.querySelectorAll('#ladder .arrow .time').length`); n != len(labels) || n < 13 {
		t.Errorf("%d time offsets for %d arrows (a proxied call has at least 13 messages)", n, len(labels))
	}
	step(t, ctx, "click the first arrow", 10*time.Second,
		chromedp.Click(chromedp.CSS(`#ladder .arrow[data-index="0"] .hit`)), chromedp.WaitVisible(chromedp.ID("l-message")))
	if msg := eval[string](t, ctx, `document.getElementById('l-message').textContent`); !strings.Contains(msg, "INVITE sip:bob@example.test SIP/2.0") || !strings.Contains(msg, "Call-ID: "+callID) || !strings.Contains(msg, "m=audio") {
		t.Errorf("the message shown for the first arrow:\n%s", msg)
	}

	// Download the pcap through the page's button.
	dir := t.TempDir()
	progress := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
	step(t, ctx, "download the pcap", 10*time.Second,
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: new(true)})
			return err
		}),
		chromedp.Click(chromedp.ID("l-pcap")),
	)
	var file string
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("download: %v", err)
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			file = filepath.Join(dir, ev.GUID)
			break
		}
		if dctx.Err() != nil {
			t.Fatal("download did not complete in 15 s")
		}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	payloads, err := readPcap(data)
	if err != nil {
		t.Fatalf("pcap: %v", err)
	}
	if len(payloads) != len(labels) {
		t.Errorf("pcap holds %d packets, the ladder %d arrows", len(payloads), len(labels))
	}
	for i, p := range payloads {
		if string(CallID(p)) != callID {
			t.Errorf("pcap packet %d has Call-ID %q, want %q", i, CallID(p), callID)
		}
	}
	if len(payloads) > 0 && !bytes.HasPrefix(payloads[0], []byte("INVITE sip:bob@example.test")) {
		t.Errorf("pcap packet 1: %.40q", payloads[0])
	}

	// CDRs: a record the PBX wrote shows on its page.
	db, err := cdr.OpenSQLite(cdr.Path(e.cfg.Data), cdr.SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec := cdr.Record{Caller: "alice", Callee: "bob", Dialled: "bob", Start: time.Now().Add(-time.Minute), Disposition: cdr.Answered, CallIDs: []string{"cdr-1"}}
	rec.Answer = rec.Start.Add(time.Second)
	rec.Finish(rec.Start.Add(31*time.Second), cdr.Answered, cdr.Cause{})
	if err := db.Write(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	db.Close()
	step(t, ctx, "open CDRs", 10*time.Second, chromedp.Click(chromedp.CSS(`a[href="#/cdrs"]`)), chromedp.WaitVisible(chromedp.ID("cdrs")))
	waitJS(t, ctx, "the CDR row", `document.querySelector('#cdr-table tr[data-id]') !== null`, 10*time.Second)
	if row := eval[string](t, ctx, `document.querySelector('#cdr-table tr[data-id]').textContent`); !strings.Contains(row, "alice") || !strings.Contains(row, "30") {
		t.Errorf("CDR row %q", row)
	}

	// Users: add one from the page; the server knows it at once.
	step(t, ctx, "add a user", 10*time.Second,
		chromedp.Click(chromedp.CSS(`a[href="#/users"]`)), chromedp.WaitVisible(chromedp.ID("users")),
		chromedp.SendKeys(chromedp.ID("u-name"), "dave"), chromedp.SendKeys(chromedp.ID("u-password"), "davepass1"),
		chromedp.Click(chromedp.CSS(`#u-add button`)))
	waitJS(t, ctx, "dave in the users table", `document.querySelector('#u-table tr[data-user="dave"]') !== null`, 10*time.Second)
	var list struct{ Users []userInfo }
	e.getJSON("/api/users", &list)
	if len(list.Users) != 3 || list.Users[2].Name != "dave" {
		t.Errorf("users after adding dave in the page: %+v", list.Users)
	}
}

// subsequence reports whether want appears in labels in order, each want
// being a method or the status code a label starts with.
func subsequence(labels, want []string) bool {
	i := 0
	for _, l := range labels {
		if i < len(want) && (l == want[i] || strings.HasPrefix(l, want[i]+" ")) {
			i++
		}
	}
	return i == len(want)
}

// readPcap is the test's own reader of classic pcap with LINKTYPE_RAW: it
// checks the headers and returns the UDP payloads.
func readPcap(b []byte) ([][]byte, error) {
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 || binary.LittleEndian.Uint32(b[20:]) != 101 {
		return nil, errors.New("not a little-endian pcap with LINKTYPE_RAW")
	}
	var out [][]byte
	for p := 24; p < len(b); {
		if p+16 > len(b) {
			return nil, fmt.Errorf("truncated record header at %d", p)
		}
		n := int(binary.LittleEndian.Uint32(b[p+8:]))
		pkt := b[p+16:]
		if n > len(pkt) {
			return nil, fmt.Errorf("record at %d: %d bytes, %d left", p, n, len(pkt))
		}
		pkt = pkt[:n]
		hl := 0
		switch pkt[0] >> 4 {
		case 4:
			hl = int(pkt[0]&15) * 4
			if pkt[9] != 17 {
				return nil, fmt.Errorf("record at %d: IP protocol %d, want UDP", p, pkt[9])
			}
		case 6:
			hl = 40
		default:
			return nil, fmt.Errorf("record at %d: IP version %d", p, pkt[0]>>4)
		}
		udp := pkt[hl:]
		if int(binary.BigEndian.Uint16(udp[4:])) != len(udp) {
			return nil, fmt.Errorf("record at %d: UDP length %d, packet %d", p, binary.BigEndian.Uint16(udp[4:]), len(udp))
		}
		out = append(out, udp[8:])
		p += 16 + n
	}
	return out, nil
}

// TestConsoleManyRegistrations: with 100,000 contacts the registrations
// page shows its first 100 and the total; the time to draw it is logged
// (a figure, not a pass/fail bound).
func TestConsoleManyRegistrations(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 registrations: not in -short")
	}
	e := startEnv(t, testConfig(t))
	ctx0 := context.Background()
	exp := time.Now().Add(time.Hour)
	for i := range 100000 {
		err := e.srv.Store().Put(ctx0, location.Binding{AOR: fmt.Sprintf("sip:u%06d@example.test", i), Contact: fmt.Sprintf("sip:u%06d@127.0.0.1:%d", i, 1024+i%60000),
			Expires: exp, Q: location.QMax, CallID: fmt.Sprint("c", i), CSeq: 1, Source: netip.MustParseAddrPort("127.0.0.1:5070"), Transport: "UDP", UserAgent: "Bench/1", Updated: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
	}
	ctx := browserCtx(t)
	start := time.Now()
	step(t, ctx, "log in and open registrations", 30*time.Second,
		chromedp.Navigate(e.base+"/#/registrations"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), testToken),
		chromedp.Click(chromedp.ID("login-button")),
		chromedp.WaitVisible(chromedp.ID("registrations")),
	)
	waitJS(t, ctx, "the first page", `document.querySelectorAll('#r-table tbody tr').length === 100`, 20*time.Second)
	t.Logf("100,000 registrations: first page %s ms (API and drawing), %v from login to a full page",
		eval[string](t, ctx, `document.body.dataset.regPageMs`), time.Since(start).Round(time.Millisecond))
	if got := eval[string](t, ctx, `document.getElementById('r-total').textContent`); got != "(100000)" {
		t.Errorf("total shown %q", got)
	}
	if first := eval[string](t, ctx, `document.querySelector('#r-table tbody tr').dataset.user`); first != "u000000" {
		t.Errorf("first row is %q, want u000000", first)
	}
	step(t, ctx, "next page", 20*time.Second, chromedp.Click(chromedp.ID("r-more")))
	waitJS(t, ctx, "the second page", `document.querySelectorAll('#r-table tbody tr').length === 200`, 20*time.Second)
	if u := eval[string](t, ctx, `document.querySelectorAll('#r-table tbody tr')[100].dataset.user`); u != "u000100" {
		t.Errorf("row 101 is %q, want u000100", u)
	}
}
