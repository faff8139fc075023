// Package sipparse benchmarks Parley's message core against sipgo's
// (github.com/emiago/sipgo/sip) on the same messages and the same work:
// parse, parse plus the header accesses a proxy makes, and write.
//
// The benchmark bodies live in this non-test file so that both `go test
// -bench` (sipparse_test.go) and the compare program (cmd/compare, which
// calls testing.Benchmark) run the very same code.
package sipparse

import (
	"errors"

	sipgo "github.com/emiago/sipgo/sip"
	"github.com/parley-sip/parley/sip"
)

// View is what a proxy reads from every message it handles: the top Via
// and its branch (transaction key), the tags, Call-ID and CSeq (dialog and
// transaction matching), Max-Forwards, the route set (Route of a request,
// Record-Route of a response) and the Contacts. Both stacks fill the same
// View, and a test checks they agree.
type View struct {
	ViaHost     string
	ViaPort     int
	Branch      string
	FromTag     string
	ToTag       string
	CallID      string
	CSeq        uint32
	Method      string
	MaxForwards int
	Routes      int    // number of Route (request) or Record-Route (response) values
	RouteHost   string // host of the first
	Contacts    int
	ContactHost string // host of the first Contact
}

// AccessParley makes the proxy's accesses through Parley's typed accessors.
func AccessParley(m sip.Message, v *View) error {
	h := m.Hdr()
	via, err := h.TopVia()
	if err != nil {
		return err
	}
	v.ViaHost, v.ViaPort, v.Branch = via.Host, via.Port, via.Branch()
	v.FromTag = h.FromTag()
	v.ToTag = h.ToTag()
	v.CallID = h.CallID()
	cseq, err := h.CSeq()
	if err != nil {
		return err
	}
	v.CSeq, v.Method = cseq.Seq, cseq.Method
	v.MaxForwards, _ = h.MaxForwards()
	// Range over the iterators directly: through a func variable the loop
	// body would escape to the heap.
	v.Routes, v.RouteHost = 0, ""
	if _, ok := m.(*sip.Response); ok {
		for a, err := range h.RecordRoutes() {
			if err != nil {
				return err
			}
			if v.Routes == 0 {
				v.RouteHost = a.URI.Host
			}
			v.Routes++
		}
	} else {
		for a, err := range h.Routes() {
			if err != nil {
				return err
			}
			if v.Routes == 0 {
				v.RouteHost = a.URI.Host
			}
			v.Routes++
		}
	}
	v.Contacts, v.ContactHost = 0, ""
	for a, err := range h.Contacts() {
		if err != nil {
			return err
		}
		if v.Contacts == 0 {
			v.ContactHost = a.URI.Host
		}
		v.Contacts++
	}
	return nil
}

// sipgoMessage is what *sipgo.Request and *sipgo.Response both offer
// beyond the sipgo.Message interface.
type sipgoMessage interface {
	sipgo.Message
	MaxForwards() *sipgo.MaxForwardsHeader
}

var errMissing = errors.New("sipgo: missing header")

// AccessSipgo makes the same accesses through sipgo's API, the way its own
// proxy examples do: the lazily cached top headers (Via, From, To, Call-ID,
// CSeq, Max-Forwards), their parameter lists, and GetHeaders for the
// multi-valued Route/Record-Route and Contact.
func AccessSipgo(m sipgo.Message, v *View) error {
	via := m.Via()
	if via == nil {
		return errMissing
	}
	v.ViaHost, v.ViaPort = via.Host, via.Port
	v.Branch, _ = via.Params.Get("branch")
	from := m.From()
	if from == nil {
		return errMissing
	}
	v.FromTag, _ = from.Params.Get("tag")
	to := m.To()
	if to == nil {
		return errMissing
	}
	v.ToTag, _ = to.Params.Get("tag")
	callID := m.CallID()
	if callID == nil {
		return errMissing
	}
	v.CallID = string(*callID)
	cseq := m.CSeq()
	if cseq == nil {
		return errMissing
	}
	v.CSeq, v.Method = cseq.SeqNo, string(cseq.MethodName)
	v.MaxForwards = 0
	if mf := m.(sipgoMessage).MaxForwards(); mf != nil {
		v.MaxForwards = int(*mf)
	}
	v.Routes, v.RouteHost = 0, ""
	if _, ok := m.(*sipgo.Response); ok {
		for _, h := range m.GetHeaders("record-route") {
			rr, ok := h.(*sipgo.RecordRouteHeader)
			if !ok {
				return errMissing
			}
			if v.Routes == 0 {
				v.RouteHost = rr.Address.Host
			}
			v.Routes++
		}
	} else {
		for _, h := range m.GetHeaders("route") {
			r, ok := h.(*sipgo.RouteHeader)
			if !ok {
				return errMissing
			}
			if v.Routes == 0 {
				v.RouteHost = r.Address.Host
			}
			v.Routes++
		}
	}
	v.Contacts, v.ContactHost = 0, ""
	for _, h := range m.GetHeaders("contact") {
		c, ok := h.(*sipgo.ContactHeader)
		if !ok {
			return errMissing
		}
		if v.Contacts == 0 {
			v.ContactHost = c.Address.Host
		}
		v.Contacts++
	}
	return nil
}
