// Package guard is the abuse protection of a SIP server: a per-source
// packet budget with a ban list (the job of Kamailio's pike + htable
// recipe), an authentication failure lock-out keyed by source, and a
// User-Agent filter for the known scanners. It stands beside the
// signalling path and imports only the standard library; the transport
// reader and the server's stage chain call it (RFC 3261 §26.1 names the
// threats, §26.3.2.4 asks for exactly this kind of rate limit).
//
// # Where it sits
//
//   - [Guard.Admit] on every datagram (and every framed stream message),
//     on the reader goroutine, before parsing: false means drop silently.
//     It costs one shard lock and no allocation.
//   - [Guard.IsScanner] on the User-Agent of a parsed request: true means
//     drop silently (never answer a scanner; an answer tells it we exist).
//   - [Guard.AuthLocked] before challenging a request, [Guard.AuthFailed]
//     when a digest answer is wrong (not for a stale or expired nonce).
//   - [Guard.Ban], [Guard.Unban], [Guard.Bans] and [Guard.Stats] for the
//     admin API and metrics.
//
// # The packet budget
//
// Each source has a budget of MaxRequests packets that refills
// continuously at MaxRequests per Window (a generic cell rate algorithm:
// one timestamp per source, no slots). A source may send MaxRequests
// packets at once and MaxRequests per Window for ever; the first packet
// beyond its budget bans it for BanTime, and logs one line. Pike counts in
// fixed time slots, so a flood that straddles two slots passes twice the
// limit before it is seen; a budget has no such edge. IPv6 sources are
// counted per /64 (IPv6PrefixLen), since a host can pick any address in
// its /64: per address, one attacker would be 2^64 sources. IPv4-mapped
// IPv6 addresses count as their IPv4 address.
//
// # Defaults and why 50 phones behind one NAT address are safe
//
// Window 2 s and MaxRequests 2000: a burst of 2000 packets, and 1000
// packets/s sustained, from one address.
//
// A busy hour of one phone, counting every packet it sends to us:
//
//	re-REGISTER every 60 s with digest (2 requests)    2/60     = 0.033/s
//	keep-alive (CRLF or OPTIONS) every 15 s            1/15     = 0.067/s
//	10 subscriptions (MWI + BLF) refreshed every       20/600   = 0.033/s
//	  600 s, with digest
//	200 OK to BLF NOTIFYs: 12 calls/h, each seen by    360/3600 = 0.100/s
//	  10 watchers, 3 state changes: 12*10*3
//	its own calls: 12/h, ~12 packets each (INVITE,     144/3600 = 0.040/s
//	  ACKs, authenticated INVITE, 180, 200, BYE, ...)
//	                                                   one phone ≈ 0.27/s
//
// 50 phones: 14 packets/s; doubled for retransmissions, 28/s — under 3%
// of the sustained 1000/s. The worst second is a power cut: all 50 phones
// boot at the same instant, and each sends REGISTER twice, 11 SUBSCRIBEs
// twice and answers 11 first NOTIFYs: 50*35 = 1750 packets, below the
// burst of 2000 even when they arrive at the same instant. Ten calls set up in
// the same second with their BLF notifications are 10*(12+30) = 420
// packets. A flood of 10,000 packets/s drains the budget at 9,000/s: it is
// banned after 2000/9000 = 0.22 s (2,222 packets through), and then each
// packet costs only Admit for the 5 minutes of BanTime. Raise MaxRequests
// (keep Window) for a larger office behind one address, or list it in
// Trusted.
//
// # The authentication lock-out
//
// AuthFailures 10 in AuthWindow 1 minute lock a source out for
// AuthBanTime 30 minutes: it gets no challenge, its requests that need
// authentication are dropped. The count is a budget too (10 failures,
// refilling one per 6 s). A phone with a wrong password retries every
// 20–60 s (the usual defaults of Yealink, Polycom, Grandstream and Cisco
// phones), 1–3 failures a minute: three such phones behind one address
// stay under the budget. svcrack, at hundreds of guesses a second, is cut
// after 10. Each further lock-out within AuthBanTimeMax (24 hours) of the
// last one lasts twice as long: 30 minutes, 1, 2, 4, 8, 16 hours, then 24
// hours — 10 guesses a day from the seventh lock-out on.
//
// The lock-out is keyed by source, never by user: a guesser elsewhere
// cannot lock a user out, and the user's own phone (another source) is
// served. A lock-out does not drop packets in Admit: calls from other
// domains and requests inside dialogs from that source still work.
//
// # Bounded memory
//
// At most MaxSources sources (default 32768, about 200 bytes each with the
// index: under 7 MB when full) are tracked, in up to 64 shards, each a slab
// of slots with an index map and a free list. A full shard replaces the
// least busy of a few random sources that are not banned, so under a flood
// of spoofed addresses the table churns but never grows, and a real
// flooder among them keeps its count. When a shard is full of bans, new
// sources pass uncounted (Stats.Untracked) rather than be refused. Idle
// sources are swept from a shard at most once per max(Window, 1 s), by
// whichever call comes by: no goroutine, nothing to close.
//
// # Logging
//
// Every ban and lock-out is one line at level WARN with stable keys that
// fail2ban can read: msg "ban", source (the address), reason ("density",
// "auth", or Ban's reason), until (RFC 3339, UTC); IPv6 bans add block
// (the banned /64), lock-outs add user.
package guard
