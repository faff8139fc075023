// Package admin is Parley's operator view: an HTTP server on its own
// listener (never a SIP listener) with a JSON REST API under /api/
// (documented in openapi.yaml), a web console embedded in the binary, a
// Prometheus /metrics endpoint built from the layers' Stats() snapshots at
// scrape time, and the capture of recent SIP messages per call (a bounded
// ring, pcap download, HEP v3 export to a Homer collector).
//
// Every request is authenticated (a Bearer token, or HTTP basic
// authentication, RFC 7617, against PBKDF2 hashes, RFC 8018 §5.2) and
// logged; sources that present wrong credentials are locked out for a
// while. The server refuses to start on a non-loopback address without
// authentication.
//
// Live calls, hang-up and CDR queries wait for the PBX core: the API has
// no routes for them yet (see README.md).
package admin
