// Package transaction implements the SIP transaction layer: the four state
// machines of RFC 3261 §17 as amended by RFC 6026, their timers, and the
// matching of messages to transactions.
//
//   - INVITE client (§17.1.1, RFC 6026 §7.2): states Calling, Proceeding,
//     Completed, Accepted, Terminated; timers A, B, D and M (and Timer C of
//     §16.6 step 11 for proxies, when configured).
//   - Non-INVITE client (§17.1.2): Trying, Proceeding, Completed; timers E, F, K.
//   - INVITE server (§17.2.1, RFC 6026 §7.1): Proceeding, Completed,
//     Confirmed, Accepted; timers G, H, I and L, and the 100 Trying of
//     §17.2.1 after 200 ms.
//   - Non-INVITE server (§17.2.2): Trying, Proceeding, Completed; timer J.
//
// Requests are matched to server transactions by branch, sent-by and method
// (§17.2.3; ACK and CANCEL look up their INVITE), with the RFC 2543 fallback
// for branches without the magic cookie. Responses are matched to client
// transactions by branch and CSeq method (§17.1.3). CANCEL handling follows
// §9.1 (client) and §9.2 (server).
//
// # Where the layer sits
//
// The transport calls [Layer.HandleMessage] for every message it receives,
// from its reader goroutines. A retransmitted request is answered with the
// last response and never reaches the transaction user (TU); a new request
// creates a [ServerTx] that is handed to the [Handler] on a bounded pool of
// workers, so a flood cannot grow the number of goroutines: when the queue is
// full the request is answered 503 with Retry-After. The TU answers with
// [ServerTx.Respond], from any goroutine and at any time, also after
// ServeSIP has returned. Outgoing requests go through [Layer.Request], which
// returns a [ClientTx] whose responses arrive on a channel, or
// [Layer.RequestFunc], which hands them to a function on the goroutine that
// received them — no goroutine to wake per response, which is what a proxy
// relaying responses upstream wants. A TU that will send or take nothing
// more through an INVITE transaction after its 2xx (a proxy: later 2xx go
// statelessly) releases it ([ServerTx.Release], [ClientTx.Release]) rather
// than keep it whole in the Accepted state for 64*T1.
//
// The layer sends through a [Sender]. Responses carry the Origin of the
// request they answer (see [Sender]): that is how the transport finds the
// connection a request arrived on (§18.2.2, RFC 3581) without the
// transaction layer knowing about connections.
//
// # Timers and concurrency
//
// Every transaction has its own mutex that guards its state; the
// retransmission and timeout timers are time.AfterFunc callbacks that take
// that mutex and first check that the state they were armed for still
// holds, because a timer that fires while the transaction moves on must do
// nothing. All timer values derive from the
// [Config] of the Layer (T1, T2, T4, Timer C, Timer D); nothing is a package
// global, so tests run the machines on a fake clock with testing/synctest.
// Over reliable transports the retransmission timers (A, E, G) are off and
// the wait timers (D, I, J, K) are zero, as §17.1.1.2, §17.1.2.2, §17.2.1 and
// §17.2.2 say.
//
// The wait timers — D, I, J, K, L and M, which only keep a finished
// transaction around to absorb retransmissions — are not runtime timers:
// their lengths are fixed per layer, so each length is a FIFO lane, and
// one goroutine ends the transactions at the heads of the lanes, in
// batches up to 1/256 of the length late. And a non-INVITE server
// transaction over UDP (timer J: on a registrar, almost every transaction)
// waits as a lingerer that holds only its key, the response's wire bytes
// and the request's Origin (see wait.go).
//
// Transactions live in a table sharded by a hash of their key, so lookups
// from many reader goroutines do not contend on one lock.
//
// # What the layer does not do
//
// The 2xx response to an INVITE and its ACK are not part of the INVITE
// transaction (§13.3.1.4, §17.1.1.3, RFC 6026): the UAS core retransmits the
// 2xx until the ACK arrives, and the UAC core sends the ACK. ACKs that match
// no transaction are given to [Config.OnAck], and responses that match no
// client transaction to [Config.OnStrayResponse] (a proxy forwards a stray
// 2xx statelessly, §16.7). Trying the next address after a transport
// failure (§17.2.4, RFC 3263) is left to the caller.
package transaction
