// Package bench holds side-by-side benchmarks of Parley against peer SIP
// stacks. It is a separate module so that the product module never depends
// on the peers. This file provides the shared message fixtures.
package bench

import (
	_ "embed"
)

// The benchmark messages, byte for byte the same as the constants in
// sip/bench_test.go of the product module.
var (
	// Invite is an initial INVITE as a softphone sends it through its
	// outbound proxy: 16 headers, one Route, and an SDP offer.
	//
	//go:embed testdata/invite.sip
	Invite []byte

	// Register is a REGISTER answering a digest challenge (Authorization).
	//
	//go:embed testdata/register.sip
	Register []byte

	// OK is the 200 OK to Invite: two Vias, three Record-Routes, a Contact
	// and an SDP answer.
	//
	//go:embed testdata/ok.sip
	OK []byte
)

// Message is a named fixture.
type Message struct {
	Name string
	Data []byte
}

// Messages lists the fixtures in table order.
func Messages() []Message {
	return []Message{{"invite", Invite}, {"register", Register}, {"ok", OK}}
}
