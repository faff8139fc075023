package transaction

import (
	"context"
	"encoding/hex"
	"math/rand/v2"
	"net/netip"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// Sender is the transport layer as seen from here.
//
// SendRequest sends a request to the resolved next hop dst. SendResponse
// sends a response back where the request came from: the layer copies the
// Origin of the request a response answers onto resp.Origin before it calls
// SendResponse, so the transport can use the connection the request arrived
// on (resp.Origin.Transport, Source and Local) and otherwise route by the top
// Via and its received/rport parameters (§18.2.2, RFC 3581). A Sender is
// called from many goroutines at once, and while the transaction's lock is
// held, so it must not call back into the Layer.
type Sender interface {
	SendRequest(req *sip.Request, dst transport.Addr) error
	SendResponse(resp *sip.Response) error
}

// RequestPreparer is an optional Sender method: it is given each request
// before its client transaction starts and returns the destination actually
// used, so that a request the transport moves from UDP to TCP (RFC 3261
// §18.1.1) runs the reliable-transport timers, not UDP retransmissions.
type RequestPreparer interface {
	PrepareRequest(req *sip.Request, dst transport.Addr) transport.Addr
}

// Handler is the transaction user of new server transactions.
//
// ServeSIP runs on one of the layer's workers for every request that starts
// a new server transaction, except ACK (see Config.OnAck) and a CANCEL that
// matches an INVITE transaction (the layer answers it and closes
// tx.Cancelled()). A CANCEL that matches nothing does reach the handler: a
// user agent answers it 481 (§9.2), a proxy forwards it statelessly
// (§16.10). ServeSIP may answer before it returns, or keep tx and answer
// later from any goroutine; a worker blocked in ServeSIP is a worker less for
// new requests.
type Handler interface {
	ServeSIP(tx *ServerTx)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(tx *ServerTx)

// ServeSIP calls f(tx).
func (f HandlerFunc) ServeSIP(tx *ServerTx) { f(tx) }

// Stats are counters of a Layer since New.
type Stats struct {
	ServerTransactions uint64 // server transactions created
	ClientTransactions uint64 // client transactions created (CANCELs included)
	Retransmissions    uint64 // retransmitted requests and responses absorbed
	Timeouts           uint64 // transactions ended by timer B, F or H (or no answer to a CANCEL)
	Rejected           uint64 // 503s sent because the queue was full or the layer shutting down
	OverLimit          uint64 // 503s sent because MaxServerTransactions or MaxPerSource was reached
	TransportErrors    uint64 // transactions ended because the Sender failed
	StrayResponses     uint64 // responses that matched no client transaction
	StrayAcks          uint64 // ACKs that matched no server transaction
	DroppedResponses   uint64 // provisional responses dropped on a full Responses channel
	Malformed          uint64 // messages without a usable Via or CSeq
	HandlerPanics      uint64 // ServeSIP calls that panicked (answered 500)
	Live               int64  // transactions alive now
	// Lingering counts the completed non-INVITE server transactions over
	// UDP kept, after they ended, as records answering retransmissions
	// until timer J (not in Live).
	Lingering int64
}

type counters struct {
	server, client, retrans, timeouts, rejected, transport atomic.Uint64
	strayResp, strayAck, dropped, malformed, handlerPanics atomic.Uint64
	overLimit                                              atomic.Uint64
}

// sourceBuckets is the size of the table of per-source transaction
// counters (a power of two).
const sourceBuckets = 4096

// Layer is the transaction layer of one SIP stack. Create it with New.
type Layer struct {
	cfg        Config
	sender     Sender
	handler    Handler
	retryAfter string

	servers *table[serverKey, *ServerTx]
	clients *table[clientKey, *ClientTx]
	// waits runs the wait timers D, I, J, K, L and M (see wait.go) and
	// keeps the records of timer J (see linger.go).
	waits *waitQueues

	// queue feeds the workers; it is never closed, so a reader goroutine
	// racing with Shutdown cannot send on a closed channel.
	queue   chan *ServerTx
	quit    chan struct{}
	workers sync.WaitGroup

	closing atomic.Bool
	live    atomic.Int64
	// pending counts transactions that have not settled: no final response
	// sent (server) or received (client). Shutdown waits for these only;
	// a settled transaction merely lingers to absorb retransmissions.
	pending atomic.Int64
	// servers counts live server transactions, perSource those of each
	// hashed source address (see Config.MaxPerSource); only kept when
	// the bounds are set.
	serversLive atomic.Int64
	perSource   *[sourceBuckets]atomic.Int32
	drained     chan struct{}
	drainOnce   sync.Once
	quitOnce    sync.Once

	stats counters
}

// New returns a Layer that sends through s and gives new server
// transactions to h, and starts its workers. Zero Config fields take their
// defaults; call cfg.Validate first to reject bad values.
func New(cfg Config, s Sender, h Handler) *Layer {
	cfg = cfg.withDefaults()
	l := &Layer{
		cfg:     cfg,
		sender:  s,
		handler: h,
		servers: newTable[serverKey, *ServerTx](),
		clients: newTable[clientKey, *ClientTx](),
		waits:   newWaitQueues(64*cfg.T1, 64*cfg.T1, cfg.T4, cfg.TimerD),
		queue:   make(chan *ServerTx, cfg.QueueSize),
		quit:    make(chan struct{}),
		drained: make(chan struct{}),
	}
	if cfg.RetryAfter > 0 {
		l.retryAfter = strconv.Itoa(cfg.RetryAfter)
	}
	if cfg.MaxPerSource > 0 {
		l.perSource = new([sourceBuckets]atomic.Int32)
	}
	l.workers.Add(cfg.Workers + 1)
	for range cfg.Workers {
		go l.worker()
	}
	go func() {
		defer l.workers.Done()
		l.waits.run(l.quit)
	}()
	return l
}

// Config returns the configuration in effect, defaults filled in.
func (l *Layer) Config() Config { return l.cfg }

// Stats returns a snapshot of the counters.
func (l *Layer) Stats() Stats {
	c := &l.stats
	return Stats{
		ServerTransactions: c.server.Load(),
		ClientTransactions: c.client.Load(),
		Retransmissions:    c.retrans.Load(),
		Timeouts:           c.timeouts.Load(),
		Rejected:           c.rejected.Load(),
		TransportErrors:    c.transport.Load(),
		StrayResponses:     c.strayResp.Load(),
		StrayAcks:          c.strayAck.Load(),
		DroppedResponses:   c.dropped.Load(),
		OverLimit:          c.overLimit.Load(),
		Malformed:          c.malformed.Load(),
		HandlerPanics:      c.handlerPanics.Load(),
		Live:               l.live.Load(),
		Lingering:          int64(l.waits.lingers.len()),
	}
}

// HandleMessage takes a message from the transport. It is called by the
// transport's reader goroutines, concurrently, and returns quickly: the
// handler runs on the layer's workers. The layer keeps msg; the caller must
// not reuse it.
func (l *Layer) HandleMessage(msg sip.Message) {
	switch m := msg.(type) {
	case *sip.Request:
		l.handleRequest(m)
	case *sip.Response:
		l.handleResponse(m)
	}
}

func (l *Layer) handleRequest(req *sip.Request) {
	key, ok := serverKeyOf(req)
	if !ok {
		l.stats.malformed.Add(1)
		return
	}
	switch req.Method {
	case sip.ACK:
		if tx := l.findServer(key, req); tx != nil {
			tx.receiveAck(req)
			return
		}
		l.stats.strayAck.Add(1)
		if l.cfg.OnAck != nil {
			l.cfg.OnAck(req)
		}
		return
	case sip.CANCEL:
		if tx := l.findServer(key, req); tx != nil {
			tx.receiveRetransmission()
			return
		}
		if l.resendLingering(&key) {
			return
		}
		if inv := l.findServer(key.withMethod(sip.INVITE), req); inv != nil {
			l.cancelServer(key, req, inv)
			return
		}
	default:
		if tx := l.findServer(key, req); tx != nil {
			tx.receiveRetransmission()
			return
		}
		if l.resendLingering(&key) {
			return
		}
	}
	l.newServer(key, req)
}

// resendLingering answers a retransmission of a request whose non-INVITE
// transaction has completed and waits out timer J as a record (see
// linger.go): the final response goes out again. A released INVITE's
// record (ServerTx.Release) absorbs it.
func (l *Layer) resendLingering(key *serverKey) bool {
	if key.legacy != "" {
		return false
	}
	wire, origin, ok := l.waits.lingers.find(key)
	if !ok {
		return false
	}
	l.stats.retrans.Add(1)
	if len(wire) == 0 {
		return true // an INVITE answered 2xx: absorbed (RFC 6026 §7.1)
	}
	m, err := sip.Parse(wire)
	if resp, isResp := m.(*sip.Response); err == nil && isResp {
		resp.Origin = origin
		if l.sender.SendResponse(resp) != nil {
			l.stats.transport.Add(1)
		}
	}
	return true
}

// findServer looks the key up and, for the RFC 2543 fallback, checks what
// the key could not hold.
func (l *Layer) findServer(key serverKey, req *sip.Request) *ServerTx {
	tx, ok := l.servers.get(key)
	if !ok {
		return nil
	}
	if key.legacy != "" && !tx.legacyMatch(req) {
		return nil
	}
	return tx
}

func (l *Layer) newServer(key serverKey, req *sip.Request) {
	if l.closing.Load() {
		// Stateless: a transaction would keep Shutdown waiting for it.
		l.stats.rejected.Add(1)
		resp := l.busy(req)
		resp.Origin = req.Origin
		_ = l.sender.SendResponse(resp)
		return
	}
	tx := newServerTx(l, key, req)
	if !l.admit(tx) {
		l.stats.overLimit.Add(1)
		resp := l.busy(req)
		resp.Origin = req.Origin
		_ = l.sender.SendResponse(resp)
		return
	}
	if cur, fresh := l.servers.getOrPut(key, tx); !fresh {
		// Another reader goroutine created it a moment ago: this copy is
		// a retransmission. (Or, for RFC 2543, a request that differs
		// from a live one only in its To tag: nothing sane; drop it.)
		l.release(tx)
		if key.legacy == "" || cur.legacyMatch(req) {
			cur.receiveRetransmission()
		}
		return
	}
	l.started()
	l.stats.server.Add(1)
	if l.cfg.Inline != nil && l.cfg.Inline(req) {
		// Quick, non-blocking work runs on the transport's reader
		// goroutine: no handoff, no thread to wake (bounded by the
		// number of readers). An INVITE the handler kept unanswered
		// (armTrying checks) gets its automatic 100 all the same.
		l.serve(tx)
		if tx.invite && l.cfg.TryingDelay > 0 {
			tx.armTrying()
		}
		return
	}
	select {
	case l.queue <- tx:
		if tx.invite && l.cfg.TryingDelay > 0 {
			tx.armTrying()
		}
	default:
		l.stats.rejected.Add(1)
		_ = tx.Respond(l.busy(req))
	}
}

// admit counts a new server transaction against MaxServerTransactions
// and MaxPerSource, and reports false (counting nothing) when either is
// reached. release undoes it when the transaction ends.
func (l *Layer) admit(tx *ServerTx) bool {
	if limit := int64(l.cfg.MaxServerTransactions); limit > 0 {
		if l.serversLive.Add(1) > limit {
			l.serversLive.Add(-1)
			return false
		}
		tx.counted = true
	}
	if l.perSource != nil {
		b := sourceBucket(tx.req.Origin.Source.Addr())
		if l.perSource[b].Add(1) > int32(l.cfg.MaxPerSource) {
			l.perSource[b].Add(-1)
			if tx.counted {
				l.serversLive.Add(-1)
				tx.counted = false
			}
			return false
		}
		tx.bucket = b + 1
	}
	return true
}

func (l *Layer) release(tx *ServerTx) {
	if tx.counted {
		tx.counted = false
		l.serversLive.Add(-1)
	}
	if tx.bucket != 0 {
		l.perSource[tx.bucket-1].Add(-1)
		tx.bucket = 0
	}
}

// sourceBucket hashes an address (IPv4-mapped IPv6 as IPv4) to a counter.
func sourceBucket(a netip.Addr) uint16 {
	b := a.Unmap().As16()
	h := uint32(2166136261)
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	return uint16(h & (sourceBuckets - 1))
}

// busy builds the 503 for a request the layer will not serve.
func (l *Layer) busy(req *sip.Request) *sip.Response {
	resp := sip.NewResponse(req, 503, "")
	if l.retryAfter != "" {
		resp.Add("Retry-After", l.retryAfter)
	}
	resp.SetToTag(NewTag()) // §8.2.6.2
	return resp
}

// cancelServer answers a CANCEL that matched the INVITE transaction inv
// (§9.2): 200 from the layer, in a non-INVITE transaction of its own so
// that retransmitted CANCELs get it again, and a signal to the TU.
func (l *Layer) cancelServer(key serverKey, req *sip.Request, inv *ServerTx) {
	tx := newServerTx(l, key, req)
	if cur, fresh := l.servers.getOrPut(key, tx); !fresh {
		cur.receiveRetransmission()
		return
	}
	l.started()
	l.stats.server.Add(1)
	resp := sip.NewResponse(req, 200, "")
	// §9.2: the To tag SHOULD be that of the INVITE's response.
	tag := inv.toTag()
	if tag == "" {
		tag = NewTag()
	}
	resp.SetToTag(tag)
	_ = tx.Respond(resp)
	inv.cancel()
}

func (l *Layer) handleResponse(resp *sip.Response) {
	key, ok := clientKeyOf(&resp.Headers)
	if !ok {
		l.stats.malformed.Add(1)
		return
	}
	if tx, ok := l.clients.get(key); ok {
		tx.receive(resp)
		return
	}
	l.stats.strayResp.Add(1)
	if l.cfg.OnStrayResponse != nil {
		l.cfg.OnStrayResponse(resp)
	}
}

func (l *Layer) worker() {
	defer l.workers.Done()
	for {
		select {
		case tx := <-l.queue:
			l.serve(tx)
		case <-l.quit:
			return
		}
	}
}

func (l *Layer) serve(tx *ServerTx) {
	if tx.terminated() {
		return // shut down while it waited in the queue
	}
	defer func() {
		if r := recover(); r != nil {
			// A bug in one handler must not take the whole server down,
			// nor leave the client retransmitting until it times out.
			l.stats.handlerPanics.Add(1)
			l.cfg.Logger.Error("transaction: handler panic", "method", tx.req.Method, "call-id", tx.req.CallID(), "panic", r, "stack", string(debug.Stack()))
			_ = tx.respondIfUnanswered(500)
		}
	}()
	l.handler.ServeSIP(tx)
}

// ended is called once by each transaction when it terminates.
func (l *Layer) ended() { l.live.Add(-1) }

// started is called once by each new transaction.
func (l *Layer) started() {
	l.live.Add(1)
	l.pending.Add(1)
}

// settled is called once by each transaction when its final response has
// been sent or received, or when it terminates without one.
func (l *Layer) settled() {
	if l.pending.Add(-1) == 0 && l.closing.Load() {
		l.drainOnce.Do(func() { close(l.drained) })
	}
}

// Shutdown shuts the layer down the way net/http does: new requests are
// answered 503 (statelessly) and Request fails with ErrShutdown; client
// transactions still waiting for a final response end at once with
// ErrShutdown (a ringing INVITE is sent a CANCEL first); Shutdown then waits
// until every transaction has settled — sent or received its
// final response — or ctx is done. Then the remaining transactions, which
// would only have lingered to absorb retransmissions (timers D, I, J, K,
// L, M), are ended with ErrShutdown and their timers stopped; when ctx
// ended first, ctx.Err() is returned. Finally it stops the workers; a handler
// still running is not interrupted. Messages for live transactions are still
// processed while Shutdown waits (ACKs, CANCELs, retransmissions,
// responses).
func (l *Layer) Shutdown(ctx context.Context) error {
	l.closing.Store(true)
	// Outgoing requests still waiting for their final response are given
	// up at once, an INVITE that is ringing with a CANCEL: what waits for
	// them — a proxied request — gets its answer now, not after timer B,
	// F or C, so a node with a silent peer still restarts in moments.
	for _, tx := range l.clients.all() {
		tx.giveUp()
	}
	if l.pending.Load() == 0 {
		l.drainOnce.Do(func() { close(l.drained) })
	}
	var err error
	select {
	case <-l.drained:
	case <-ctx.Done():
		err = ctx.Err()
	}
	for _, tx := range l.servers.all() {
		tx.abort(ErrShutdown)
	}
	for _, tx := range l.clients.all() {
		tx.abort(ErrShutdown)
	}
	l.waits.lingers.clear()
	l.quitOnce.Do(func() { close(l.quit) })
	return err
}

// NewBranch returns a fresh branch parameter value: the magic cookie and 96
// random bits, unique in space and time as §8.1.1.7 requires.
func NewBranch() string {
	var b [len(sip.MagicCookie) + 24]byte
	copy(b[:], sip.MagicCookie)
	randomHex(b[len(sip.MagicCookie):])
	return string(b[:])
}

// NewTag returns a fresh From/To tag value (§19.3): 64 random bits.
func NewTag() string {
	var b [16]byte
	randomHex(b[:])
	return string(b[:])
}

// randomHex fills dst (an even length up to 32) with random hex digits.
func randomHex(dst []byte) {
	var r [16]byte
	n := len(dst) / 2
	for i := 0; i < n; i += 8 {
		v := rand.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			r[i+j] = byte(v >> (8 * j))
		}
	}
	hex.Encode(dst, r[:n])
}
