package guard_test

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"time"

	"github.com/parley-sip/parley/guard"
)

// The transport reader calls Admit for every datagram before parsing; the
// server's stages call IsScanner, AuthLocked and AuthFailed on parsed
// requests.
func Example() {
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // keep the example's output stable
			}
			return a
		},
	}))
	g, err := guard.New(guard.Config{
		Window: time.Second, MaxRequests: 3, // tiny, to show a ban
		Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		Logger:  logger,
		Now:     func() time.Time { return now },
	})
	if err != nil {
		panic(err)
	}

	flood := netip.MustParseAddr("198.51.100.7")
	for i := range 5 {
		fmt.Println("packet", i, "admitted:", g.Admit(flood))
	}
	fmt.Println("trusted admitted:", g.Admit(netip.MustParseAddr("10.1.2.3")))
	fmt.Println("scanner:", g.IsScanner("friendly-scanner"), g.IsScanner("Yealink SIP-T46S 66.86.0.15"))

	guesser := netip.MustParseAddr("203.0.113.9")
	for range 10 {
		g.AuthFailed(guesser, "alice")
	}
	fmt.Println("guesser locked:", g.AuthLocked(guesser))
	for _, b := range g.Bans() {
		fmt.Println("ban:", b.Source, b.Reason, b.Until.Format(time.RFC3339))
	}
	st := g.Stats()
	fmt.Println("admitted", st.Admitted, "banned drops", st.DroppedBanned, "density drops", st.DroppedDensity, "active bans", st.BansActive)

	// Output:
	// packet 0 admitted: true
	// packet 1 admitted: true
	// packet 2 admitted: true
	// level=WARN msg=ban source=198.51.100.7 reason=density until=2026-12-04T09:05:00Z
	// packet 3 admitted: false
	// packet 4 admitted: false
	// trusted admitted: true
	// scanner: true false
	// level=WARN msg=ban source=203.0.113.9 reason=auth until=2026-12-04T09:30:00Z user=alice
	// guesser locked: true
	// ban: 198.51.100.7/32 density 2026-12-04T09:05:00Z
	// ban: 203.0.113.9/32 auth 2026-12-04T09:30:00Z
	// admitted 4 banned drops 1 density drops 1 active bans 2
}
