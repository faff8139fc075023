// Package config reads Parley's configuration file: strict YAML decoding
// (an unknown key or a bad value is an error naming its line), defaults for
// everything left out, and Validate before anything starts. Every timeout
// and limit the server uses is a documented field here; there are no
// package-level knobs elsewhere.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/parley-sip/parley/guard"
	"github.com/parley-sip/parley/internal/confyaml"
	"github.com/parley-sip/parley/pbx/dialplan"
	"github.com/parley-sip/parley/transport"
)

// Config is the whole file. YAML keys are the snake_case names in the tags.
type Config struct {
	// Domain is the SIP domain this server is responsible for: users
	// register as sip:USER@DOMAIN, and it is the digest realm. Requests
	// addressed to the server's own listen addresses count as ours too.
	Domain string `yaml:"domain"`
	// Auth is "digest" (REGISTER and INVITE/MESSAGE from our users are
	// challenged, RFC 3261 §22) or "none" (anyone may register and call:
	// a lab and benchmark mode, logged as a warning at start).
	Auth string `yaml:"auth"`
	// DigestAlgorithms are the digest algorithms challenged with, one
	// WWW-Authenticate/Proxy-Authenticate each, the preferred first (RFC
	// 8760 §2.4): "SHA-256", "MD5". Default [MD5], because that is what
	// the phones people have answer: Debian's baresip 1.0 gives up when any
	// SHA-256 challenge is present, SIPp 3.6.1 answers only the first
	// challenge and only MD5, SIPVicious answers only MD5. Offering
	// [SHA-256, MD5] protects nothing against an attacker on the path (he
	// removes the SHA-256 challenge and the phone answers MD5); what
	// SHA-256 buys is only a slower brute force of a captured answer. The
	// choice that does protect is [SHA-256] alone, for sites whose phones
	// all answer SHA-256 (Parley's own phone does), with TLS for the rest.
	// Empty means the default.
	DigestAlgorithms []string `yaml:"digest_algorithms"`
	// Users are the accounts of the domain.
	Users []User `yaml:"users"`
	// Data is the directory of the embedded store (registrations survive
	// restarts there); no external service is needed.
	Data string `yaml:"data"`
	// DataSync is how registrations reach the disk: "periodic" (default)
	// writes every change to the journal before answering — it survives a
	// crash or restart of the process — and fsyncs once a second, so a power
	// loss drops at most the last second; "always" fsyncs every change
	// before answering (group-committed), at a much higher CPU cost.
	DataSync string `yaml:"data_sync"`
	// Store is where registrations live: "file" (default) is the embedded
	// store in Data; "redis://[user:password@]host:port/db" (or rediss://
	// for TLS) and "postgres://user:password@host:port/db?sslmode=..."
	// (or postgresql://) are shared stores, for several servers serving
	// one domain. See location/redis and location/postgres.
	Store StoreURL `yaml:"store"`
	// StorePoolSize is the most connections to a shared store (default:
	// 10 per CPU for Redis, 4 per CPU for PostgreSQL).
	StorePoolSize int `yaml:"store_pool_size"`
	// StoreTimeout bounds each call to a shared store, waiting for a
	// pooled connection included (default 1s): beyond it the REGISTER is
	// answered 503 with Retry-After, never left hanging.
	StoreTimeout Duration `yaml:"store_timeout"`
	// StoreDialTimeout bounds connecting to a shared store (default 1s).
	StoreDialTimeout Duration `yaml:"store_dial_timeout"`
	// Registrar bounds registration lifetimes (RFC 3261 §10.3).
	Registrar Registrar `yaml:"registrar"`
	// Listen is where SIP is served: "udp:127.0.0.1:5060", "tcp:[::1]:5060",
	// "tls:0.0.0.0:5061", "ws:127.0.0.1:8080", "wss:127.0.0.1:8443".
	Listen []string `yaml:"listen"`
	// Log is the log level: debug, info, warn (default), error.
	Log string `yaml:"log"`
	// Trace logs every SIP message sent and received (at debug level).
	Trace bool `yaml:"trace"`
	// TLS names the certificate and key for tls and wss listeners.
	TLS TLSConfig `yaml:"tls"`
	// Timers are the transaction timers of RFC 3261 §17.
	Timers Timers `yaml:"timers"`
	// Limits bound what one peer can make the server do.
	Limits Limits `yaml:"limits"`
	// Relay says who may send requests through this server to elsewhere
	// (the relay policy, RFC 3261 §26.3.2.4; see Relay).
	Relay Relay `yaml:"relay"`
	// Abuse holds the flood limits, bans, authentication lock-out and the
	// scanner filter (see Abuse).
	Abuse Abuse `yaml:"abuse"`
	// ServerHeader, when set, is sent as the Server header of the
	// responses the server makes. Default: none, so that scanners learn
	// neither product nor version.
	ServerHeader string `yaml:"server_header"`
	// Secret keys the signatures the server puts into its Record-Route
	// (so that in-dialog requests pass only along routes it recorded) and
	// its digest nonces. Default: a random secret made on the first start
	// and kept in DATA/secret. Nodes that share calls and phones must
	// share it (then a nonce one issued is good at another).
	Secret string `yaml:"secret"`
	// Dialplan is the PBX's dial plan (pbx/dialplan/README.md), kept as
	// the YAML node so that its errors name lines of this file; DialPlan
	// parses it. Absent: every user dialled by name is rung through the
	// PBX with media relayed.
	Dialplan yaml.Node `yaml:"dialplan"`
	// Media configures the media relay of anchored calls.
	Media Media `yaml:"media"`
	// Admin is the HTTP admin server: REST API, web console, metrics
	// (admin/README.md). Off without admin.listen.
	Admin Admin `yaml:"admin"`
	// Capture keeps recent SIP messages per call for the console and
	// exports them by HEP (admin/README.md).
	Capture Capture `yaml:"capture"`
	// PBX switches the back-to-back user agent (package pbx/bridge) on:
	// calls from our users and to our users' numbers go through it, by the
	// dial plan, with media relayed. See PBX.
	PBX PBX `yaml:"pbx"`
	// DNS configures how next hops given by name are found (RFC 3263).
	DNS DNS `yaml:"dns"`
}

// DNS configures the resolution of next hops given by name (RFC 3263 §4,
// package transport/locate): transport and addresses from NAPTR, SRV and
// A/AAAA records, tried in turn when one fails (§4.3).
type DNS struct {
	// Servers, when set, are the nameservers ("IP" or "IP:PORT", port 53
	// by default) asked directly for NAPTR, SRV, A and AAAA records, in
	// order, with a cache that respects the records' TTLs. Empty: the
	// system resolver (/etc/hosts, /etc/resolv.conf), which asks SRV and
	// A/AAAA but not NAPTR.
	Servers []string `yaml:"servers"`
	// Timeout bounds one lookup (default 5s); beyond it the branch fails
	// as if its next hop were unreachable.
	Timeout Duration `yaml:"timeout"`
}

// PBX configures the B2BUA.
type PBX struct {
	// Enabled routes initial INVITEs to our numbers through the PBX (the
	// proxy serves the dial plan's proxy routes and calls to other
	// domains). Default on: calls between our users are anchored, media
	// relayed (phones behind NAT work) and every call has a record.
	// false: the plain stateful proxy, Kamailio-style.
	Enabled *bool `yaml:"enabled"`
	// SessionExpires is the session interval (RFC 4028) the PBX asks of
	// both legs of a call and refreshes itself at half of it, so that a
	// call whose phone died is torn down. Default 30m; at least 90s (the
	// RFC's Min-SE).
	SessionExpires Duration `yaml:"session_expires"`
	// HoldMusic is the WAV a held party hears, looped (a path relative to
	// data, or absolute); empty: a built-in chime; "off": silence.
	HoldMusic string `yaml:"hold_music"`
}

// PBXEnabled reports whether calls go through the PBX (see PBX.Enabled).
func (c *Config) PBXEnabled() bool {
	if c.PBX.Enabled != nil {
		return *c.PBX.Enabled
	}
	return true
}

// Admin configures the admin HTTP server (package admin).
type Admin struct {
	// Listen is host:port of the admin listener ("127.0.0.1:8080");
	// empty turns the admin server off. A non-loopback address needs a
	// token or users.
	Listen string `yaml:"listen"`
	// Token is a secret sent as "Authorization: Bearer TOKEN"; the
	// console's login takes it too. At least 16 characters.
	Token string `yaml:"token"`
	// Users may log in with HTTP basic authentication; their passwords
	// are stored hashed (see AdminUser).
	Users []AdminUser `yaml:"users"`
	// TLSCert and TLSKey, both set, serve the admin over HTTPS.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
}

// AdminUser is one admin login. PasswordHash is
// "pbkdf2-sha256$ITERATIONS$SALT$KEY" with SALT and KEY in unpadded
// base64 (RFC 4648 §5 URL alphabet); `parley admin-password` prints one.
type AdminUser struct {
	Name         string `yaml:"name"`
	PasswordHash string `yaml:"password_hash"`
}

// String never shows the hash.
func (u AdminUser) String() string { return "admin user " + u.Name }

// Capture bounds the in-memory ring of recent SIP messages.
type Capture struct {
	// Off turns capture off (it is on while the admin server is).
	Off bool `yaml:"off"`
	// Calls is how many calls (Call-IDs) are kept, oldest dropped first
	// (default 1000).
	Calls int `yaml:"calls"`
	// Bytes bounds the message bytes kept in all (default 16 MiB).
	Bytes int `yaml:"bytes"`
	// HEP, when set, is a host:port to which every message is sent as
	// HEP v3 over UDP (a Homer collector), whether or not the ring is on.
	HEP string `yaml:"hep"`
	// HEPID is the capture agent id sent in HEP (default 2001).
	HEPID int `yaml:"hep_id"`
}

func (a Admin) validate(errs []error) []error {
	if a.Listen == "" {
		if a.Token != "" || len(a.Users) > 0 || a.TLSCert != "" || a.TLSKey != "" {
			errs = append(errs, errors.New("admin: listen is needed when admin is configured"))
		}
		return errs
	}
	host, port, err := net.SplitHostPort(a.Listen)
	if err != nil {
		errs = append(errs, fmt.Errorf("admin.listen: %q: %v", a.Listen, err))
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		errs = append(errs, fmt.Errorf("admin.listen: %q: bad port", a.Listen))
	} else if !isLoopbackHost(host) && a.Token == "" && len(a.Users) == 0 {
		errs = append(errs, fmt.Errorf("admin.listen: %s is not a loopback address: set admin.token or admin.users", a.Listen))
	}
	if a.Token != "" && (len(a.Token) < 16 || strings.ContainsAny(a.Token, " \t\r\n")) {
		errs = append(errs, errors.New("admin.token: at least 16 characters, no spaces"))
	}
	seen := map[string]bool{}
	for i, u := range a.Users {
		switch {
		case u.Name == "" || strings.ContainsAny(u.Name, ": \t"):
			errs = append(errs, fmt.Errorf("admin.users[%d]: name %q is empty or holds ':' or spaces", i, u.Name))
		case seen[u.Name]:
			errs = append(errs, fmt.Errorf("admin.users[%d]: %s appears twice", i, u.Name))
		case !strings.HasPrefix(u.PasswordHash, "pbkdf2-sha256$") || strings.Count(u.PasswordHash, "$") != 3:
			errs = append(errs, fmt.Errorf("admin.users[%d]: %s: password_hash must be pbkdf2-sha256$ITERATIONS$SALT$KEY (parley admin-password makes one)", i, u.Name))
		}
		seen[u.Name] = true
	}
	if (a.TLSCert == "") != (a.TLSKey == "") {
		errs = append(errs, errors.New("admin: tls_cert and tls_key go together"))
	}
	return errs
}

func (c Capture) validate(errs []error) []error {
	if c.Calls < 0 || c.Bytes < 0 || c.HEPID < 0 {
		errs = append(errs, errors.New("capture: calls, bytes and hep_id must not be negative"))
	}
	if c.HEP != "" {
		if _, _, err := net.SplitHostPort(c.HEP); err != nil {
			errs = append(errs, fmt.Errorf("capture.hep: %q: %v", c.HEP, err))
		}
	}
	return errs
}

// isLoopbackHost reports whether host names only loopback addresses
// ("localhost", 127.0.0.0/8, ::1).
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// Relay is the relay policy: a request neither from an authenticated
// user of ours nor to one of our users (or the server itself) is refused
// with 403. Inbound calls from other domains to our users are accepted;
// Inbound restricts them to listed peers.
type Relay struct {
	// Trusted are address prefixes ("192.0.2.10/32", "10.0.0.0/8") of
	// peers that may send anything through the server without
	// authenticating — an SBC or proxy in front, a carrier's gateway —
	// and that the abuse limits never ban.
	Trusted []string `yaml:"trusted"`
	// Inbound, when set, are the only address prefixes from which
	// requests of other domains may reach our users (Trusted ones too).
	Inbound []string `yaml:"inbound"`
}

// Abuse configures the protection against floods, password guessing and
// scanners. Zero values take the defaults of package guard.
type Abuse struct {
	// Off turns flood limits, bans, lock-out and the scanner filter off
	// (a lab and benchmark mode).
	Off bool `yaml:"off"`
	// Window, MaxRequests, BanTime: more than MaxRequests packets from one
	// IP address within Window ban that address for BanTime (its packets
	// are dropped unread).
	Window      Duration `yaml:"window"`
	MaxRequests int      `yaml:"max_requests"`
	BanTime     Duration `yaml:"ban_time"`
	// AuthFailures wrong digest answers from one address within
	// AuthWindow stop its challenges for AuthBanTime.
	AuthFailures int      `yaml:"auth_failures"`
	AuthWindow   Duration `yaml:"auth_window"`
	AuthBanTime  Duration `yaml:"auth_ban_time"`
	// Scanners are User-Agent substrings (case-insensitive) whose requests
	// are dropped silently and their source banned. Left out: the known
	// scanners (friendly-scanner, sipvicious, sipcli, ...); [] turns the
	// filter off.
	Scanners *[]string `yaml:"scanners"`
	// Exempt are address prefixes never limited or banned (relay.trusted
	// are exempt too).
	Exempt []string `yaml:"exempt"`
	// MaxSources bounds the addresses tracked at once.
	MaxSources int `yaml:"max_sources"`
}

// DialPlanActions returns the dial-plan actions of this build besides the
// built-in ones (voicemail, conference and trunk register here as they
// come). A fresh registry each call: there is no global one.
func DialPlanActions() *dialplan.Registry {
	reg, err := dialplan.NewRegistry()
	if err != nil {
		panic(err) // a programming error in the list above
	}
	return reg
}

// DialPlan parses the dial plan against the config's users with the
// actions of reg (nil: DialPlanActions()).
func (c *Config) DialPlan(reg *dialplan.Registry) (*dialplan.Plan, error) {
	if reg == nil {
		reg = DialPlanActions()
	}
	names := make([]string, len(c.Users))
	for i, u := range c.Users {
		names[i] = u.Name
	}
	return dialplan.Parse(&c.Dialplan, dialplan.Options{Users: names, Actions: reg})
}

// User is one account. Give password, or ha1 / ha1_sha256 (the digests of
// "name:domain:password" with MD5 and SHA-256) so that no plain password is
// stored: ha1 for each offered MD5 challenge, ha1_sha256 for SHA-256 (a
// phone that chooses SHA-256 cannot be checked against an MD5 digest), so
// both when both are offered.
type User struct {
	Name      string `yaml:"name"`
	Password  string `yaml:"password"`
	HA1       string `yaml:"ha1"`
	HA1SHA256 string `yaml:"ha1_sha256"`
}

// String never shows secrets, so a User can be logged.
func (u User) String() string { return "user " + u.Name }

// Registrar holds the registration lifetime bounds, in seconds.
type Registrar struct {
	MinExpires     int `yaml:"min_expires"`     // shorter requests get 423 Interval Too Brief (default 60)
	MaxExpires     int `yaml:"max_expires"`     // longer requests are shortened to this (default 3600)
	DefaultExpires int `yaml:"default_expires"` // when the phone names none (default 3600)
}

// TLSConfig names certificate files.
type TLSConfig struct {
	Cert     string `yaml:"cert"`      // PEM certificate chain file
	Key      string `yaml:"key"`       // PEM private key file
	ClientCA string `yaml:"client_ca"` // PEM CA file: when set, clients must present a certificate it signed (mutual TLS)
}

// Timers are the base timers of §17.1.1.1 and the delay before an INVITE
// server transaction sends 100 Trying on its own (§17.2.1).
type Timers struct {
	T1     Duration `yaml:"t1"`     // RTT estimate, default 500ms
	T2     Duration `yaml:"t2"`     // maximum retransmit interval for non-INVITE requests and INVITE responses, default 4s
	T4     Duration `yaml:"t4"`     // maximum time a message stays in the network, default 5s
	Trying Duration `yaml:"trying"` // default 200ms
}

// Limits bound resources per message, per peer and overall.
type Limits struct {
	MaxMessageSize    int      `yaml:"max_message_size"`     // bytes, default 65535
	MaxHeaders        int      `yaml:"max_headers"`          // header lines per message, default 256
	MaxLineLength     int      `yaml:"max_line_length"`      // bytes per header line, default 8192
	MaxConnsPerSource int      `yaml:"max_conns_per_source"` // stream connections from one IP, default 128
	MaxConns          int      `yaml:"max_conns"`            // stream connections in all, default 10000
	IdleTimeout       Duration `yaml:"idle_timeout"`         // close idle stream connections, default 5m
	Workers           int      `yaml:"workers"`              // request handlers running at once, default 64×CPUs
	Queue             int      `yaml:"queue"`                // requests waiting for a handler before 503, default 4096
	RetryAfter        int      `yaml:"retry_after"`          // seconds in the Retry-After of an overload 503, default 5
	// MaxTransactions bounds the server transactions held at once, in
	// all and per source address; beyond them a new request gets a
	// stateless 503 (defaults 100000 and 2000).
	MaxTransactions          int `yaml:"max_transactions"`
	MaxTransactionsPerSource int `yaml:"max_transactions_per_source"`
	UDPReaders               int `yaml:"udp_readers"` // sockets and reader goroutines per UDP address, default the number of CPUs
}

// StoreURL names the location store: "file", or the URL of a shared
// store (redis://, rediss://, postgres://, postgresql://). Its String
// hides a password.
type StoreURL string

// Store kinds, as StoreURL.Kind reports them.
const (
	StoreFile     = "file"
	StoreRedis    = "redis"
	StorePostgres = "postgres"
)

// Kind returns StoreFile, StoreRedis or StorePostgres, or "" when the
// value is none of them.
func (s StoreURL) Kind() string {
	if s == "" || s == StoreFile {
		return StoreFile
	}
	u, err := url.Parse(string(s))
	if err != nil || u.Host == "" && u.Opaque == "" && u.RawQuery == "" {
		return ""
	}
	switch strings.ToLower(u.Scheme) {
	case "redis", "rediss":
		return StoreRedis
	case "postgres", "postgresql":
		return StorePostgres
	}
	return ""
}

// String returns the value with any password replaced by "xxxxx".
func (s StoreURL) String() string {
	u, err := url.Parse(string(s))
	if err != nil || u.User == nil {
		return string(s)
	}
	return u.Redacted()
}

func (s StoreURL) check() error {
	if s.Kind() == "" {
		return fmt.Errorf("store: %q is not file, redis://HOST:PORT/DB or postgres://USER@HOST:PORT/DB", s.String())
	}
	return nil
}

// UnmarshalYAML reads a store value and checks it, naming the line.
func (s *StoreURL) UnmarshalYAML(n *yaml.Node) error {
	var v string
	if err := n.Decode(&v); err != nil {
		return err
	}
	*s = StoreURL(v)
	if err := s.check(); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

// Media configures the media relay (package media) and its rtpengine-style
// ng control listener (package media/ng).
type Media struct {
	// RTPPorts is the UDP port range of relayed and terminated media,
	// "LO-HI": RTP on even ports, RTCP on the odd port above. Default
	// 30000-39999 (apart from rtpengine's customary 20000-29999 and from
	// the ranges tests use, so a relay never forwards another's packets).
	// Each relayed stream takes two pairs, so 10,000 ports hold 2,500
	// audio calls.
	RTPPorts PortRange `yaml:"rtp_ports"`
	// NGListen is the UDP address of the ng control protocol, e.g.
	// "127.0.0.1:2223"; empty (the default) serves none. Keep it on
	// loopback or a private network: ng has no authentication.
	NGListen string `yaml:"ng_listen"`
}

// PortRange is an inclusive UDP port range written "LO-HI".
type PortRange struct {
	Lo, Hi int
}

// UnmarshalYAML reads "LO-HI".
func (p *PortRange) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: port range must be a string LO-HI", n.Line)
	}
	lo, hi, ok := parsePortRange(s)
	if !ok {
		return fmt.Errorf("line %d: bad port range %q (want LO-HI, e.g. 30000-39999)", n.Line, s)
	}
	if lo < 1024 || hi > 65535 || hi-lo < 3 {
		return fmt.Errorf("line %d: port range %q must lie in 1024-65535 and hold at least two even/odd pairs", n.Line, s)
	}
	*p = PortRange{Lo: lo, Hi: hi}
	return nil
}

// MarshalYAML writes "LO-HI".
func (p PortRange) MarshalYAML() (any, error) { return p.String(), nil }

func (p PortRange) String() string { return strconv.Itoa(p.Lo) + "-" + strconv.Itoa(p.Hi) }

func parsePortRange(s string) (lo, hi int, ok bool) {
	a, b, found := strings.Cut(strings.TrimSpace(s), "-")
	if !found {
		return 0, 0, false
	}
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	return lo, hi, err1 == nil && err2 == nil
}

// Duration is a time.Duration written as "500ms", "4s", "5m" (shared with
// the feature folders configured inside this file, see internal/confyaml).
type Duration = confyaml.Duration

// Default returns the embedded defaults: UDP and TCP on 127.0.0.1:5060.
func Default() *Config {
	return &Config{
		Domain:           "example.test",
		Auth:             "digest",
		DigestAlgorithms: []string{"MD5"},
		Data:             "./parley-data",
		Store:            StoreFile,
		Listen:           []string{"udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"},
		Log:              "warn",
		Media:            Media{RTPPorts: PortRange{Lo: 30000, Hi: 39999}},
	}
}

// Load reads and validates a config file.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Decode reads a config strictly: unknown keys are errors with their line.
// Fields left out keep the defaults.
func Decode(r io.Reader) (*Config, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	c := Default()
	if len(bytes.TrimSpace(data)) == 0 {
		return c, c.Validate()
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return nil, fmt.Errorf("config: %w", confyaml.Flatten(err))
	}
	return c, c.Validate()
}

// ParsePrefixes reads a list of address prefixes ("10.0.0.0/8", or a
// bare address for its full length) already checked by Validate.
func ParsePrefixes(list []string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		if p, err := guard.ParsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Validate checks every value before the server starts.
func (c *Config) Validate() error {
	var errs []error
	if c.Domain == "" || strings.ContainsAny(c.Domain, " \t;:@<>\"") {
		errs = append(errs, fmt.Errorf("domain: %q is not a host name", c.Domain))
	}
	switch c.Auth {
	case "digest", "none":
	default:
		errs = append(errs, fmt.Errorf("auth: %q is not one of digest, none", c.Auth))
	}
	offers := map[string]bool{}
	for i, a := range c.DigestAlgorithms {
		switch {
		case a != "SHA-256" && a != "MD5":
			errs = append(errs, fmt.Errorf("digest_algorithms[%d]: %q is not one of SHA-256, MD5", i, a))
		case offers[a]:
			errs = append(errs, fmt.Errorf("digest_algorithms[%d]: %s is listed twice", i, a))
		}
		offers[a] = true
	}
	if len(c.DigestAlgorithms) == 0 {
		offers["MD5"] = true // the default
	}
	switch c.DataSync {
	case "", "periodic", "always":
	default:
		errs = append(errs, fmt.Errorf("data_sync: %q is not one of periodic, always", c.DataSync))
	}
	if c.Data == "" {
		errs = append(errs, errors.New("data: a directory is needed"))
	}
	if err := c.Store.check(); err != nil {
		errs = append(errs, err)
	}
	if c.StorePoolSize < 0 {
		errs = append(errs, errors.New("store_pool_size: must not be negative"))
	}
	seen := map[string]bool{}
	for i, u := range c.Users {
		switch {
		case u.Name == "" || strings.ContainsAny(u.Name, " \t;:@<>\"%"):
			errs = append(errs, fmt.Errorf("users[%d]: name %q is not a valid user part", i, u.Name))
		case seen[u.Name]:
			errs = append(errs, fmt.Errorf("users[%d]: %s appears twice", i, u.Name))
		case u.Password == "" && u.HA1 == "" && u.HA1SHA256 == "":
			errs = append(errs, fmt.Errorf("users[%d]: %s needs password, ha1 or ha1_sha256", i, u.Name))
		case u.HA1 != "" && !isHex(u.HA1, 32):
			errs = append(errs, fmt.Errorf("users[%d]: %s: ha1 must be 32 hex digits", i, u.Name))
		case u.HA1SHA256 != "" && !isHex(u.HA1SHA256, 64):
			errs = append(errs, fmt.Errorf("users[%d]: %s: ha1_sha256 must be 64 hex digits", i, u.Name))
		// A user no offered challenge can be answered for could never
		// authenticate: say so now, not as a 401 loop later.
		case c.Auth == "digest" && u.Password == "" && u.HA1 == "" && !offers["SHA-256"]:
			errs = append(errs, fmt.Errorf("users[%d]: %s has only ha1_sha256, but digest_algorithms does not offer SHA-256 (give ha1 too)", i, u.Name))
		case c.Auth == "digest" && u.Password == "" && u.HA1SHA256 == "" && !offers["MD5"]:
			errs = append(errs, fmt.Errorf("users[%d]: %s has only ha1, but digest_algorithms does not offer MD5 (give ha1_sha256 too)", i, u.Name))
		}
		seen[u.Name] = true
	}
	r := c.Registrar
	if r.MinExpires < 0 || r.MaxExpires < 0 || r.DefaultExpires < 0 {
		errs = append(errs, errors.New("registrar: expiry values must not be negative"))
	}
	if r.MinExpires > 0 && r.MaxExpires > 0 && r.MinExpires > r.MaxExpires {
		errs = append(errs, errors.New("registrar: min_expires must not exceed max_expires"))
	}
	if len(c.Listen) == 0 {
		errs = append(errs, errors.New("listen: at least one address is needed"))
	}
	for _, l := range c.Listen {
		spec, err := transport.ParseListen(l)
		if err != nil {
			errs = append(errs, fmt.Errorf("listen: %w", err))
			continue
		}
		if (spec.Transport == transport.TLS || spec.Transport == transport.WSS) && (c.TLS.Cert == "" || c.TLS.Key == "") {
			errs = append(errs, fmt.Errorf("listen %q: tls.cert and tls.key are required", l))
		}
	}
	switch strings.ToLower(c.Log) {
	case "", "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log: %q is not one of debug, info, warn, error", c.Log))
	}
	for name, d := range map[string]Duration{"timers.t1": c.Timers.T1, "timers.t2": c.Timers.T2, "timers.t4": c.Timers.T4, "timers.trying": c.Timers.Trying, "limits.idle_timeout": c.Limits.IdleTimeout, "store_timeout": c.StoreTimeout, "store_dial_timeout": c.StoreDialTimeout, "dns.timeout": c.DNS.Timeout} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative", name))
		}
	}
	if c.Timers.T1 > 0 && c.Timers.T2 > 0 && c.Timers.T2 < c.Timers.T1 {
		errs = append(errs, errors.New("timers: t2 must not be smaller than t1"))
	}
	for name, v := range map[string]int{
		"limits.max_message_size": c.Limits.MaxMessageSize, "limits.max_headers": c.Limits.MaxHeaders,
		"limits.max_line_length": c.Limits.MaxLineLength, "limits.max_conns_per_source": c.Limits.MaxConnsPerSource,
		"limits.max_conns": c.Limits.MaxConns, "limits.workers": c.Limits.Workers, "limits.queue": c.Limits.Queue,
		"limits.retry_after": c.Limits.RetryAfter, "limits.udp_readers": c.Limits.UDPReaders,
		"limits.max_transactions": c.Limits.MaxTransactions, "limits.max_transactions_per_source": c.Limits.MaxTransactionsPerSource,
		"abuse.max_requests": c.Abuse.MaxRequests, "abuse.auth_failures": c.Abuse.AuthFailures, "abuse.max_sources": c.Abuse.MaxSources,
	} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative", name))
		}
	}
	for name, d := range map[string]Duration{"abuse.window": c.Abuse.Window, "abuse.ban_time": c.Abuse.BanTime, "abuse.auth_window": c.Abuse.AuthWindow, "abuse.auth_ban_time": c.Abuse.AuthBanTime} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative", name))
		}
	}
	for name, list := range map[string][]string{"relay.trusted": c.Relay.Trusted, "relay.inbound": c.Relay.Inbound, "abuse.exempt": c.Abuse.Exempt} {
		for i, p := range list {
			if _, err := guard.ParsePrefix(p); err != nil {
				errs = append(errs, fmt.Errorf("%s[%d]: %w", name, i, err))
			}
		}
	}
	if c.Secret != "" && len(c.Secret) < 16 {
		errs = append(errs, errors.New("secret: at least 16 characters"))
	}
	if strings.ContainsAny(c.ServerHeader, "\r\n") {
		errs = append(errs, errors.New("server_header: must be one line"))
	}
	if c.Limits.MaxMessageSize > 0 && c.Limits.MaxMessageSize < 1024 {
		errs = append(errs, errors.New("limits.max_message_size: must be at least 1024"))
	}
	errs = c.Admin.validate(errs)
	errs = c.Capture.validate(errs)
	if _, err := c.DialPlan(nil); err != nil {
		errs = append(errs, fmt.Errorf("dialplan: %w", err))
	}
	if m := c.Media.RTPPorts; m.Lo < 1024 || m.Hi > 65535 || m.Hi-m.Lo < 3 {
		errs = append(errs, fmt.Errorf("media.rtp_ports: %s must lie in 1024-65535 and hold at least two even/odd pairs", m))
	}
	if se := c.PBX.SessionExpires.D(); se != 0 && se.Seconds() < 90 {
		errs = append(errs, fmt.Errorf("pbx.session_expires: %v is below RFC 4028's minimum of 90s", se))
	}
	for _, a := range c.DNS.Servers {
		if _, err := netip.ParseAddrPort(a); err != nil {
			if _, err := netip.ParseAddr(a); err != nil {
				errs = append(errs, fmt.Errorf("dns.servers: %q is not IP or IP:PORT", a))
			}
		}
	}
	if a := c.Media.NGListen; a != "" {
		if ap, err := netip.ParseAddrPort(a); err != nil || ap.Port() == 0 {
			errs = append(errs, fmt.Errorf("media.ng_listen: %q is not IP:PORT", a))
		} else if p := int(ap.Port()); p >= c.Media.RTPPorts.Lo && p <= c.Media.RTPPorts.Hi {
			errs = append(errs, fmt.Errorf("media.ng_listen: port %d lies inside media.rtp_ports %s", p, c.Media.RTPPorts))
		}
	}
	return errors.Join(errs...)
}
