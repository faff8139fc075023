package server

import (
	"context"
	"net/netip"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
	"github.com/parley-sip/parley/transport"
)

// Router serves requests that are not for the server itself: the proxy,
// later the PBX. It gets requests that passed every stage before it.
type Router interface {
	ServeSIP(tx *transaction.ServerTx)
}

// buildChain makes the server's stages, in the order of RFC 3261's UAS and
// proxy processing (§8.2, §16.3) with policy in front of any work:
//
//	checks → source → abuse → auth → relay → route
func (s *Server) buildChain() *chain {
	return newChain(
		checkStage{s},
		sourceStage{s},
		abuseStage{s},
		authStage{s},
		relayStage{s},
		pbxStage{s},
		routeStage{s},
	)
}

// serveSIP is the transaction layer's handler: every new server
// transaction runs the chain.
func (s *Server) serveSIP(tx *transaction.ServerTx) {
	req := tx.Request()
	s.chain.serve(&Request{Tx: tx, Msg: req, Source: req.Origin.Source.Addr().Unmap()})
}

// inline tells the transaction layer which requests may run on the
// transport's reader goroutine: those no stage may block on.
//
// With data_sync periodic a REGISTER only computes and writes its journal
// record. The proxy looks targets up in the local store's memory and starts
// its branches without blocking: a branch that needs a DNS lookup or a new
// connection goes to a goroutine of its own (proxy.rcontext.
// startBranchLocked), and the responses branches bring back are relayed on
// the reader that receives them (transaction.Layer.RequestFunc). Digest
// checks are computation. So a call wakes no goroutine.
func (s *Server) inline(req *sip.Request) bool { return !s.chain.blocks(req) }

// checkStage applies the request checks of §8.2 and §16.3 that come
// before anything else: URI scheme, Max-Forwards, methods.
type checkStage struct{ s *Server }

func (checkStage) Name() string             { return "checks" }
func (checkStage) Blocks(*sip.Request) bool { return false }
func (st checkStage) Serve(r *Request) bool {
	if r.Msg.Method == sip.ACK {
		return true // the transaction layer gives ACKs to the dispatcher
	}
	if resp := st.s.caps.check(r.Msg); resp != nil {
		st.s.respondStateless(r.Tx, resp)
		return true
	}
	return false
}

// sourceStage marks requests from relay.trusted peers. Banned and flooding
// sources never get this far: the transport drops their packets unread.
type sourceStage struct{ s *Server }

func (sourceStage) Name() string             { return "source" }
func (sourceStage) Blocks(*sip.Request) bool { return false }
func (st sourceStage) Serve(r *Request) bool {
	r.Trusted = inPrefixes(st.s.trusted, r.Source)
	return false
}

func inPrefixes(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// abuseStage drops scanners (by User-Agent; over TCP, TLS and WebSocket
// their source is banned too), and
// requests from a source locked out for guessing passwords that would need
// a challenge. Both are dropped without an answer: a scanner learns
// nothing, not even that a SIP server is here.
type abuseStage struct{ s *Server }

func (abuseStage) Name() string             { return "abuse" }
func (abuseStage) Blocks(*sip.Request) bool { return false }
func (st abuseStage) Serve(r *Request) bool {
	g := st.s.guard
	if g == nil || r.Trusted {
		return false
	}
	if ua, _ := r.Msg.Get("User-Agent"); ua != "" && g.IsScanner(ua) {
		if transport.Reliable(r.Msg.Origin.Transport) {
			// Over a connection the source address is proven; over UDP
			// one forged packet would ban whoever it names.
			g.Ban(r.Source, "scanner", 0)
		}
		r.Tx.Drop()
		return true
	}
	if st.s.wantsCredentials(r.Msg) && g.AuthLocked(r.Source) {
		r.Tx.Drop()
		return true
	}
	return false
}

// authStage authenticates REGISTERs and the initial requests of our users
// (RFC 3261 §22, digest of RFC 7616/8760): 401 for REGISTER (the
// registrar's), 407 for the rest (the proxy's). Wrong answers count
// towards the source's lock-out.
type authStage struct{ s *Server }

func (authStage) Name() string             { return "auth" }
func (authStage) Blocks(*sip.Request) bool { return false }
func (st authStage) Serve(r *Request) bool {
	s := st.s
	if s.verifier == nil {
		if s.ourUserClaimed(r.Msg) {
			// auth: none takes a From of our domain at its word.
			from, _ := r.Msg.From()
			r.User = from.URI.UserUnescaped()
		}
		return false
	}
	register := r.Msg.Method == sip.REGISTER
	if !register && !s.mustAuthenticate(r.Msg) {
		return false
	}
	proxyAuth := !register
	user, res := s.verifier.Verify(r.Msg, proxyAuth)
	if res != auth.OK {
		if res == auth.Failed && s.guard != nil && !r.Trusted {
			if s.guard.AuthFailed(r.Source, user) {
				// Locked out now: this answer is the last it gets.
				r.Tx.Drop()
				return true
			}
		}
		// A challenge commits nothing and is cheap to make again:
		// answer it without keeping the transaction (an INVITE's
		// included: its ACK is recognised by the stateless tag).
		s.respondStateless(r.Tx, s.verifier.Reject(r.Msg, proxyAuth, res))
		return true
	}
	if register {
		to, err := r.Msg.To()
		if err != nil || to.URI.UserUnescaped() != user {
			// §10.3 step 4: the authenticated user may only register
			// its own address-of-record.
			s.respond(r.Tx, sip.NewResponse(r.Msg, sip.StatusForbidden, "Forbidden: may not register another user"))
			return true
		}
	} else {
		from, _ := r.Msg.From()
		if from.URI.UserUnescaped() != user {
			// Authenticated, but claiming to be someone else.
			s.respond(r.Tx, sip.NewResponse(r.Msg, sip.StatusForbidden, "Forbidden: From does not match credentials"))
			return true
		}
		s.verifier.Consume(r.Msg, true) // §22.3: our credentials stop here
	}
	r.User = user
	return false
}

// routeStage hands the request to whoever serves it: the registrar, the
// server itself (OPTIONS to us, a CANCEL that matched nothing), the router
// (the proxy; the PBX when it comes).
type routeStage struct{ s *Server }

func (routeStage) Name() string { return "route" }

// Blocks: a REGISTER waits for its fsync with data_sync: always; with a
// shared store (Redis, PostgreSQL) the registrar and the proxy's lookups
// wait on the network, so every request goes to a worker and a slow store
// never holds up a reader.
func (st routeStage) Blocks(req *sip.Request) bool {
	if st.s.cfg.Store.Kind() != config.StoreFile {
		return true
	}
	return req.Method == sip.REGISTER && st.s.cfg.DataSync == "always"
}

func (st routeStage) Serve(r *Request) bool {
	s, req, tx := st.s, r.Msg, r.Tx
	switch {
	case req.Method == sip.REGISTER:
		s.serveRegister(tx) // the registrar checks Require itself
	case req.Method == sip.OPTIONS && s.forServer(req):
		if resp := s.caps.checkRequire(req); resp != nil {
			s.respondStateless(tx, resp)
			return true
		}
		s.respondStateless(tx, s.caps.options(req))
	case req.Method == sip.CANCEL:
		// A CANCEL that matched no INVITE transaction (§9.2, §16.10).
		s.respond(tx, sip.NewResponse(req, sip.StatusCallTransactionDoesNotExist, ""))
	case s.router == nil:
		resp := sip.NewResponse(req, sip.StatusMethodNotAllowed, "")
		resp.Add("Allow", s.caps.allow)
		s.respond(tx, resp)
	default:
		s.router.ServeSIP(tx)
	}
	return true
}

// forServer reports whether a request is addressed to the server itself:
// no user part, our host, and no Route beyond us.
func (s *Server) forServer(req *sip.Request) bool {
	return req.URI.User == "" && s.isOurs(req.URI.Host) && !s.routesElsewhere(req)
}

// wantsCredentials reports whether the auth stage would challenge req or
// check credentials in it.
func (s *Server) wantsCredentials(req *sip.Request) bool {
	return s.verifier != nil && (req.Method == sip.REGISTER || s.mustAuthenticate(req))
}

// mustAuthenticate says whether a request is an initial request from one
// of our users: those are challenged (RFC 3261 §22.3). In-dialog requests
// and requests from other domains are not (nobody could answer for them),
// nor CANCEL and ACK, which cannot be challenged (§22.1), nor OPTIONS to the
// server itself, which tell nothing a challenge would protect.
func (s *Server) mustAuthenticate(req *sip.Request) bool {
	if req.Method == sip.ACK || req.Method == sip.CANCEL || req.ToTag() != "" {
		return false
	}
	if req.Method == sip.OPTIONS && s.forServer(req) {
		return false // a ping of the server itself (phones keep NAT open so)
	}
	from, err := req.From()
	if err != nil {
		return true
	}
	return s.isOurs(from.URI.Host)
}

// ourUserClaimed reports whether an initial request's From names a user
// of our domain.
func (s *Server) ourUserClaimed(req *sip.Request) bool {
	if req.ToTag() != "" {
		return false
	}
	from, err := req.From()
	return err == nil && from.URI.User != "" && s.isOurs(from.URI.Host)
}

func (s *Server) serveRegister(tx *transaction.ServerTx) {
	req := tx.Request()
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
