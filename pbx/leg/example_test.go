package leg_test

import (
	"context"
	"fmt"

	"github.com/parley-sip/parley/pbx/leg"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
	"github.com/parley-sip/parley/transport"
)

// ExampleDial calls a device from the server's own stack: the responses
// come to the function, the ACK of the 2xx is the leg's, and the dialog is
// then the leg's to use (re-INVITE, UPDATE, BYE).
func ExampleDial() {
	tp := transport.New(transport.Config{})
	st := &leg.Stack{TP: tp, Tx: transaction.New(transaction.Config{}, tp, transaction.HandlerFunc(func(*transaction.ServerTx) {}))}
	tp.SetHandler(st.Tx)
	if err := tp.Listen(transport.ListenSpec{Transport: transport.UDP, Addr: "127.0.0.1:0"}); err != nil {
		fmt.Println(err)
		return
	}
	device, _ := sip.ParseURI("sip:bob@127.0.0.1:5099")
	answered := make(chan bool, 1)
	l, err := leg.Dial(context.Background(), st, leg.Invite{
		Target: device,
		From:   sip.Address{URI: sip.URI{Scheme: "sip", User: "alice", Host: "example.test"}},
		To:     sip.Address{URI: sip.URI{Scheme: "sip", User: "bob", Host: "example.test"}},
	}, func(_ *leg.Leg, resp *sip.Response) {
		if resp == nil || resp.StatusCode >= 200 {
			answered <- resp != nil && resp.IsSuccess()
		}
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if <-answered {
		_, _ = l.Request(context.Background(), sip.BYE, nil)
	}
}
