// Package ng serves rtpengine's "ng" control protocol over Parley's media
// relay, so that a Kamailio (rtpengine module) or OpenSIPS already driving
// rtpengine can use media.Relay instead, and so that one benchmark harness
// drives both relays the same way.
//
// A request is one UDP datagram "<cookie> <bencoded dictionary>" (bencode
// as in BitTorrent's BEP 3) and the reply repeats the cookie. Commands:
//
//   - ping → {"result": "pong"}
//   - offer {call-id, from-tag, sdp} → {"result": "ok", "sdp": SDP for the
//     callee}: the from-tag's party becomes side A of the call's streams.
//   - answer {call-id, from-tag, to-tag, sdp} → the SDP for the caller.
//   - delete {call-id} → ends the call, closing its streams.
//   - query {call-id} → ok if the call exists.
//
// Failures answer {"result": "error", "error-reason": "..."}, with the
// reasons rtpengine uses where one exists ("Unknown call-id", "Ran out of
// ports"). Flags and options of rtpengine (ICE, DTLS, codec manipulation,
// recording, ...) are ignored: the relay does plain RTP/AVP forwarding
// with latching. A retransmitted request (same cookie) is answered from a
// cache of the last 256 replies instead of being executed again.
//
// The decoder bounds messages to one datagram (MaxMessageSize), nesting
// (MaxDepth) and value count (MaxItems).
package ng
