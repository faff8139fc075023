package bridge_test

import (
	"github.com/parley-sip/parley/media"
	"github.com/parley-sip/parley/pbx/bridge"
	"github.com/parley-sip/parley/pbx/dialplan"
	"github.com/parley-sip/parley/pbx/leg"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
)

// ExampleNew wires the B2BUA as the server does: the stack it shares, the
// dial plan, where users' devices are, the relay; then the stage chain
// hands it initial INVITEs (ServeInvite), in-dialog requests
// (ServeInDialog) and ACKs (HandleAck).
func ExampleNew() {
	var st *leg.Stack         // the server's transaction and transport layers
	var relay *media.Relay    // media.NewRelay on media.rtp_ports
	var locator proxy.Locator // proxy.LocationLocator over the location store
	b, err := bridge.New(bridge.Config{
		Stack:   st,
		Plan:    dialplan.Default([]string{"alice", "bob"}),
		Locator: locator,
		Domain:  "example.test",
		Relay:   relay,
	})
	if err != nil {
		return
	}
	serve := func(tx *transaction.ServerTx, user string) {
		req := tx.Request()
		switch {
		case req.ToTag() != "":
			b.ServeInDialog(tx)
		case req.Method == sip.INVITE:
			if _, proxied := b.ProxyRoute(req, user); !proxied {
				b.ServeInvite(tx, user)
			}
		}
	}
	_ = serve
}
