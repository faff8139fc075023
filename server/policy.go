package server

import (
	"strings"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
)

// relayStage is the relay policy (RFC 3261 §26.3.2.4; Kamailio's "403 Not
// relaying" is the reference behaviour): a request is served only when it
// comes from an authenticated user of ours (or a trusted peer), or is
// addressed to one of our users or the server itself. Anything else — a
// stranger asking us to carry a call to a host that is not ours — gets 403
// and a log line. In-dialog requests pass only along a route this server
// recorded and signed (proxy.RouteVerified): a forged To tag and a Route
// naming us are no way around the policy.
type relayStage struct{ s *Server }

func (relayStage) Name() string             { return "relay" }
func (relayStage) Blocks(*sip.Request) bool { return false }
func (st relayStage) Serve(r *Request) bool {
	s, req := st.s, r.Msg
	if r.Trusted || req.Method == sip.REGISTER || req.Method == sip.CANCEL || s.forServer(req) {
		// REGISTER is the registrar's own (it refuses other domains);
		// an unmatched CANCEL gets 481.
		return false
	}
	if req.ToTag() != "" {
		if s.proxy.RouteVerified(req) || !req.Has("Route") && s.localTarget(req) {
			return false
		}
		s.refuseRelay(r, "Forbidden: Not relaying (not on a route of ours)")
		return true
	}
	local := s.localTarget(req)
	switch {
	case r.User != "":
		return false // our user may call anywhere
	case local && (len(s.inbound) == 0 || inPrefixes(s.inbound, r.Source)):
		return false // how SIP reaches our users
	case local:
		s.refuseRelay(r, "Forbidden: not an inbound peer")
	default:
		s.refuseRelay(r, "Forbidden: Not relaying")
	}
	return true
}

// localTarget reports whether req is for one of our users or the server:
// its Request-URI names us and no Route takes it elsewhere.
func (s *Server) localTarget(req *sip.Request) bool {
	return !s.routesElsewhere(req) && s.proxy.IsOurs(&req.URI)
}

// routesElsewhere reports whether a Route value that does not name us
// would take the request elsewhere (after loose routing removed ours).
func (s *Server) routesElsewhere(req *sip.Request) bool {
	for r, err := range req.Routes() {
		if err != nil || !s.proxy.IsOurs(&r.URI) {
			return true
		}
	}
	return false
}

func (s *Server) refuseRelay(r *Request, reason string) {
	s.relayRefused.Add(1)
	from, _ := r.Msg.From()
	s.log.Warn("relay refused", "source", r.Source.String(), "method", r.Msg.Method,
		"from", from.URI.String(), "ruri", r.Msg.URI.String(), "call-id", r.Msg.CallID(), "reason", reason)
	s.respondStateless(r.Tx, sip.NewResponse(r.Msg, sip.StatusForbidden, reason)) // commits nothing
}

// isOurs reports whether a host is the domain or one of our addresses.
func (s *Server) isOurs(host string) bool {
	h := strings.Trim(host, "[]")
	hosts := *s.ourHosts.Load()
	if hosts[h] {
		return true
	}
	return hosts[strings.ToLower(h)]
}

// respondStateless answers like a stateless UAS (§8.2.7): for answers the
// server regenerates at no cost and that commit nothing — OPTIONS to
// itself, refusals, challenges — no transaction is kept to absorb
// retransmissions (each gets a fresh answer), which saves its memory and
// timers. The To tag is derived from the request (sip.StatelessTag), so
// retransmissions get the same answer and the ACK of an INVITE's is known
// for what it is (see dispatcher.HandleAck).
func (s *Server) respondStateless(tx *transaction.ServerTx, resp *sip.Response) {
	if resp.StatusCode > 100 && resp.ToTag() == "" {
		// Challenges come tagged so already (auth.Verifier.Challenge).
		req := tx.Request()
		resp.SetToTag(sip.StatelessTag(req.CallID(), req.FromTag()))
	}
	s.addServerHeader(resp)
	if err := tx.RespondStateless(resp); err != nil {
		s.log.Debug("respond failed", "method", tx.Request().Method, "status", resp.StatusCode, "err", err)
	}
}

// respond sends resp, adding the To tag a final response needs (§8.2.6.2).
func (s *Server) respond(tx *transaction.ServerTx, resp *sip.Response) {
	if resp.StatusCode > 100 && resp.ToTag() == "" {
		resp.SetToTag(transaction.NewTag())
	}
	s.addServerHeader(resp)
	if err := tx.Respond(resp); err != nil {
		s.log.Debug("respond failed", "method", tx.Request().Method, "status", resp.StatusCode, "err", err)
	}
}

func (s *Server) addServerHeader(resp *sip.Response) {
	if s.cfg.ServerHeader != "" {
		resp.Set("Server", s.cfg.ServerHeader)
	}
}

// dispatcher is where messages that start no transaction go — the ACK for
// a 2xx, responses that matched no client transaction — and finds their
// owner: the ACK of one of our stateless answers ends here, a dialog of
// the PBX (when it comes) gets its own, everything else the proxy, which
// forwards them statelessly (§16.7, §16.11) — an ACK only along a route of
// ours, like every in-dialog request (relayStage).
type dispatcher struct{ s *Server }

// HandleAck is the transaction layer's Config.OnAck.
func (d dispatcher) HandleAck(ack *sip.Request) {
	s := d.s
	if sip.IsStatelessAck(ack) {
		return // acknowledges a challenge or refusal: it ends here
	}
	if s.bridge != nil && s.bridge.HandleAck(ack) {
		return // the ACK of a PBX dialog's 2xx
	}
	if !s.proxy.RouteVerified(ack) && !inPrefixes(s.trusted, ack.Origin.Source.Addr().Unmap()) {
		s.acksDropped.Add(1)
		return
	}
	s.proxy.HandleAck(ack)
}

// HandleStrayResponse is the transaction layer's Config.OnStrayResponse.
func (d dispatcher) HandleStrayResponse(resp *sip.Response) {
	d.s.proxy.HandleStrayResponse(resp)
}
