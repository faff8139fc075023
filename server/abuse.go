package server

import (
	"log/slog"
	"net/netip"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/guard"
)

// newGuard builds the abuse protection from the config's abuse section;
// nil with abuse.off. relay.trusted peers are exempt like abuse.exempt.
func newGuard(cfg *config.Config, trusted []netip.Prefix, log *slog.Logger) (*guard.Guard, error) {
	a := cfg.Abuse
	if a.Off {
		log.Warn("abuse: off — no flood limits, bans, lock-out or scanner filter; use only in a lab")
		return nil, nil
	}
	gc := guard.Config{
		Window:       a.Window.D(),
		MaxRequests:  a.MaxRequests,
		BanTime:      a.BanTime.D(),
		AuthFailures: a.AuthFailures,
		AuthWindow:   a.AuthWindow.D(),
		AuthBanTime:  a.AuthBanTime.D(),
		Trusted:      append(config.ParsePrefixes(a.Exempt), trusted...),
		MaxSources:   a.MaxSources,
		Logger:       log,
	}
	if a.Scanners != nil {
		gc.ScannerUserAgents = append([]string{}, *a.Scanners...)
	}
	return guard.New(gc)
}
