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
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

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
	// 8760 §2.4): "SHA-256", "MD5". Default [SHA-256, MD5]. Some phones
	// give up on the first challenge they cannot answer instead of using
	// the next (baresip 1.0 / libre before 2.x: "Function not
	// implemented"); for them, and for users with only ha1, use [MD5].
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
	// Media configures the media relay of anchored calls.
	Media Media `yaml:"media"`
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

// User is one account. Give password, or ha1 / ha1_sha256 (the digests of
// "name:domain:password" with MD5 and SHA-256) so that no plain password is
// stored; with only ha1, phones that choose SHA-256 fail, so give both.
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
	UDPReaders        int      `yaml:"udp_readers"`          // sockets and reader goroutines per UDP address, default the number of CPUs
}

// Duration is a time.Duration written as "500ms", "4s", "5m".
type Duration time.Duration

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: bad duration %q (want e.g. 500ms, 4s)", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Default returns the embedded defaults: UDP and TCP on 127.0.0.1:5060.
func Default() *Config {
	return &Config{
		Domain: "example.test",
		Auth:   "digest",
		Data:   "./parley-data",
		Listen: []string{"udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"},
		Log:    "warn",
		Media:  Media{RTPPorts: PortRange{Lo: 30000, Hi: 39999}},
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
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("config: %s", strings.Join(te.Errors, "; "))
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	return c, c.Validate()
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
	for i, a := range c.DigestAlgorithms {
		if a != "SHA-256" && a != "MD5" {
			errs = append(errs, fmt.Errorf("digest_algorithms[%d]: %q is not one of SHA-256, MD5", i, a))
		}
	}
	switch c.DataSync {
	case "", "periodic", "always":
	default:
		errs = append(errs, fmt.Errorf("data_sync: %q is not one of periodic, always", c.DataSync))
	}
	if c.Data == "" {
		errs = append(errs, errors.New("data: a directory is needed"))
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
	for name, d := range map[string]Duration{"timers.t1": c.Timers.T1, "timers.t2": c.Timers.T2, "timers.t4": c.Timers.T4, "timers.trying": c.Timers.Trying, "limits.idle_timeout": c.Limits.IdleTimeout} {
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
	} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative", name))
		}
	}
	if c.Limits.MaxMessageSize > 0 && c.Limits.MaxMessageSize < 1024 {
		errs = append(errs, errors.New("limits.max_message_size: must be at least 1024"))
	}
	if m := c.Media.RTPPorts; m.Lo < 1024 || m.Hi > 65535 || m.Hi-m.Lo < 3 {
		errs = append(errs, fmt.Errorf("media.rtp_ports: %s must lie in 1024-65535 and hold at least two even/odd pairs", m))
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
