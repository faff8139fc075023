package server

import (
	"context"
	"strings"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
)

// Router serves requests that are not for the server itself: the proxy,
// later the PBX. It gets requests that passed the checks and, when the
// server authenticates, authentication.
type Router interface {
	ServeSIP(tx *transaction.ServerTx)
}

// serveSIP is the handler chain for new server transactions, built once:
// request checks (§8.2, §16.3) → REGISTER to the registrar (after digest
// authentication, §10.3 step 3) → OPTIONS for the server itself →
// authentication of our users' initial requests (§22.3, 407) → the router.
func (s *Server) serveSIP(tx *transaction.ServerTx) {
	req := tx.Request()
	if resp := s.caps.check(req); resp != nil {
		s.respondStateless(tx, resp)
		return
	}
	switch {
	case req.Method == sip.ACK:
		return
	case req.Method == sip.REGISTER:
		s.serveRegister(tx) // the registrar checks Require itself
		return
	case req.Method == sip.OPTIONS && req.URI.User == "" && s.isOurs(req.URI.Host):
		if resp := s.caps.checkRequire(req); resp != nil {
			s.respondStateless(tx, resp)
			return
		}
		s.respondStateless(tx, s.caps.options(req))
		return
	case req.Method == sip.CANCEL:
		// A CANCEL that matched no INVITE transaction (§9.2, §16.10).
		s.respond(tx, sip.NewResponse(req, sip.StatusCallTransactionDoesNotExist, ""))
		return
	}
	if s.router == nil {
		resp := sip.NewResponse(req, sip.StatusMethodNotAllowed, "")
		resp.Add("Allow", s.caps.allow)
		s.respond(tx, resp)
		return
	}
	if s.verifier != nil && s.mustAuthenticate(req) {
		user, res := s.verifier.Verify(req, true)
		if res != auth.OK {
			s.respond(tx, s.verifier.Reject(req, true, res))
			return
		}
		from, _ := req.From()
		if from.URI.UserUnescaped() != user {
			// Authenticated, but claiming to be someone else.
			s.respond(tx, sip.NewResponse(req, sip.StatusForbidden, "Forbidden: From does not match credentials"))
			return
		}
		s.verifier.Consume(req, true) // §22.3: our credentials stop here
	}
	s.router.ServeSIP(tx)
}

// inline says which requests the chain serves without waiting on
// anything, so that the transaction layer may run them on the transport's
// reader goroutine instead of handing them to a worker: all of them but a
// REGISTER whose store fsyncs each change (data_sync: always).
//
// With data_sync periodic a REGISTER only computes and writes its journal
// record. The proxy looks targets up in the local store's memory and starts
// its branches without blocking: a branch that needs a DNS lookup or a new
// connection goes to a goroutine of its own (proxy.rcontext.
// startBranchLocked), and the responses branches bring back are relayed on
// the reader that receives them (transaction.Layer.RequestFunc). Digest
// checks are computation. So a call wakes no goroutine. A shared store
// (Redis, PostgreSQL) makes REGISTER and the proxy's lookups wait on the
// network: then every request goes to a worker, so that a slow store never
// holds up a reader.
func (s *Server) inline(req *sip.Request) bool {
	if s.cfg.Store.Kind() != config.StoreFile {
		return false
	}
	if req.Method == sip.REGISTER {
		return s.cfg.DataSync != "always"
	}
	return true
}

// mustAuthenticate says whether a request is an initial request from one
// of our users: those are challenged (RFC 3261 §22.3). In-dialog requests
// and requests from other domains are not (nobody could answer for them),
// nor CANCEL and ACK, which cannot be challenged (§22.1).
func (s *Server) mustAuthenticate(req *sip.Request) bool {
	if req.Method == sip.ACK || req.Method == sip.CANCEL || req.ToTag() != "" {
		return false
	}
	from, err := req.From()
	if err != nil {
		return true
	}
	return s.isOurs(from.URI.Host)
}

func (s *Server) serveRegister(tx *transaction.ServerTx) {
	req := tx.Request()
	if s.verifier != nil {
		user, res := s.verifier.Verify(req, false)
		if res != auth.OK {
			// A challenge commits nothing and is cheap to make again:
			// answer it without keeping the transaction for 32 s.
			s.respondStateless(tx, s.verifier.Reject(req, false, res))
			return
		}
		to, err := req.To()
		if err != nil || to.URI.UserUnescaped() != user {
			// §10.3 step 4: the authenticated user may only register
			// its own address-of-record.
			s.respond(tx, sip.NewResponse(req, sip.StatusForbidden, "Forbidden: may not register another user"))
			return
		}
	}
	ctx := context.Background()
	if s.cfg.DataSync == "always" {
		// Only then does the store make a registration wait (for its
		// fsync); a deadline elsewhere would cost a timer per REGISTER
		// and bound nothing.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, registerTimeout)
		defer cancel()
	}
	s.respond(tx, s.registrar.Register(ctx, req))
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
// timer J. INVITEs still get a transaction (their ACK must be absorbed).
func (s *Server) respondStateless(tx *transaction.ServerTx, resp *sip.Response) {
	addToTag(resp)
	if err := tx.RespondStateless(resp); err != nil {
		s.log.Debug("respond failed", "method", tx.Request().Method, "status", resp.StatusCode, "err", err)
	}
}

// respond sends resp, adding the To tag a final response needs (§8.2.6.2).
func (s *Server) respond(tx *transaction.ServerTx, resp *sip.Response) {
	addToTag(resp)
	if err := tx.Respond(resp); err != nil {
		s.log.Debug("respond failed", "method", tx.Request().Method, "status", resp.StatusCode, "err", err)
	}
}

// addToTag gives a response other than 100 the To tag of §8.2.6.2 unless
// its maker (the registrar, say) did.
func addToTag(resp *sip.Response) {
	if resp.StatusCode > 100 && resp.ToTag() == "" {
		resp.SetToTag(transaction.NewTag())
	}
}
