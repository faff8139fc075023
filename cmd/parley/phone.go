package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/parley-sip/parley/media"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/ua"
)

const phoneUsage = `Usage:
  parley phone call TARGET [flags]      call TARGET (sip:bob@example.test), play and record WAV files
  parley phone answer [flags]           register, wait for one call, answer it
  parley phone message TARGET TEXT [flags]  send a MESSAGE (RFC 3428)
  parley phone register [flags]         register, print the bindings, exit

Common flags:
  --server HOST:PORT   outbound proxy and registrar
  --user NAME          user name (address of record sip:NAME@DOMAIN)
  --password PW        digest password (or $PARLEY_PASSWORD)
  --domain DOMAIN      domain of the address of record (default: for call and
                       message the target's domain, else the server host)
  --transport udp|tcp  signalling transport (default udp)
  --listen HOST:PORT   local SIP address (default: the interface toward the server, any port)
  --rtp-ports LO-HI    RTP port range (default: any)
  --trace              log every SIP message to stderr

Run "parley phone COMMAND --help" for the flags of one command.
`

// phone runs the softphone until it is done or SIGINT/SIGTERM.
func phone(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return phoneContext(ctx, args, stdout, stderr)
}

func phoneContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, phoneUsage)
		return 2
	}
	switch args[0] {
	case "call":
		return phoneCall(ctx, args[1:], stdout, stderr)
	case "answer":
		return phoneAnswer(ctx, args[1:], stdout, stderr)
	case "message":
		return phoneMessage(ctx, args[1:], stdout, stderr)
	case "register":
		return phoneRegister(ctx, args[1:], stdout, stderr)
	case "help", "--help", "-h":
		fmt.Fprint(stdout, phoneUsage)
		return 0
	}
	fmt.Fprintf(stderr, "parley phone: unknown command %q\n\n%s", args[0], phoneUsage)
	return 2
}

// phoneFlags are the flags every phone command takes.
type phoneFlags struct {
	fs        *flag.FlagSet
	server    string
	user      string
	password  string
	domain    string
	transport string
	listen    string
	rtpPorts  string
	trace     bool
	logLevel  string
}

func newPhoneFlags(name string, stderr io.Writer) *phoneFlags {
	f := &phoneFlags{fs: flag.NewFlagSet("parley phone "+name, flag.ContinueOnError)}
	f.fs.SetOutput(stderr)
	f.fs.StringVar(&f.server, "server", "", "outbound proxy and registrar, HOST:PORT")
	f.fs.StringVar(&f.user, "user", "", "user name")
	f.fs.StringVar(&f.password, "password", "", "digest password (default $PARLEY_PASSWORD)")
	f.fs.StringVar(&f.domain, "domain", "", "domain of our address of record (default: for call and message the target's domain name, else the server host)")
	f.fs.StringVar(&f.transport, "transport", "udp", "signalling transport: udp or tcp")
	f.fs.StringVar(&f.listen, "listen", "", "local SIP address HOST:PORT (default: the interface toward the server, any port)")
	f.fs.StringVar(&f.rtpPorts, "rtp-ports", "", "RTP port range LO-HI (default: any free port)")
	f.fs.BoolVar(&f.trace, "trace", false, "log every SIP message sent and received to stderr")
	f.fs.StringVar(&f.logLevel, "log-level", "warn", "log level: debug, info, warn, error")
	return f
}

// parse parses flags that may come before, between and after the
// positional arguments ("call sip:bob@x --duration 5s" reads naturally).
func (f *phoneFlags) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := f.fs.Parse(args); err != nil {
			return nil, err
		}
		rest := f.fs.Args()
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if f.password == "" {
		f.password = os.Getenv("PARLEY_PASSWORD")
	}
	return pos, nil
}

// parseWant is parse for a command that takes exactly n positional
// arguments; on failure it returns false and the exit code, having printed
// usage to stderr.
func (f *phoneFlags) parseWant(args []string, n int, usage string, stderr io.Writer) ([]string, int, bool) {
	pos, err := f.parse(args)
	if err != nil {
		return nil, flagExit(err), false
	}
	if len(pos) != n {
		fmt.Fprintln(stderr, usage)
		return nil, 2, false
	}
	return pos, 0, true
}

// domainFromTarget makes the host of target the account's domain when
// --domain was not given and that host is a domain name: calling
// sip:bob@example.test through a server means being alice@example.test there
// (the registrar refuses an address of record outside its domain). A target
// without a host ("bob", a tel: URI) or with an IP address leaves the
// default, the server's host.
func (f *phoneFlags) domainFromTarget(target string) {
	if f.domain == "" {
		f.domain = targetDomain(target)
	}
}

// targetDomain returns the host of a call or message target in the forms
// the user agent accepts ("sip:bob@host", "sips:...", "<sip:...>", "Bob
// <sip:...>", "bob@host"), or "" when it has none or it is an IP address.
func targetDomain(target string) string {
	t := strings.TrimSpace(target)
	var uri sip.URI
	switch {
	case strings.HasPrefix(t, "<") || strings.Contains(t, "\""):
		a, err := sip.ParseAddress(t)
		if err != nil {
			return ""
		}
		uri = a.URI
	case strings.HasPrefix(t, "sip:") || strings.HasPrefix(t, "sips:"):
		u, err := sip.ParseURI(t)
		if err != nil {
			return ""
		}
		uri = u
	case !strings.HasPrefix(t, "tel:") && strings.Contains(t, "@"):
		u, err := sip.ParseURI("sip:" + t)
		if err != nil {
			return ""
		}
		uri = u
	default:
		return ""
	}
	if !uri.IsSIP() {
		return ""
	}
	if _, isIP := uri.Addr(); isIP {
		return ""
	}
	return uri.Host
}

// newUA builds the user agent the flags describe.
func (f *phoneFlags) newUA(stderr io.Writer, onMessage func(ua.Message)) (*ua.UA, error) {
	cfg := ua.Config{
		User: f.user, Password: f.password, Domain: f.domain,
		Server: f.server, Transport: f.transport, Listen: f.listen,
		OnMessage: onMessage,
		UserAgent: "Parley phone " + versionString(),
	}
	if cfg.User == "" {
		cfg.User = "parley"
	}
	if f.server != "" {
		if _, _, err := net.SplitHostPort(f.server); err != nil {
			return nil, fmt.Errorf("--server %q: want HOST:PORT", f.server)
		}
	}
	if f.rtpPorts != "" {
		lo, hi, ok := strings.Cut(f.rtpPorts, "-")
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if !ok || err1 != nil || err2 != nil || a < 1 || b > 65535 || a > b {
			return nil, fmt.Errorf("--rtp-ports %q: want LO-HI", f.rtpPorts)
		}
		cfg.MediaPortMin, cfg.MediaPortMax = a, b
	}
	level := parseLevel(f.logLevel)
	if f.trace {
		level = slog.LevelDebug
		cfg.Trace = true
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	return ua.New(cfg)
}

// register registers when we have what it takes: a server and a user.
func (f *phoneFlags) register(ctx context.Context, u *ua.UA, stdout io.Writer, required bool) error {
	if f.server == "" || f.user == "" || (f.password == "" && !required) {
		if required {
			return errors.New("register needs --server and --user")
		}
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	reg, err := u.Register(rctx)
	if err != nil {
		return fmt.Errorf("registration failed: %w", err)
	}
	aor := u.AOR()
	fmt.Fprintf(stdout, "registered %s at %s (expires %s)\n", aor.String(), f.server, reg.Expires)
	return nil
}

func closeUA(u *ua.UA) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = u.Close(ctx)
}

// callMedia are the WAV files of a call.
type callMedia struct {
	play *media.WAVReader
	rec  *media.WAVWriter
}

func openMedia(playPath, recPath string) (*callMedia, error) {
	m := &callMedia{}
	if playPath != "" {
		r, err := media.OpenWAV(playPath, 8000)
		if err != nil {
			return nil, fmt.Errorf("--play: %w", err)
		}
		m.play = r
	}
	if recPath != "" {
		w, err := media.CreateWAV(recPath, 8000)
		if err != nil {
			m.close()
			return nil, fmt.Errorf("--record: %w", err)
		}
		m.rec = w
	}
	return m, nil
}

func (m *callMedia) options(onEvent func(*ua.Call, ua.Event)) ua.CallOptions {
	o := ua.CallOptions{OnEvent: onEvent}
	if m.play != nil {
		o.Play = m.play
	}
	if m.rec != nil {
		o.Record = m.rec
	}
	return o
}

// close closes the files; the call's media session has stopped using them
// once the call is done.
func (m *callMedia) close() error {
	var err error
	if m.play != nil {
		m.play.Close()
	}
	if m.rec != nil {
		err = m.rec.Close()
	}
	return err
}

// printer writes progress lines from the UA's goroutines.
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *printer) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format+"\n", args...)
}

func (p *printer) onEvent(_ *ua.Call, ev ua.Event) {
	switch ev.Kind {
	case ua.EventTrying:
		p.printf("trying")
	case ua.EventRinging, ua.EventProgress:
		p.printf("%s (%s)", ev.Kind, sip.StatusText(ev.Status, ev.Reason))
	case ua.EventAnswered:
		p.printf("answered")
	case ua.EventDTMF:
		p.printf("DTMF received: %c", ev.Digit)
	case ua.EventHold, ua.EventResume, ua.EventRemoteHold, ua.EventRemoteResume:
		p.printf("%s", ev.Kind)
	}
}

func (p *printer) stats(c *ua.Call) {
	st := c.Stats()
	loss := 0.0
	if st.Expected > 0 {
		loss = 100 * float64(st.Lost) / float64(st.Expected)
	}
	p.printf("RTP: sent %d packets, received %d, lost %d (%.1f%%), jitter %.1f ms", st.PacketsSent, st.PacketsReceived, st.Lost, loss, st.JitterMs)
}

func (p *printer) ended(c *ua.Call) {
	e := c.End()
	switch {
	case e.Remote && e.Status == 0:
		p.printf("hung up by the far end")
	case e.Status == 0:
		p.printf("hung up (%s)", e.Reason)
	default:
		p.printf("call ended: %s", e.Reason)
	}
}

// cleanEnd reports whether the call ended by a BYE from either side.
func cleanEnd(c *ua.Call) bool {
	e := c.End()
	return e.Status == 0
}

// runCall holds an answered call for duration (0: until the far end hangs
// up), sending DTMF first, and hangs it up.
func runCall(ctx context.Context, c *ua.Call, duration time.Duration, dtmf string, p *printer) {
	if dtmf != "" {
		go func() {
			select {
			case <-time.After(500 * time.Millisecond):
			case <-c.Done():
				return
			}
			if err := c.SendDTMF(ctx, dtmf); err != nil {
				p.printf("DTMF not sent: %v", err)
			} else {
				p.printf("DTMF sent: %s", dtmf)
			}
		}()
	}
	var timeout <-chan time.Time
	if duration > 0 {
		t := time.NewTimer(duration)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-c.Done():
		return
	case <-timeout:
	case <-ctx.Done():
	}
	hctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Hangup(hctx); err != nil {
		p.printf("BYE: %v", err)
	}
}

func phoneCall(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := newPhoneFlags("call", stderr)
	cf := addCallFlags(f)
	ringTimeout := f.fs.Duration("ring-timeout", 2*time.Minute, "give up (CANCEL) when unanswered for this long")
	cs, code := startCallCommand(ctx, f, cf, args, 1, "usage: parley phone call TARGET [flags]", stdout, stderr, false)
	if cs == nil {
		return code
	}
	defer cs.close()
	p := cs.p
	p.printf("calling %s", cs.pos[0])
	dctx, cancel := context.WithTimeout(ctx, *ringTimeout)
	defer cancel()
	c, err := cs.u.Dial(dctx, cs.pos[0], cs.m.options(p.onEvent))
	if err != nil {
		var se *ua.StatusError
		if errors.As(err, &se) {
			p.printf("call failed: %d %s", se.Code, se.Reason)
		} else {
			p.printf("call failed: %v", err)
		}
		return 1
	}
	return finishCall(ctx, c, *cf.duration, *cf.dtmf, p)
}

func phoneAnswer(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := newPhoneFlags("answer", stderr)
	cf := addCallFlags(f)
	wait := f.fs.Duration("wait", 60*time.Second, "how long to wait for the call")
	cs, code := startCallCommand(ctx, f, cf, args, 0, "usage: parley phone answer [flags]", stdout, stderr, true)
	if cs == nil {
		return code
	}
	defer cs.close()
	p := cs.p
	contact := cs.u.Contact()
	p.printf("waiting for a call at %s (up to %s)", contact.String(), *wait)
	var c *ua.Call
	select {
	case c = <-cs.u.Incoming():
	case <-time.After(*wait):
		p.printf("no call within %s", *wait)
		return 1
	case <-ctx.Done():
		return 1
	}
	from := c.Remote()
	p.printf("incoming call from %s", from.URI.String())
	if err := c.Answer(cs.m.options(p.onEvent)); err != nil {
		p.printf("answer failed: %v", err)
		return 1
	}
	return finishCall(ctx, c, *cf.duration, *cf.dtmf, p)
}

// callCommand is what call and answer share once started: their positional
// arguments, the media files, the registered user agent and the printer.
type callCommand struct {
	pos []string
	m   *callMedia
	u   *ua.UA
	p   *printer
}

func (cs *callCommand) close() {
	closeUA(cs.u)
	cs.m.close()
}

// startCallCommand parses the flags (wanting nPos positional arguments),
// opens the media files, starts the user agent — printing the MESSAGEs it
// receives when printMessages — and registers it. On failure it returns nil
// and the exit code, having said why.
func startCallCommand(ctx context.Context, f *phoneFlags, cf callFlags, args []string, nPos int, usage string, stdout, stderr io.Writer, printMessages bool) (*callCommand, int) {
	pos, code, ok := f.parseWant(args, nPos, usage, stderr)
	if !ok {
		return nil, code
	}
	if nPos > 0 {
		f.domainFromTarget(pos[0]) // call TARGET
	}
	m, err := openMedia(*cf.play, *cf.record)
	if err != nil {
		fmt.Fprintln(stderr, "parley phone:", err)
		return nil, 2
	}
	p := &printer{w: stdout}
	var onMessage func(ua.Message)
	if printMessages {
		onMessage = func(msg ua.Message) { p.printf("message from %s: %s", msg.From.URI.String(), msg.Body) }
	}
	u, err := f.newUA(stderr, onMessage)
	if err != nil {
		m.close()
		fmt.Fprintln(stderr, "parley phone:", err)
		return nil, 2
	}
	cs := &callCommand{pos: pos, m: m, u: u, p: p}
	if err := f.register(ctx, u, stdout, false); err != nil {
		p.printf("%v", err)
		cs.close()
		return nil, 1
	}
	return cs, 0
}

func phoneMessage(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := newPhoneFlags("message", stderr)
	ctype := f.fs.String("content-type", "text/plain;charset=UTF-8", "Content-Type of the message")
	pos, code, ok := f.parseWant(args, 2, "usage: parley phone message TARGET TEXT [flags]", stderr)
	if !ok {
		return code
	}
	f.domainFromTarget(pos[0])
	u, err := f.newUA(stderr, nil)
	if err != nil {
		fmt.Fprintln(stderr, "parley phone:", err)
		return 2
	}
	defer closeUA(u)
	mctx, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	resp, err := u.SendMessage(mctx, pos[0], *ctype, []byte(pos[1]))
	if err != nil {
		var se *ua.StatusError
		if errors.As(err, &se) {
			fmt.Fprintf(stdout, "message failed: %d %s\n", se.Code, se.Reason)
		} else {
			fmt.Fprintf(stdout, "message failed: %v\n", err)
		}
		return 1
	}
	fmt.Fprintf(stdout, "message delivered: %d %s\n", resp.StatusCode, resp.Reason)
	return 0
}

func phoneRegister(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := newPhoneFlags("register", stderr)
	expires := f.fs.Duration("expires", time.Hour, "registration lifetime to ask for")
	if _, code, ok := f.parseWant(args, 0, "usage: parley phone register [flags]", stderr); !ok {
		return code
	}
	if f.server == "" || f.user == "" {
		fmt.Fprintln(stderr, "parley phone register: --server and --user are required")
		return 2
	}
	u, err := f.newUA(stderr, nil)
	if err != nil {
		fmt.Fprintln(stderr, "parley phone:", err)
		return 2
	}
	// Close does not remove a binding made by RegisterOnce: "register"
	// leaves it for a phone that is not running (--expires 0 removes it).
	defer closeUA(u)
	rctx, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	reg, err := u.RegisterOnce(rctx, *expires)
	if err != nil {
		fmt.Fprintf(stdout, "registration failed: %v\n", err)
		return 1
	}
	aor := u.AOR()
	if *expires == 0 {
		fmt.Fprintf(stdout, "unregistered %s\n", aor.String())
	} else {
		fmt.Fprintf(stdout, "registered %s (expires %s)\n", aor.String(), reg.Expires)
	}
	for _, b := range reg.Bindings {
		fmt.Fprintf(stdout, "binding: %s\n", b.String())
	}
	return 0
}

func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

// callFlags are the media flags call and answer share.
type callFlags struct {
	play, record, dtmf *string
	duration           *time.Duration
}

func addCallFlags(f *phoneFlags) callFlags {
	return callFlags{
		play:     f.fs.String("play", "", "WAV file to send as the microphone (8 or 16 kHz mono 16-bit PCM)"),
		record:   f.fs.String("record", "", "WAV file to record what we hear (8 kHz mono 16-bit)"),
		duration: f.fs.Duration("duration", 0, "hang up after this long once answered (0: when the far end does)"),
		dtmf:     f.fs.String("dtmf", "", "DTMF digits to send (RFC 4733) once answered, e.g. 123#"),
	}
}

// finishCall runs an answered call to its end (duration, DTMF), prints how
// it ended and its RTP statistics, and returns the exit code: 0 for a call
// that ended cleanly.
func finishCall(ctx context.Context, c *ua.Call, duration time.Duration, dtmf string, p *printer) int {
	runCall(ctx, c, duration, dtmf, p)
	<-c.Done()
	p.ended(c)
	p.stats(c)
	if !cleanEnd(c) {
		return 1
	}
	return 0
}
