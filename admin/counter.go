package admin

import (
	"bytes"
	"net/netip"
	"strconv"
	"sync/atomic"

	"github.com/parley-sip/parley/transport"
)

// messageCounter counts the SIP messages the transport sees, by direction,
// transport and request method or response code, from the first line only
// (a few byte comparisons and one atomic add per message). It is the
// source of parley_sip_requests_total and parley_sip_responses_total,
// installed as a transport.Tap while the admin server runs.
type messageCounter struct {
	requests  [2][len(transports)][len(countedMethods) + 1]atomic.Uint64
	responses [2][len(transports)][600]atomic.Uint64 // code-100
	other     atomic.Uint64                          // neither a request nor a response line
}

// countedMethods are the methods with their own label; others count as
// "other".
var countedMethods = [...]string{"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE", "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE"}

// Tap implements transport.Tap.
func (mc *messageCounter) Tap(dir transport.Direction, tp string, _, _ netip.AddrPort, raw []byte) {
	d := int(dir) & 1
	t := transportCode(tp)
	if code := statusCode(raw); code >= 100 && code < 700 {
		mc.responses[d][t][code-100].Add(1)
		return
	}
	sp := bytes.IndexByte(raw[:min(len(raw), 16)], ' ')
	if sp <= 0 {
		mc.other.Add(1)
		return
	}
	m := raw[:sp]
	for i, name := range countedMethods {
		if string(m) == name {
			mc.requests[d][t][i].Add(1)
			return
		}
	}
	mc.requests[d][t][len(countedMethods)].Add(1)
}

// each calls f for every counter that is not zero.
func (mc *messageCounter) each(req func(dir, tp, method string, n uint64), resp func(dir, tp, code string, n uint64)) {
	dirs := [2]string{transport.Received.String(), transport.Sent.String()}
	for d := range mc.requests {
		for t := range mc.requests[d] {
			tp := transports[t]
			if tp == "" {
				tp = "unknown"
			}
			for i := range mc.requests[d][t] {
				if n := mc.requests[d][t][i].Load(); n > 0 {
					name := "other"
					if i < len(countedMethods) {
						name = countedMethods[i]
					}
					req(dirs[d], tp, name, n)
				}
			}
			for c := range mc.responses[d][t] {
				if n := mc.responses[d][t][c].Load(); n > 0 {
					resp(dirs[d], tp, strconv.Itoa(c+100), n)
				}
			}
		}
	}
}
