// Package locate finds the servers a SIP URI names, as RFC 3263 §4 says a
// client does: the transport (§4.1: the URI's transport parameter, else
// NAPTR records, else SRV queries for the transports we support, else UDP
// for sip: and TLS for sips:), and the ordered list of addresses to try
// (§4.2: a numeric IP as is, a port given means A/AAAA, else SRV records
// in priority order with weighted random selection within a priority as
// RFC 2782 says, else A/AAAA on the transport's default port). The list
// is the failover order of §4.3: a caller whose request to one address
// fails with a transport error, a timeout or a 503 tries the next.
//
// Two resolvers implement the Resolver interface:
//
//   - DNS talks to configured nameservers (by default those of
//     /etc/resolv.conf) with github.com/miekg/dns, does the whole of §4
//     including NAPTR (RFC 3403), and keeps a small cache that respects
//     the records' TTLs and negative answers (RFC 2308), bounded in size.
//   - System uses the Go resolver (net.Resolver: LookupSRV and
//     LookupNetIP). It cannot ask for NAPTR records, so it behaves as if
//     there were none (§4.1 then has the client query SRV for each
//     transport), and it sees /etc/hosts. It caches nothing. It is the
//     default of the proxy, because it needs no configuration and answers
//     names from /etc/hosts like the rest of the system.
//
// Names under "localhost" (RFC 6761 §6.3) are never sent to DNS for
// NAPTR or SRV: they go straight to the address lookup.
package locate
