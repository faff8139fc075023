package server

import (
	"net/netip"
	"sync/atomic"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
)

// A Stage is one step of the path every new request takes through the
// server (the chain, built once at start-up): checks → source policy →
// abuse filter → authentication → relay policy → registrar | PBX | proxy.
// Each stage either ends the request — answers it, drops it, or keeps it
// to answer later — or passes it on to the next.
//
// The chain is a list, not closures wired into each other: the PBX, trunks
// and the admin API plug in as stages of their own, and the list can be
// read (Server.Stages) to see what a request goes through.
type Stage interface {
	// Name names the stage in logs and statistics.
	Name() string
	// Blocks reports whether serving req may wait — on a disk, a
	// database, another server. A request no stage of the chain blocks on
	// runs on the transport's reader goroutine; any other goes to the
	// transaction layer's bounded worker pool (503 beyond its queue).
	Blocks(req *sip.Request) bool
	// Serve handles r and reports whether it ended there (answered,
	// dropped or kept); false passes it to the next stage.
	Serve(r *Request) (done bool)
}

// Request is a new request on its way through the chain, with what the
// stages found out about it so far.
type Request struct {
	Tx  *transaction.ServerTx
	Msg *sip.Request
	// Source is the address the request came from (IPv4-mapped
	// addresses unmapped).
	Source netip.Addr
	// Trusted is set by the source stage for relay.trusted peers: they
	// may relay without authenticating.
	Trusted bool
	// User is the authenticated user of our domain, "" when the request
	// did not authenticate (or did not have to).
	User string
}

// chain is the list of stages with a counter of the requests each ended.
type chain struct {
	stages []Stage
	ended  []atomic.Uint64
}

func newChain(stages ...Stage) *chain {
	return &chain{stages: stages, ended: make([]atomic.Uint64, len(stages))}
}

// serve runs r through the stages until one ends it.
func (c *chain) serve(r *Request) {
	for i, st := range c.stages {
		if st.Serve(r) {
			c.ended[i].Add(1)
			return
		}
	}
	// The last stage routes everything it gets; reaching here is a bug
	// in the chain's construction. Answer rather than leave the client
	// retransmitting.
	_ = r.Tx.Respond(sip.NewResponse(r.Msg, sip.StatusServerInternalError, "Server Internal Error: no stage served the request"))
}

// blocks reports whether any stage may block on req.
func (c *chain) blocks(req *sip.Request) bool {
	for _, st := range c.stages {
		if st.Blocks(req) {
			return true
		}
	}
	return false
}

// StageStats is how many requests one stage ended.
type StageStats struct {
	Name  string
	Ended uint64
}

// Stages returns the chain's stages in order with the number of requests
// each ended.
func (s *Server) Stages() []StageStats {
	out := make([]StageStats, len(s.chain.stages))
	for i, st := range s.chain.stages {
		out[i] = StageStats{Name: st.Name(), Ended: s.chain.ended[i].Load()}
	}
	return out
}
