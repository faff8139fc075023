// Package sdp reads and writes session descriptions and runs the offer/answer
// exchange that sets up a call's media.
//
// The user agent carries SDP in INVITE, 200 OK, ACK and re-INVITE bodies; this
// package turns those bodies into a [Session], decides what we answer, and
// tells the media layer where to send RTP and with which codec ([Stream]).
//
// What it implements:
//
//   - RFC 8866 §5 (the description format): every line type v o s i u e p c b
//     t r z k a m, written back in the §5 order with CRLF endings (§5: "CRLF
//     SHOULD be used", so we always send it). Unknown attributes and unknown
//     type letters are kept byte for byte, because phones put private data
//     there (GB28181 y= lines, vendor a= lines) and a B2BUA must not lose it.
//   - RFC 8866 §6 attributes we act on: rtpmap, fmtp, ptime, sendrecv,
//     sendonly, recvonly, inactive (with the session-level default of §6.7).
//   - RFC 3551 §6 static payload types, used when an offer lists a static
//     payload type without a=rtpmap.
//   - RFC 3264 §5 (generating an offer), §6 (answering: same m-lines in the
//     same order, port 0 to reject, §6.1 directions), §7 (offerer processing
//     the answer), §8 (re-offers: o= version increments, hold, adding a
//     stream) and RFC 6337 §5.3 (which direction a hold offer uses).
//   - RFC 4733 §7.1.1 telephone-event negotiation.
//
// Parsing is tolerant where real phones differ from the RFC and where it
// costs nothing to accept them: LF-only line endings, trailing whitespace,
// blank lines, lines out of the §5 order, missing s= and t=. It is strict where
// a mistake would send media to the wrong place or break the round trip:
// v= must come first and be 0, o= must be complete, numbers must be numbers in
// range, single-occurrence lines must not repeat, and NUL or bare CR bytes are
// refused. Errors are [*ParseError] values naming the offending line and
// wrapping one of the sentinel errors ([ErrSyntax], [ErrMissing],
// [ErrDuplicate], [ErrMisplaced]).
//
// Whatever [Parse] accepts, [Session.Marshal] writes so that parsing it again
// gives an equal Session; FuzzParse checks this.
package sdp
