package guard

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"
)

// Default values of the Config fields. The package doc and README.md show
// the arithmetic behind them.
const (
	// DefaultWindow and DefaultMaxRequests: a source may send 2000 packets
	// at once and 1000 packets/s for ever.
	DefaultWindow      = 2 * time.Second
	DefaultMaxRequests = 2000
	DefaultBanTime     = 5 * time.Minute

	// DefaultAuthFailures failed digest answers within DefaultAuthWindow
	// lock a source out of challenges for DefaultAuthBanTime.
	DefaultAuthFailures = 10
	DefaultAuthWindow   = time.Minute
	DefaultAuthBanTime  = 30 * time.Minute
	// DefaultAuthBanTimeMax caps the doubling of the lock-out of a source
	// that is locked out again and again.
	DefaultAuthBanTimeMax = 24 * time.Hour

	// DefaultMaxSources bounds the tracked sources (about 200 bytes each
	// with the index: under 7 MB when full).
	DefaultMaxSources = 32768

	// DefaultIPv6PrefixLen: IPv6 sources are counted per /64.
	DefaultIPv6PrefixLen = 64
)

// DefaultScannerUserAgents are the User-Agent words of the well-known SIP
// scanners and attack tools (SIPVicious' svmap/svwar/svcrack send
// "friendly-scanner"). sipsak is deliberately absent: it is an admin tool.
var defaultScannerUserAgents = [...]string{
	"friendly-scanner",
	"sipvicious",
	"sipcli",
	"sip-scan",
	"sipscan",
	"sipptk",
	"sippts",
	"VaxSIPUserAgent",
	"VaxIPUserAgent",
	"iWar",
	"sundayddr",
	"SIVuS",
	"smap",
	"pplsip",
	"siparmyknife",
	"sipsploit",
	"voipscanner",
}

// DefaultScannerUserAgents returns a copy of the default scanner list.
func DefaultScannerUserAgents() []string {
	return append([]string(nil), defaultScannerUserAgents[:]...)
}

// maxDuration bounds every duration, far from overflowing the clock
// arithmetic (nanoseconds in an int64 reach 292 years).
const maxDuration = 10 * 365 * 24 * time.Hour

// Limits on the scanner list, so a config mistake cannot make IsScanner slow.
const (
	maxScannerEntries = 256
	maxScannerLen     = 128
)

// Config holds the thresholds of a Guard. The zero value of every field
// means its documented default, so Config{} is the recommended setup; a
// negative count turns its check off.
type Config struct {
	// Window and MaxRequests set the per-source packet budget (the pike
	// part): a source may send MaxRequests packets at once, and
	// MaxRequests per Window for ever; the packet beyond the budget bans
	// the source for BanTime. Defaults 2 s, 2000 packets, 5 minutes.
	// MaxRequests < 0 turns the density check off.
	Window      time.Duration
	MaxRequests int
	BanTime     time.Duration

	// AuthFailures failed digest answers from one source within AuthWindow
	// lock that source out of challenges for AuthBanTime (defaults 10,
	// 1 minute, 30 minutes). The budget refills continuously, like the
	// packet budget, so a source that fails at most AuthFailures times per
	// AuthWindow is never locked out. Keyed by source, not by user: no one
	// can lock a user out by guessing their name from elsewhere.
	// AuthFailures < 0 turns the lock-out off.
	//
	// A source locked out again before AuthBanTimeMax has passed since its
	// last lock-out ended is locked out for twice as long as the last time,
	// up to AuthBanTimeMax (default 24 hours; equal to AuthBanTime turns
	// the doubling off): a patient guesser gets 10 guesses per 30 minutes,
	// then per hour, 2 hours, ... and soon 10 a day.
	AuthFailures   int
	AuthWindow     time.Duration
	AuthBanTime    time.Duration
	AuthBanTimeMax time.Duration

	// ScannerUserAgents are the words that make IsScanner report a
	// User-Agent, matched case-insensitively as whole words: an entry
	// whose first (last) character is a letter or digit must not have a
	// letter or digit before (after) it in the User-Agent, so "iWar"
	// matches "iWar/0.9" but not "Kiwarra". nil means
	// DefaultScannerUserAgents; an empty non-nil slice turns the filter
	// off.
	ScannerUserAgents []string

	// Trusted sources (peers, the office network) are never counted,
	// never locked out and never banned automatically; an explicit Ban
	// still applies to them.
	Trusted []netip.Prefix

	// MaxSources bounds the sources tracked at once (default 32768), so
	// memory stays bounded under a flood of spoofed source addresses.
	// When the table is full, a new source replaces an idle one; banned
	// and locked-out sources are kept.
	MaxSources int

	// IPv6PrefixLen is the length of the IPv6 block counted as one source
	// (default 64, 128 for single addresses). A host owns its /64 and can
	// change address inside it at will, so a per-address count would let
	// one attacker flood from 2^64 sources.
	IPv6PrefixLen int

	// Logger receives one line per ban and lock-out (default
	// slog.Default()): msg "ban", source, reason, until (RFC 3339, UTC).
	Logger *slog.Logger

	// Now is the clock (default time.Now). It must not go back to before
	// the call of New.
	Now func() time.Time
}

// withDefaults returns cfg with zero fields set to their defaults, or an
// error naming the first invalid field.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.MaxRequests == 0 {
		cfg.MaxRequests = DefaultMaxRequests
	}
	if cfg.BanTime == 0 {
		cfg.BanTime = DefaultBanTime
	}
	if cfg.AuthFailures == 0 {
		cfg.AuthFailures = DefaultAuthFailures
	}
	if cfg.AuthWindow == 0 {
		cfg.AuthWindow = DefaultAuthWindow
	}
	if cfg.AuthBanTime == 0 {
		cfg.AuthBanTime = DefaultAuthBanTime
	}
	if cfg.AuthBanTimeMax == 0 {
		cfg.AuthBanTimeMax = max(DefaultAuthBanTimeMax, cfg.AuthBanTime)
	}
	if cfg.ScannerUserAgents == nil {
		cfg.ScannerUserAgents = DefaultScannerUserAgents()
	}
	if cfg.MaxSources == 0 {
		cfg.MaxSources = DefaultMaxSources
	}
	if cfg.IPv6PrefixLen == 0 {
		cfg.IPv6PrefixLen = DefaultIPv6PrefixLen
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}

	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"window", cfg.Window}, {"ban time", cfg.BanTime}, {"auth window", cfg.AuthWindow}, {"auth ban time", cfg.AuthBanTime}, {"auth ban time max", cfg.AuthBanTimeMax}} {
		if d.v > maxDuration {
			return cfg, fmt.Errorf("guard: %s %v is above the limit of 10 years", d.name, d.v)
		}
	}
	switch {
	case cfg.Window < 0:
		return cfg, fmt.Errorf("guard: window %v is negative", cfg.Window)
	case cfg.MaxRequests > 0 && int64(cfg.Window)/int64(cfg.MaxRequests) == 0:
		return cfg, fmt.Errorf("guard: max_requests %d in window %v is more than one per nanosecond", cfg.MaxRequests, cfg.Window)
	case cfg.BanTime < 0:
		return cfg, fmt.Errorf("guard: ban time %v is negative", cfg.BanTime)
	case cfg.AuthWindow < 0:
		return cfg, fmt.Errorf("guard: auth window %v is negative", cfg.AuthWindow)
	case cfg.AuthFailures > 0 && int64(cfg.AuthWindow)/int64(cfg.AuthFailures) == 0:
		return cfg, fmt.Errorf("guard: auth failures %d in window %v is more than one per nanosecond", cfg.AuthFailures, cfg.AuthWindow)
	case cfg.AuthBanTime < 0:
		return cfg, fmt.Errorf("guard: auth ban time %v is negative", cfg.AuthBanTime)
	case cfg.AuthBanTimeMax < cfg.AuthBanTime:
		return cfg, fmt.Errorf("guard: auth ban time max %v is below the auth ban time %v", cfg.AuthBanTimeMax, cfg.AuthBanTime)
	case cfg.MaxSources < 0:
		return cfg, fmt.Errorf("guard: max sources %d is negative", cfg.MaxSources)
	case cfg.MaxSources > 1<<24:
		return cfg, fmt.Errorf("guard: max sources %d is above the limit %d", cfg.MaxSources, 1<<24)
	case cfg.IPv6PrefixLen < 0 || cfg.IPv6PrefixLen > 128:
		return cfg, fmt.Errorf("guard: ipv6 prefix length %d is not in 1..128", cfg.IPv6PrefixLen)
	case len(cfg.ScannerUserAgents) > maxScannerEntries:
		return cfg, fmt.Errorf("guard: %d scanner user agents, more than the limit %d", len(cfg.ScannerUserAgents), maxScannerEntries)
	}
	for i, ua := range cfg.ScannerUserAgents {
		if err := checkScannerEntry(ua); err != nil {
			return cfg, fmt.Errorf("guard: scanner user agent %d (%q): %w", i, ua, err)
		}
	}
	trusted := make([]netip.Prefix, len(cfg.Trusted))
	for i, p := range cfg.Trusted {
		n, err := normalizePrefix(p)
		if err != nil {
			return cfg, fmt.Errorf("guard: trusted prefix %d (%v): %w", i, p, err)
		}
		trusted[i] = n
	}
	cfg.Trusted = trusted
	return cfg, nil
}

func checkScannerEntry(ua string) error {
	switch {
	case strings.TrimSpace(ua) == "":
		return errors.New("empty")
	case len(ua) > maxScannerLen:
		return fmt.Errorf("longer than %d bytes", maxScannerLen)
	}
	for i := 0; i < len(ua); i++ {
		if c := ua[i]; c < 0x20 || c == 0x7f {
			return errors.New("contains a control character")
		}
	}
	return nil
}

// ParsePrefix parses a trusted-network entry of a config file: a prefix
// ("10.0.0.0/8", "2001:db8::/32") or a single address ("192.0.2.7", taken
// as /32 or /128). IPv4-mapped IPv6 forms become IPv4, host bits are
// cleared, zones are refused.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, fmt.Errorf("guard: %q is not an address or prefix: %w", s, err)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("guard: %q is not an address or prefix: %w", s, err)
		}
		if a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("guard: %q has a zone", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	n, err := normalizePrefix(p)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("guard: %q: %w", s, err)
	}
	return n, nil
}

// normalizePrefix makes an IPv4-mapped prefix an IPv4 one and clears the
// host bits.
func normalizePrefix(p netip.Prefix) (netip.Prefix, error) {
	if !p.IsValid() {
		return netip.Prefix{}, errors.New("invalid prefix")
	}
	a := p.Addr()
	if a.Zone() != "" {
		return netip.Prefix{}, errors.New("prefix with a zone")
	}
	if a.Is4In6() {
		bits := p.Bits() - 96
		if bits < 0 {
			return netip.Prefix{}, errors.New("IPv4-mapped prefix shorter than /96")
		}
		p = netip.PrefixFrom(a.Unmap(), bits)
	}
	return p.Masked(), nil
}
