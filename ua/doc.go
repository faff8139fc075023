// Package ua is Parley's SIP user agent: the UAC and UAS cores of RFC 3261
// on a transport and transaction stack of its own, with the media of each
// call. The softphone (`parley phone`) is a thin layer over it; the PBX,
// when it comes, is to build its call legs on it.
//
// What it implements, and where:
//
//   - RFC 3261 §8 (requests outside a dialog, the pre-loaded Route of an
//     outbound proxy, §8.1.3.5 retries with credentials; §22.2 digest
//     answers come from package auth), §10.2 (REGISTER with refresh before
//     the granted expiry and removal on Close; 423 Min-Expires), §12 (dialogs,
//     through package dialog; 481 for requests outside a dialog, 500 for an
//     out-of-order CSeq), §13 (INVITE: early dialogs from 18x with or without
//     SDP, the ACK for 2xx sent by the UA core and re-sent on each
//     retransmitted 2xx, the UAS core's 2xx retransmission with T1 doubling to
//     T2 until the ACK comes and a BYE after 64*T1 without one, §13.3.1.4),
//     §9 (CANCEL of an unanswered call; 487 to a cancelled incoming one),
//     §14 (re-INVITE for hold and resume, answering the far end's, and the
//     §14.1 glare rule: 491 to a re-INVITE that crosses ours, and a retry after
//     the randomized delay on receiving 491), §15 (BYE from either side).
//   - RFC 3264 offer/answer and RFC 6337 §5.3 hold through package sdp; RTP
//     through package media (one session per call, symmetric RTP, RFC 4733
//     DTMF in both directions).
//   - RFC 3428 MESSAGE, sending and receiving (any content type; text/plain
//     by default), and OPTIONS (§11) both ways.
//   - RFC 3262 reliable provisional responses. INVITEs say Supported:
//     100rel and Allow PRACK, and Require: 100rel is accepted. As UAC: a
//     reliable 18x (Require: 100rel, RSeq) of our early dialog is PRACKed
//     once, in a non-INVITE transaction of its own with RAck; its
//     retransmissions and any out of order RSeq are absorbed (§4); an SDP
//     in it is the answer to the INVITE's offer (§5), so the 2xx's SDP is
//     not taken again. As UAS: the 180 goes reliably when the INVITE
//     requires 100rel, or supports it and Config.Reliable18x is set: RSeq
//     from a random start below 2^31, retransmitted from T1, doubling,
//     until the PRACK (answered 200; 481 when its RAck matches nothing
//     pending), the INVITE refused with 500 after 64*T1 without one, and
//     the 2xx held back until the PRACK came (§3). Not implemented: PRACKs
//     to reliable 18x of other forks than the call's dialog, offers or
//     answers in PRACK and its 200 (our reliable 18x carry no SDP, and our
//     INVITEs always offer), and reliable 183 with early media from the UAS.
//   - RFC 3311 UPDATE. Sending: [Call.Update], [Call.HoldByUpdate] and
//     [Call.ResumeByUpdate] offer in an UPDATE in the confirmed dialog and
//     apply the answer of its 2xx; a 491 is retried after the §14.1 delay,
//     481 or a timeout ends the call, another failure leaves the session
//     as it was (§5.1). Receiving (§5.2): a target refresh, with an offer
//     answered in the 200; an offer while ours is out (our UPDATE or
//     re-INVITE, or our INVITE's offer not yet answered in a reliable 18x)
//     gets 491, one while we still owe the far end an answer (its
//     re-INVITE before the ACK, its unanswered INVITE in an early dialog)
//     500 with Retry-After. Not implemented: sending UPDATE in an early
//     dialog, and UPDATE without SDP from our side.
//
// # Concurrency
//
// Requests arrive on the transaction layer's workers, ACKs on the
// transport's reader goroutines; the application calls a [Call]'s methods
// from its own goroutines. Each Call guards its state with a mutex and never
// holds it across network waits; one offer/answer exchange at a time per
// call is enforced by a separate token (§14.1), which is also how glare is
// detected.
package ua
