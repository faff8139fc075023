// Package auth is Parley's digest authentication for SIP: the server side
// that challenges requests and verifies their credentials (registrar and
// proxy; later the PBX), credential stores, and the client side a user agent uses to answer a
// 401 or 407.
//
// It implements HTTP Digest as SIP uses it: RFC 3261 §22 (framework, §22.2
// UAS/registrar 401 with WWW-Authenticate, §22.3 proxy 407 with
// Proxy-Authenticate, §22.4 the digest scheme and its uri rule), RFC 7616
// §3.3–§3.4 (challenge and response, the SHA-256 and -sess algorithms, qop,
// nc and cnonce, stale) with the RFC 2069 no-qop form kept for old phones,
// and RFC 8760 (SHA-256 for SIP; §2.4: offer one challenge per algorithm,
// the preferred one first). The server offers MD5 alone unless configured:
// common phones give up on a SHA-256 challenge rather than answer the MD5
// one beside it, and offering both protects nothing from an attacker on
// the path, who strips the SHA-256 challenge; [SHA256] alone is the
// stronger setting where every client supports it.
//
// # Server side
//
// A [Verifier] is built once from a [Config] naming the realm and a
// [CredentialStore]. For each request that needs authentication the caller
// runs [Verifier.Verify] and acts on the [Result]: OK lets it through, any
// other result is turned into the right answer by [Verifier.Reject] (a fresh
// challenge, a challenge with stale=true, 400 or 500).
//
// Nonces are stateless: each carries its creation time and an HMAC over it,
// so every node that shares [Config.Key] accepts the nonces of the others and
// expiry needs no table. Only replay protection keeps state: a bounded table
// of the highest nonce-count seen per nonce (RFC 7616 §3.4: nc must grow).
//
// Wrong password and unknown user give the same Result and the same
// response, after a comparable amount of hashing, so that a scanner cannot
// learn which extensions exist. Passwords and HA1 values never appear in
// errors or log strings; [Secret] redacts itself when printed.
//
// # Client side
//
// A [Client] holds one user's credentials, remembers the last challenge per
// realm and counts nc, and adds Authorization or Proxy-Authorization to a
// request that was challenged ([Client.Authorize]) or that reuses a
// remembered challenge ([Client.Apply]). [Answer] is the stateless building
// block. Both prefer SHA-256 over MD5 and qop=auth.
package auth
