// Package media carries the audio of a Parley call: RTP/RTCP sessions on UDP,
// the G.711 codecs, RFC 4733 telephone events, a jitter buffer, WAV file
// sources and sinks, the RTP port allocator, and the media relay of
// anchored calls (Relay: forwarding with latching, no decode; see its doc). The softphone (`parley phone`) plays a WAV file into a
// Session and records what it receives into another; PBX features use the same
// Session, Source and Sink types.
//
// What it implements, and where:
//
//   - RFC 3550 (RTP): the fixed header and its validation (§5.1, §A.1), random
//     SSRC and initial sequence number / timestamp (§5.1), the marker bit on the
//     first packet of a talkspurt (RFC 3551 §4.1), sequence number extension and
//     probation-free source validation (§A.1), cumulative and fractional loss
//     (§6.4.1, §A.3), interarrival jitter (§6.4.1, §A.8), sender and receiver
//     reports every ~5 s with the §6.3.1 randomisation, SDES CNAME (§6.5) and BYE
//     on close (§6.6). RTP port even, RTCP on port+1 (§11), or both on one port
//     with RFC 5761 multiplexing.
//   - RFC 3551 (RTP/AVP): static payload types 0 (PCMU) and 8 (PCMA), 8000 Hz
//     clock, 20 ms default packetisation (§4.5).
//   - ITU-T G.711: µ-law and A-law, table driven, bit exact.
//   - RFC 4733: DTMF named events 0-9 * # A-D (§3.2), sending with a marker on the
//     first packet, updates every packet time and three end packets, all sharing
//     the event timestamp (§2.5.1); receiving that reports each event once
//     despite the redundant end packets (§2.5.2).
//   - Symmetric RTP (RFC 4961) with address latching for clients behind NAT,
//     in Session and in Relay.
//   - RFC 3605 a=rtcp and RFC 5761 rtcp-mux when the relay rewrites SDP
//     (RFC 8866) for the other leg.
//
// The steady-state send and receive paths do not allocate: packets are
// marshalled into, and read from, per-session buffers that are reused. A
// Session runs one goroutine that owns the media clock (sending and playout)
// and one reader goroutine per socket.
package media
