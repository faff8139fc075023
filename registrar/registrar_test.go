package registrar

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/sip"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var origin = sip.Origin{
	Source:    netip.MustParseAddrPort("203.0.113.5:40000"),
	Local:     netip.MustParseAddrPort("192.0.2.1:5060"),
	Transport: "UDP",
}

// reg builds a REGISTER for alice from raw text, with extra header lines.
func reg(t testing.TB, callID string, cseq int, extra ...string) *sip.Request {
	t.Helper()
	return regTo(t, "sip:example.com", "sip:alice@example.com", callID, cseq, extra...)
}

func regTo(t testing.TB, ruri, to, callID string, cseq int, extra ...string) *sip.Request {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "REGISTER %s SIP/2.0\r\n", ruri)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK-%s-%d;rport\r\n", callID, cseq)
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "To: <%s>\r\n", to)
	fmt.Fprintf(&b, "From: <%s>;tag=f%d\r\n", to, cseq)
	fmt.Fprintf(&b, "Call-ID: %s\r\n", callID)
	fmt.Fprintf(&b, "CSeq: %d REGISTER\r\n", cseq)
	b.WriteString("User-Agent: TestPhone/2.1\r\n")
	for _, l := range extra {
		b.WriteString(l + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	m, err := sip.Parse([]byte(b.String()))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, b.String())
	}
	req := m.(*sip.Request)
	req.Origin = origin
	return req
}

type env struct {
	r     *Registrar
	store location.Store
	clk   *fakeClock
}

func newEnv(t testing.TB, tweak ...func(*Config)) *env {
	clk := &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	store := location.NewMemoryStore(location.Options{Clock: clk.Now, SweepInterval: -1})
	t.Cleanup(func() { store.Close() })
	cfg := Config{Domains: []string{"example.com"}, Store: store, Clock: clk.Now}
	for _, f := range tweak {
		f(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{r, store, clk}
}

func headerValues(resp *sip.Response, name string) []string {
	out := []string{}
	for v := range resp.Values(name) {
		out = append(out, v)
	}
	return out
}

// step is one request and what its response must hold.
type step struct {
	req      func(t testing.TB) *sip.Request
	advance  time.Duration // before the request
	status   int
	contacts []string // Contact values of the response, in order; nil: not checked
	header   string   // "Name: value" the response must carry
	reason   string   // the reason phrase, when checked
}

func r(callID string, cseq int, extra ...string) func(testing.TB) *sip.Request {
	return func(t testing.TB) *sip.Request { return reg(t, callID, cseq, extra...) }
}

const (
	desk   = "Contact: <sip:alice@192.168.1.10:5060>"
	mobile = "Contact: <sip:alice@10.0.0.7:5062;transport=tcp>"
	soft   = "Contact: \"Soft\" <sip:alice@172.16.0.3:5080>"
)

func TestRegister(t *testing.T) {
	cases := []struct {
		name  string
		tweak func(*Config)
		steps []step
	}{
		{"add", nil, []step{
			{req: r("c1", 1, desk), status: 200, contacts: []string{"<sip:alice@192.168.1.10:5060>;expires=3600"}},
		}},
		{"refresh with new expiry", nil, []step{
			{req: r("c1", 1, desk), status: 200},
			{req: r("c1", 2, desk, "Expires: 600"), advance: 10 * time.Second, status: 200,
				contacts: []string{"<sip:alice@192.168.1.10:5060>;expires=600"}},
		}},
		{"refresh by equal URI (§19.1.4)", nil, []step{
			{req: r("c1", 1, "Contact: <sip:alice@PHONE.example.net;transport=UDP>"), status: 200},
			{req: r("c1", 2, "Contact: <sip:alice@phone.example.net;transport=udp>"), status: 200,
				contacts: []string{"<sip:alice@phone.example.net;transport=udp>;expires=3600"}},
		}},
		{"three devices", nil, []step{
			{req: r("c-desk", 1, desk), status: 200},
			{req: r("c-mobile", 1, mobile), advance: time.Second, status: 200},
			{req: r("c-soft", 1, soft), advance: time.Second, status: 200, contacts: []string{
				"<sip:alice@172.16.0.3:5080>;expires=3600",
				"<sip:alice@10.0.0.7:5062;transport=tcp>;expires=3599",
				"<sip:alice@192.168.1.10:5060>;expires=3598",
			}},
		}},
		{"q-values order", nil, []step{
			{req: r("c1", 1, desk+";q=0.1", mobile+";q=1.0", soft+";q=0.5"), status: 200, contacts: []string{
				"<sip:alice@10.0.0.7:5062;transport=tcp>;q=1.0;expires=3600",
				"<sip:alice@172.16.0.3:5080>;q=0.5;expires=3600",
				"<sip:alice@192.168.1.10:5060>;q=0.1;expires=3600",
			}},
		}},
		{"bad q", nil, []step{{req: r("c1", 1, desk+";q=1.5"), status: 400}}},
		{"per-contact expires overrides header", nil, []step{
			{req: r("c1", 1, "Expires: 1800", desk+";expires=120", mobile), status: 200, contacts: []string{
				"<sip:alice@10.0.0.7:5062;transport=tcp>;expires=1800", // equal q and time: by contact
				"<sip:alice@192.168.1.10:5060>;expires=120",
			}},
		}},
		{"423 Interval Too Brief", nil, []step{
			{req: r("c1", 1, desk+";expires=30"), status: 423, header: "Min-Expires: 60"},
			{req: r("c1", 2, "Expires: 59", desk), status: 423, header: "Min-Expires: 60"},
			{req: r("c1", 3, "Expires: 60", desk), status: 200, contacts: []string{"<sip:alice@192.168.1.10:5060>;expires=60"}},
		}},
		{"423 uses configured minimum", func(c *Config) { c.MinExpires = 300 }, []step{
			{req: r("c1", 1, desk+";expires=120"), status: 423, header: "Min-Expires: 300"},
		}},
		{"clamped to MaxExpires", nil, []step{
			{req: r("c1", 1, "Expires: 86400", desk), status: 200, contacts: []string{"<sip:alice@192.168.1.10:5060>;expires=3600"}},
			{req: r("c1", 2, desk+";expires=99999999999999"), status: 200, contacts: []string{"<sip:alice@192.168.1.10:5060>;expires=3600"}},
		}},
		{"bad expires", nil, []step{
			{req: r("c1", 1, desk+";expires=soon"), status: 400},
			// The parser already refuses a bad Expires; a request built in code can still carry one.
			{req: func(t testing.TB) *sip.Request {
				req := reg(t, "c1", 2, desk)
				req.Set("Expires", "soon")
				return req
			}, status: 400},
		}},
		{"remove one contact", nil, []step{
			{req: r("c1", 1, desk, mobile), status: 200},
			{req: r("c1", 2, desk+";expires=0"), status: 200, contacts: []string{"<sip:alice@10.0.0.7:5062;transport=tcp>;expires=3600"}},
			{req: r("c1", 3, "Expires: 0", mobile), status: 200, contacts: []string{}},
		}},
		{"wildcard removal", nil, []step{
			{req: r("c1", 1, desk), status: 200},
			{req: r("c2", 1, mobile), status: 200},
			{req: r("c3", 1, "Contact: *", "Expires: 0"), status: 200, contacts: []string{}},
		}},
		{"wildcard without Expires: 0", nil, []step{
			{req: r("c1", 1, desk), status: 200},
			{req: r("c1", 2, "Contact: *"), status: 400},
			{req: r("c1", 3, "Contact: *", "Expires: 60"), status: 400},
			{req: r("c1", 4, "Contact: *;expires=0"), status: 400},
			{req: r("c1", 5), status: 200, contacts: []string{"<sip:alice@192.168.1.10:5060>;expires=3600"}},
		}},
		{"wildcard with another contact", nil, []step{
			{req: r("c1", 1, "Contact: *, <sip:alice@192.0.2.9>", "Expires: 0"), status: 400},
			{req: r("c1", 2, "Contact: *", desk, "Expires: 0"), status: 400},
		}},
		{"wildcard with stale CSeq", nil, []step{
			{req: r("c1", 5, desk), status: 200},
			{req: r("c1", 5, "Contact: *", "Expires: 0"), status: 500},
			{req: r("c1", 6), status: 200, contacts: []string{"<sip:alice@192.168.1.10:5060>;expires=3600"}},
		}},
		{"query", nil, []step{
			{req: r("c1", 1, desk), status: 200},
			{req: r("q1", 1), advance: 100 * time.Second, status: 200, contacts: []string{"<sip:alice@192.168.1.10:5060>;expires=3500"}},
		}},
		{"query with no bindings", nil, []step{
			{req: r("q1", 1), status: 200, contacts: []string{}},
		}},
		{"stale CSeq rejected, new Call-ID accepted", nil, []step{
			{req: r("c1", 10, desk+";expires=600"), status: 200},
			{req: r("c1", 10, desk), status: 500},
			{req: r("c1", 9, desk+";expires=0"), status: 500},
			{req: r("q", 1), status: 200, contacts: []string{"<sip:alice@192.168.1.10:5060>;expires=600"}},
			{req: r("c2", 1, desk), status: 200, contacts: []string{"<sip:alice@192.168.1.10:5060>;expires=3600"}},
		}},
		{"stale CSeq aborts the whole request", nil, []step{
			{req: r("c1", 10, desk), status: 200},
			{req: r("c1", 3, mobile, desk), status: 500},
			{req: r("q", 1), status: 200, contacts: []string{"<sip:alice@192.168.1.10:5060>;expires=3600"}},
		}},
		{"expiry on the clock", nil, []step{
			{req: r("c1", 1, desk+";expires=60", mobile), status: 200},
			{req: r("q", 1), advance: 61 * time.Second, status: 200, contacts: []string{"<sip:alice@10.0.0.7:5062;transport=tcp>;expires=3539"}},
		}},
		{"instance and reg-id key the binding", nil, []step{
			{req: r("c1", 1, `Contact: <sip:alice@192.168.1.10:5060;ob>;+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>";reg-id=1`), status: 200},
			// the phone comes back over a new flow (new port, new Call-ID)
			{req: r("c2", 1, `Contact: <sip:alice@192.168.1.10:6000;ob>;+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>";reg-id=1`), status: 200,
				contacts: []string{`<sip:alice@192.168.1.10:6000;ob>;+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>";reg-id=1;expires=3600`}},
		}},
		{"bad reg-id", nil, []step{
			{req: r("c1", 1, `Contact: <sip:alice@192.168.1.10>;+sip.instance="<urn:uuid:1>";reg-id=0`), status: 400},
		}},
		{"not our domain", nil, []step{
			{req: func(t testing.TB) *sip.Request {
				return regTo(t, "sip:other.org", "sip:alice@other.org", "c1", 1, desk)
			}, status: 404},
			{req: func(t testing.TB) *sip.Request {
				return regTo(t, "sip:example.com", "sip:alice@other.org", "c1", 2, desk)
			}, status: 404},
			{req: func(t testing.TB) *sip.Request {
				return regTo(t, "sip:EXAMPLE.COM", "sip:alice@Example.Com:5060", "c1", 3, desk)
			}, status: 200},
		}},
		{"To not a SIP URI", nil, []step{
			{req: func(t testing.TB) *sip.Request {
				return regTo(t, "sip:example.com", "tel:+1234", "c1", 1, desk)
			}, status: 400, reason: "Bad To: not a SIP or SIPS URI"},
			{req: func(t testing.TB) *sip.Request {
				return regTo(t, "sip:example.com", "http://example.com/alice", "c1", 2, desk)
			}, status: 400, reason: "Bad To: not a SIP or SIPS URI"},
			{req: func(t testing.TB) *sip.Request {
				return regTo(t, "sip:example.com", "sips:alice@example.com", "c1", 3, desk)
			}, status: 200},
		}},
		{"unknown user", func(c *Config) { c.UserExists = func(u string) bool { return u == "bob" } }, []step{
			{req: r("c1", 1, desk), status: 404},
			{req: func(t testing.TB) *sip.Request {
				return regTo(t, "sip:example.com", "sip:bob@example.com", "c1", 2, desk)
			}, status: 200},
		}},
		{"unsupported Require", nil, []step{
			{req: r("c1", 1, desk, "Require: path, foo"), status: 420, header: "Unsupported: foo"},
			{req: r("c1", 2, desk, "Require: outbound"), status: 420, header: "Unsupported: outbound"},
		}},
		{"bad contact", nil, []step{
			{req: r("c1", 1, "Contact: <sip:alice@>"), status: 400},
		}},
		{"Path echoed with Supported: path", nil, []step{
			{req: r("c1", 1, desk, "Path: <sip:edge1.example.com;lr>", "Path: <sip:edge2.example.com;lr>", "Supported: path, outbound"),
				status: 200, header: "Path: <sip:edge1.example.com;lr>"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var e *env
			if tc.tweak != nil {
				e = newEnv(t, tc.tweak)
			} else {
				e = newEnv(t)
			}
			for i, st := range tc.steps {
				e.clk.Advance(st.advance)
				req := st.req(t)
				resp := e.r.Register(context.Background(), req)
				if resp.StatusCode != st.status {
					t.Fatalf("step %d: %d %s, want %d\n%s", i, resp.StatusCode, resp.Reason, st.status, resp)
				}
				if resp.ToTag() == "" {
					t.Fatalf("step %d: no To tag", i)
				}
				if st.reason != "" && resp.Reason != st.reason {
					t.Fatalf("step %d: reason %q, want %q", i, resp.Reason, st.reason)
				}
				if st.contacts != nil {
					if got := headerValues(resp, "Contact"); !slices.Equal(got, st.contacts) {
						t.Fatalf("step %d: contacts\n got %q\nwant %q", i, got, st.contacts)
					}
				}
				if st.header != "" {
					name, value, _ := strings.Cut(st.header, ": ")
					if got := headerValues(resp, name); !slices.Contains(got, value) {
						t.Fatalf("step %d: %s = %q, want %q\n%s", i, name, got, value, resp)
					}
				}
				if resp.StatusCode == 200 {
					if d, ok := resp.Get("Date"); !ok || d != e.clk.Now().Format(dateFormat) {
						t.Fatalf("step %d: Date %q", i, d)
					}
				}
			}
		})
	}
}

// TestBindingDetails checks what the registrar records beyond the contact:
// the NAT source, listener and transport, Path, instance, reg-id, Call-ID,
// CSeq and User-Agent.
func TestBindingDetails(t *testing.T) {
	e := newEnv(t)
	req := reg(t, "call-77", 42,
		`Contact: <sip:alice@192.168.1.10:5060;ob>;q=0.7;+sip.instance="<urn:uuid:1234>";reg-id=2`,
		"Path: <sip:edge.example.com;lr;ob>")
	req.Origin = sip.Origin{
		Source:    netip.MustParseAddrPort("198.51.100.20:61000"),
		Local:     netip.MustParseAddrPort("[2001:db8::1]:5061"),
		Transport: "TLS",
	}
	resp := e.r.Register(context.Background(), req)
	if resp.StatusCode != 200 {
		t.Fatal(resp)
	}
	// No Supported: path in the request: stored, not echoed.
	if got := headerValues(resp, "Path"); len(got) != 0 {
		t.Fatalf("Path echoed without Supported: path: %q", got)
	}
	bs, err := e.store.Lookup(context.Background(), "sip:alice@example.com")
	if err != nil || len(bs) != 1 {
		t.Fatal(bs, err)
	}
	b := bs[0]
	want := location.Binding{
		AOR: "sip:alice@example.com", Contact: "sip:alice@192.168.1.10:5060;ob",
		Params: `;q=0.7;+sip.instance="<urn:uuid:1234>";reg-id=2`, Q: 700,
		CallID: "call-77", CSeq: 42, Path: []string{"<sip:edge.example.com;lr;ob>"},
		Source: req.Origin.Source, Local: req.Origin.Local, Transport: "TLS",
		InstanceID: "<urn:uuid:1234>", RegID: 2, UserAgent: "TestPhone/2.1",
	}
	if b.AOR != want.AOR || b.Contact != want.Contact || b.Params != want.Params || b.Q != want.Q ||
		b.CallID != want.CallID || b.CSeq != want.CSeq || !slices.Equal(b.Path, want.Path) ||
		b.Source != want.Source || b.Local != want.Local || b.Transport != want.Transport ||
		b.InstanceID != want.InstanceID || b.RegID != want.RegID || b.UserAgent != want.UserAgent {
		t.Fatalf("binding\n got %+v\nwant %+v", b, want)
	}
	if !b.Expires.Equal(e.clk.Now().Add(time.Hour)) || !b.Updated.Equal(e.clk.Now()) {
		t.Fatalf("times %v %v", b.Expires, b.Updated)
	}
}

func TestNew(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("no store accepted")
	}
	store := location.NewMemoryStore(location.Options{SweepInterval: -1})
	defer store.Close()
	if _, err := New(Config{Store: store, MinExpires: 600, MaxExpires: 60}); err == nil {
		t.Fatal("Min > Max accepted")
	}
	r, err := New(Config{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	if r.cfg.MinExpires != 60 || r.cfg.MaxExpires != 3600 || r.cfg.DefaultExpires != 3600 {
		t.Fatalf("defaults %+v", r.cfg)
	}
}

func TestNotRegister(t *testing.T) {
	e := newEnv(t)
	req := reg(t, "c1", 1)
	req.Method = sip.OPTIONS
	if resp := e.r.Register(context.Background(), req); resp.StatusCode != 405 {
		t.Fatal(resp.StatusCode)
	}
}

func TestFileStoreBackend(t *testing.T) {
	clk := &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	fs, err := location.OpenFile(dir, location.FileOptions{Options: location.Options{Clock: clk.Now}})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := New(Config{Domains: []string{"example.com"}, Store: fs, Clock: clk.Now})
	if resp := r.Register(context.Background(), reg(t, "c1", 1, desk, mobile)); resp.StatusCode != 200 {
		t.Fatal(resp)
	}
	fs.Close()
	fs, err = location.OpenFile(dir, location.FileOptions{Options: location.Options{Clock: clk.Now}})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	r, _ = New(Config{Domains: []string{"example.com"}, Store: fs, Clock: clk.Now})
	resp := r.Register(context.Background(), reg(t, "q", 1))
	if got := headerValues(resp, "Contact"); len(got) != 2 {
		t.Fatalf("after restart: %q", got)
	}
}

func TestConcurrentRegister(t *testing.T) {
	e := newEnv(t)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 100 {
				c := fmt.Sprintf("Contact: <sip:alice@192.0.2.%d>", w+1)
				resp := e.r.Register(context.Background(), reg(t, fmt.Sprintf("w%d", w), i+1, c))
				if resp.StatusCode != 200 {
					t.Errorf("worker %d: %d %s", w, resp.StatusCode, resp.Reason)
					return
				}
			}
		})
	}
	wg.Wait()
	if n, _ := e.store.Count(context.Background()); n != 8 {
		t.Fatalf("%d bindings, want 8", n)
	}
}

func BenchmarkRegister(b *testing.B) {
	e := newEnv(b)
	reqs := make([]*sip.Request, 1000)
	for i := range reqs {
		reqs[i] = regTo(b, "sip:example.com", fmt.Sprintf("sip:user%d@example.com", i), fmt.Sprintf("call-%d", i), 1,
			fmt.Sprintf(`Contact: <sip:user%d@192.168.1.%d:5060;ob>;+sip.instance="<urn:uuid:%036d>";reg-id=1`, i, i%250, i),
			"Expires: 600")
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		req := reqs[i%len(reqs)]
		// a refresh: the same registration with the next CSeq
		req.Set("CSeq", fmt.Sprintf("%d REGISTER", i/len(reqs)+1))
		if resp := e.r.Register(ctx, req); resp.StatusCode != 200 {
			b.Fatal(resp)
		}
	}
}
