package transaction

import (
	"net/netip"
	"strconv"
	"testing"

	"github.com/parley-sip/parley/sip"
)

// TestTransactionLimits: beyond MaxPerSource (one source) and
// MaxServerTransactions (all) new requests get a stateless 503 and no
// transaction; a transaction that ends frees its place.
func TestTransactionLimits(t *testing.T) {
	rec := &serverRecorder{}
	l, s := newTestLayer(t, Config{MaxServerTransactions: 5, MaxPerSource: 3, RetryAfter: 7, Inline: func(*sip.Request) bool { return true }}, rec)
	from := func(src string, i int) *sip.Request {
		o := udpOrigin
		o.Source = netip.MustParseAddrPort(src)
		return msg{method: sip.OPTIONS, branch: "z9hG4bKlim" + src + strconv.Itoa(i), callID: "lim" + strconv.Itoa(i)}.build(o)
	}
	for i := range 4 {
		l.HandleMessage(from("192.0.2.1:5060", i))
	}
	if got := len(rec.got()); got != 3 {
		t.Fatalf("source A got %d transactions, want 3", got)
	}
	busy := s.responses(503)
	if len(busy) != 1 {
		t.Fatalf("%d 503s, want 1", len(busy))
	}
	if ra, _ := busy[0].resp.Get("Retry-After"); ra != "7" {
		t.Errorf("Retry-After %q", ra)
	}
	// An IPv4-mapped address is the same source.
	l.HandleMessage(from("[::ffff:192.0.2.1]:5060", 9))
	for i := range 3 {
		l.HandleMessage(from("192.0.2.77:5060", i))
	}
	if got := len(rec.got()); got != 5 {
		t.Fatalf("%d transactions in all, want 5", got)
	}
	if st := l.Stats(); st.OverLimit != 3 || st.Live != 5 {
		t.Fatalf("OverLimit %d, Live %d; want 3 and 5", st.OverLimit, st.Live)
	}
	// Answering one frees a place for its source.
	if err := rec.got()[0].RespondStateless(sip.NewResponse(rec.got()[0].Request(), 200, "")); err != nil {
		t.Fatal(err)
	}
	l.HandleMessage(from("192.0.2.1:5060", 10))
	if got := len(rec.got()); got != 6 {
		t.Fatalf("after one ended: %d transactions, want 6", got)
	}
}
