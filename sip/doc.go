// Package sip is Parley's SIP message layer: requests, responses, URIs and
// header values, their parser (datagram and stream framing) and writer.
//
// It implements the message syntax of RFC 3261 §7 (messages), §19 (URIs,
// including the comparison rules of §19.1.4), §20 (header fields, compact
// forms) and §25 (the ABNF), the tel URI of RFC 3966 as far as a SIP server
// routes on it, and the framing rules of §18.3 (Content-Length on streams,
// datagram bodies). testdata holds a torture set in the spirit of RFC 4475
// and RFC 5118, some of their messages byte for byte (RFC 5118 §4.10's
// tolerated ":::" IPv6 form among them). It does no I/O, starts no goroutines and reads no clock:
// the transport and transaction layers above it own those.
//
// # Shape of the data
//
// A parsed message keeps every header field in order, with its name and value
// exactly as received (folded lines are unfolded to one space, as §7.3.1
// allows). Typed accessors such as [Headers.TopVia], [Headers.From] or
// [Headers.CSeq] parse a value when asked and return small value types whose
// strings point into the message, so reading what a proxy needs costs no
// allocation. Parsing a datagram allocates the copy of its bytes and one block
// for the message and its header list; nothing else on the common path.
//
// # Errors
//
// Input that cannot be accepted yields a [*StatusError] carrying the status
// code a server should answer (400, 413, 416, 505, 513, ...) and a reason that
// names the bad part. When the message could still be framed, the parser
// returns it beside the error so that the caller can answer statelessly. No
// input makes the parser panic; fuzz targets check that.
package sip
