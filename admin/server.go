package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/guard"
	"github.com/parley-sip/parley/pbx/cdr"
	"github.com/parley-sip/parley/server"
	"github.com/parley-sip/parley/transport"
)

//go:embed web
var webFS embed.FS

// Options are what New needs besides the SIP server.
type Options struct {
	// Logger receives one line per request ("admin request") and the
	// server's own events (default: discard).
	Logger *slog.Logger
	// Version is reported by /api/status.
	Version string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Server is the admin HTTP server of one SIP server.
type Server struct {
	cfg     config.Admin
	srv     *server.Server
	log     *slog.Logger
	version string
	now     func() time.Time
	started time.Time

	token     []byte                  // the Bearer token, or nil
	basic     map[string]passwordHash // admin users
	lockout   *guard.Guard            // wrong credentials per source
	basicOK   sync.Map                // sha256(user NUL password) → time verified; spares PBKDF2 on each request
	users     *userStore
	capture   *Capture     // nil when capture is off
	hep       *HEPExporter // nil without capture.hep
	events    *eventHub
	counter   *messageCounter
	cdrs      *cdrReader
	metrics   *metricDescs
	handler   http.Handler
	http      *http.Server
	ln        net.Listener
	serveDone chan struct{}
}

// maxBody bounds a request body of the API.
const maxBody = 64 << 10

// basicCacheTTL is how long a verified basic-auth password is remembered
// (as a hash), so that a console polling every second does not run
// PBKDF2's 600,000 iterations each time.
const basicCacheTTL = 10 * time.Minute

// New builds the admin server for srv from srv's config (sections admin
// and capture) and installs the capture on srv's transport. Call it
// before srv.Start so that no message is missed. Nothing listens until
// Start.
func New(srv *server.Server, opts Options) (*Server, error) {
	cfg := srv.Config()
	a := &Server{cfg: cfg.Admin, srv: srv, log: opts.Logger, version: opts.Version, now: opts.Now, basic: map[string]passwordHash{}}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.version == "" {
		a.version = "devel"
	}
	a.started = a.now()
	if cfg.Admin.Listen == "" {
		return nil, errors.New("admin: listen is not set")
	}
	host, _, err := net.SplitHostPort(cfg.Admin.Listen)
	if err != nil {
		return nil, fmt.Errorf("admin.listen: %w", err)
	}
	if cfg.Admin.Token == "" && len(cfg.Admin.Users) == 0 && !loopbackHost(host) {
		return nil, fmt.Errorf("admin: refusing to listen on %s (not loopback) without admin.token or admin.users", cfg.Admin.Listen)
	}
	if cfg.Admin.Token != "" {
		a.token = []byte(cfg.Admin.Token)
	}
	for _, u := range cfg.Admin.Users {
		h, err := parsePasswordHash(u.PasswordHash)
		if err != nil {
			return nil, fmt.Errorf("admin.users %s: password_hash: %w", u.Name, err)
		}
		a.basic[u.Name] = h
	}
	a.lockout, err = guard.New(guard.Config{
		MaxRequests: -1, AuthFailures: 5, AuthWindow: time.Minute, AuthBanTime: time.Minute,
		AuthBanTimeMax: time.Hour, ScannerUserAgents: []string{}, MaxSources: 4096, Logger: a.log,
	})
	if err != nil {
		return nil, err
	}
	if a.users, err = openUserStore(cfg.Data, cfg.Domain, cfg.Users, srv.SetUsers); err != nil {
		return nil, err
	}
	a.events = newEventHub(a)
	a.cdrs = &cdrReader{path: cdr.Path(cfg.Data)}
	a.counter = &messageCounter{}
	taps := []transport.Tap{a.counter}
	if !cfg.Capture.Off {
		a.capture = NewCapture(cfg.Capture.Calls, cfg.Capture.Bytes)
		a.capture.onNew = a.events.poke
		taps = append(taps, a.capture)
	}
	if cfg.Capture.HEP != "" {
		if a.hep, err = NewHEPExporter(cfg.Capture.HEP, uint32(cfg.Capture.HEPID), a.log); err != nil {
			return nil, fmt.Errorf("capture.hep: %w", err)
		}
		taps = append(taps, a.hep)
	}
	if len(taps) == 1 {
		srv.Transport().SetTap(taps[0])
	} else {
		srv.Transport().SetTap(tee(taps))
	}
	a.handler = a.routes()
	return a, nil
}

// tee hands each message to several taps.
type tee []transport.Tap

func (t tee) Tap(dir transport.Direction, tp string, local, remote netip.AddrPort, raw []byte) {
	for _, x := range t {
		x.Tap(dir, tp, local, remote, raw)
	}
}

func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// Capture returns the capture ring (nil when capture is off).
func (a *Server) Capture() *Capture { return a.capture }

// Handler returns the HTTP handler (authentication and logging included),
// for tests and for embedding.
func (a *Server) Handler() http.Handler { return a.handler }

// Start listens on admin.listen (over TLS when tls_cert and tls_key are
// set) and serves in the background.
func (a *Server) Start() error {
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	if a.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(a.cfg.TLSCert, a.cfg.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("admin tls: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	a.ln = ln
	a.http = &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
	a.serveDone = make(chan struct{})
	go func() {
		defer close(a.serveDone)
		if err := a.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("admin: serve", "err", err)
		}
	}()
	a.events.start()
	a.log.Info("admin listening", "addr", ln.Addr().String(), "tls", a.cfg.TLSCert != "")
	return nil
}

// Addr returns the bound address (useful with port 0).
func (a *Server) Addr() net.Addr {
	if a.ln == nil {
		return nil
	}
	return a.ln.Addr()
}

// Shutdown stops listening, ends event streams and waits for requests in
// progress until ctx ends; it removes the capture from the transport.
func (a *Server) Shutdown(ctx context.Context) error {
	a.srv.Transport().SetTap(nil)
	a.events.stop()
	var err error
	if a.http != nil {
		err = a.http.Shutdown(ctx)
		<-a.serveDone
	}
	if a.hep != nil {
		err = errors.Join(err, a.hep.Close())
	}
	return errors.Join(err, a.cdrs.Close())
}

// apiError is the body of every 4xx/5xx answer of the API.
type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, apiError{Error: fmt.Sprintf(format, args...)})
}

// statusRecorder remembers the status and size of an answer for the log.
type statusRecorder struct {
	http.ResponseWriter
	code  int
	bytes int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

// Flush lets server-sent events through.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

type ctxKey struct{}

// principal returns who a request was authenticated as.
func principal(r *http.Request) string {
	if p, _ := r.Context().Value(ctxKey{}).(*string); p != nil {
		return *p
	}
	return ""
}

// logged wraps h: one log line per request with stable keys.
func (a *Server) logged(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		var who string
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, &who))
		h.ServeHTTP(rec, r)
		if rec.code == 0 {
			rec.code = http.StatusOK
		}
		level := slog.LevelInfo
		if rec.code >= 400 {
			level = slog.LevelWarn
		}
		a.log.Log(r.Context(), level, "admin request", "method", r.Method, "path", r.URL.Path, "status", rec.code,
			"bytes", rec.bytes, "source", r.RemoteAddr, "principal", who, "duration", time.Since(start).Round(time.Microsecond).String())
	})
}

// authenticated wraps h: a Bearer token or basic credentials, else 401;
// a source with too many wrong answers gets 429 for a while.
func (a *Server) authenticated(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		src := remoteAddr(r)
		if a.lockout.AuthLocked(src) {
			w.Header().Set("Retry-After", "60")
			writeError(w, http.StatusTooManyRequests, "too many failed logins from %s; try again later", src)
			return
		}
		who, ok, present := a.check(r)
		if !ok {
			if present {
				a.lockout.AuthFailed(src, "")
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="parley", Basic realm="parley", charset="UTF-8"`)
			if present {
				writeError(w, http.StatusUnauthorized, "wrong credentials")
			} else {
				writeError(w, http.StatusUnauthorized, "authentication required: Authorization: Bearer TOKEN or Basic")
			}
			return
		}
		if p, _ := r.Context().Value(ctxKey{}).(*string); p != nil {
			*p = who
		}
		h.ServeHTTP(w, r)
	})
}

// check verifies the Authorization header; present says whether one was
// given (a missing header is no failed guess).
func (a *Server) check(r *http.Request) (who string, ok, present bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false, false
	}
	scheme, cred, _ := strings.Cut(h, " ")
	switch strings.ToLower(scheme) {
	case "bearer":
		if a.token != nil && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(cred)), a.token) == 1 {
			return "token", true, true
		}
	case "basic":
		user, pass, okb := r.BasicAuth()
		if !okb {
			return "", false, true
		}
		ph, known := a.basic[user]
		if !known {
			return "", false, true
		}
		key := sha256.Sum256([]byte(user + "\x00" + pass))
		if t, hit := a.basicOK.Load(key); hit && a.now().Sub(t.(time.Time)) < basicCacheTTL {
			return user, true, true
		}
		if ph.verify(pass) {
			a.basicOK.Store(key, a.now())
			return user, true, true
		}
	}
	return "", false, true
}

func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// routes builds the handler: the API and /metrics behind authentication;
// the console's static files (which hold no data) without, so that its
// login page can load.
func (a *Server) routes() http.Handler {
	api := http.NewServeMux()
	for _, rt := range a.apiRoutes() {
		api.HandleFunc(rt.pattern, rt.handler)
	}
	api.Handle("GET /metrics", a.metricsHandler())
	api.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API route: %s %s", r.Method, r.URL.Path)
	})
	static, _ := fs.Sub(webFS, "web")
	files := http.FileServerFS(static)
	root := http.NewServeMux()
	root.Handle("/api/", a.authenticated(api))
	root.Handle("/metrics", a.authenticated(api))
	root.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeError(w, http.StatusMethodNotAllowed, "method %s not allowed", r.Method)
			return
		}
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	}))
	return a.logged(root)
}
