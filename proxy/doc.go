// Package proxy is Parley's stateful forking proxy: RFC 3261 §16 with the
// routing extensions a registrar-backed proxy needs.
//
// For every request that passed the server's checks (and authentication) the
// proxy
//
//   - validates it (§16.3): Max-Forwards (483), loop detection with the
//     branch hash of §16.6 step 8 (482), Proxy-Require (420);
//   - preprocesses its route information (§16.4): a Request-URI that is one
//     of our own Record-Route values means a strict router sent it, and the
//     last Route becomes the Request-URI again; Route values naming us are
//     removed (loose routing, RFC 3261 §16.12; both values of a double
//     Record-Route, RFC 5658);
//   - determines the targets (§16.5): a Request-URI in one of our domains,
//     with no Route left, is looked up through a [Locator] (the location
//     service of §10, with the Path of RFC 3327 and the NAT flow the
//     REGISTER came over); anything else goes to the Request-URI or the
//     top Route;
//   - forwards a copy to each target (§16.6): new Request-URI, Max-Forwards
//     decremented, Record-Route (doubled when the transport changes,
//     RFC 5658), pre-loaded Route from Path, a Via whose branch carries the
//     loop-detection hash, each in a client transaction of its own; the next
//     hop found by RFC 3263 §4 ([Config.Resolver]: NAPTR, SRV, A/AAAA), and
//     a branch whose address fails (transport error, timeout without any
//     response, 503) sent on to the next address of the list (§4.3);
//   - forks: in parallel to all targets of the highest q-value, then to the
//     next lower q group when every branch of a group failed (§16.6, the
//     q-value ordering of §16.6 step 1 and RFC 3261 §20.10);
//   - processes the responses (§16.7): our Via removed, 1xx (except 100) and
//     every 2xx forwarded at once, CANCEL to the other branches after a 2xx
//     or a 6xx (§16.7 step 10), and when every branch has a final response
//     the best one (step 6: a 6xx, else the lowest class, preferring 401,
//     407, 415, 420 and 484) with the WWW-Authenticate and
//     Proxy-Authenticate challenges of all branches merged (step 7) and a
//     503 turned into 500; a branch that times out counts as 408 (§16.8),
//     one whose transport failed as 503 (§16.9);
//   - cancels (§16.10): a CANCEL from the caller cancels every pending
//     branch; the caller gets the branches' 487;
//   - keeps dialogs with phones behind NAT working: the flows of both ends
//     ride in the user part of our Record-Route (like the flow tokens of
//     RFC 5626 §5.3), and in-dialog requests from one end go over the other
//     end's flow.
//
// The ACK for a 2xx and 2xx responses that outlived their client transaction
// are forwarded statelessly ([Proxy.HandleAck], [Proxy.HandleStrayResponse],
// §16.11), which is how the end-to-end 2xx/ACK exchange of §13.3.1.4 crosses
// a stateful proxy. So at the first 2xx to an INVITE the proxy releases both
// transactions (transaction.ServerTx.Release, ClientTx.Release) instead of
// keeping them whole in the Accepted state of RFC 6026 for 32 s: later 2xx —
// retransmissions, other forks — go up statelessly, and the layer keeps a
// record that absorbs retransmitted INVITEs.
//
// # Wiring
//
// The proxy sits on a [transaction.Layer] and the [transport.Layer] under it.
// Pass [Proxy.HandleAck] as transaction.Config.OnAck and
// [Proxy.HandleStrayResponse] as transaction.Config.OnStrayResponse, and give
// the layer a TimerC above three minutes (§16.6 step 11): without it an
// INVITE branch that rings forever is never cancelled.
//
// # Goroutines
//
// None of its own in the common case. [Proxy.ServeSIP] runs on the
// goroutine that delivers the request (a transport reader, in Parley's
// server) and never blocks it: a branch whose next hop needs a DNS lookup
// or a new connection starts on a goroutine of its own. Branch responses
// are handed over by the transaction layer on the goroutine that received
// them (transaction.Layer.RequestFunc), and the caller's CANCEL by callback
// (transaction.ServerTx.OnCancel). All state of one proxied request (its
// response context, §16.7) is guarded by one mutex.
package proxy
