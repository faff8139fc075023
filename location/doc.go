// Package location keeps the location service of RFC 3261 §10: for each
// address-of-record (AOR), the contact addresses its user agents registered,
// until they expire.
//
// A [Binding] holds what a registrar learns from one Contact of a REGISTER
// (§10.3): the contact URI and its parameters, the absolute expiry, the
// q-value, the Call-ID and CSeq that §10.3 step 7 orders updates by, the
// Path vector of RFC 3327, the RFC 5626 instance-id and reg-id, and the
// source address, local listener and transport the REGISTER arrived on, so
// that a phone behind NAT can be reached back over the same flow
// (RFC 5626 §5, RFC 3581).
//
// A [Store] is the interface the registrar writes through and the proxy reads
// from (Lookup, §16.5 target determination). The registrar's write is
// [Store.Update]: it hands the store a function from the current bindings of
// one AOR to the new ones, and the store applies it atomically — under the
// AOR's shard lock here, as a version-checked compare-and-set in the shared
// stores — so that two servers registering one user at once never lose a
// contact (the §10.3 step 7 checks and the writes are one step). Each
// binding records the [Binding.Node] that holds the phone's connection.
// Two implementations live here:
//
//   - [MemoryStore]: sharded maps under mutexes, packed records. For tests, and
//     as the in-memory index of the file store.
//   - [FileStore]: the embedded default. The memory store plus an append-only
//     journal with per-record CRC32-C; a change returns once its record is
//     durable (group-committed fsync) or, with [FileOptions.SyncPeriod] (what
//     `parley serve` uses unless data_sync is "always"), once it is written,
//     the journal being fsynced every period. When the journal outgrows
//     [FileOptions.CompactBytes] it is compacted into a snapshot written by
//     temp file, fsync and rename; an flock'ed lock file keeps two servers
//     off one data directory.
//
// Stores for clusters implement the same interface: location/redis and
// location/postgres, which keep one value per AOR in the form of
// [AppendBindings]. Their failures wrap [ErrUnavailable] (the registrar
// answers 503 with Retry-After). Every store passes the conformance suite in
// location/storetest.
//
// Bindings expire on a clock ([Options.Clock], injectable for tests):
// lookups never return an expired binding, and a sweeper goroutine drops
// expired bindings from memory. Expiry is not journaled: a binding's
// absolute expiry is in its record, so a restart drops what expired while
// the server was down.
//
// Contact URIs are compared by the rules of RFC 3261 §19.1.4 (see
// [sip.URI.Equal]), so "sip:alice@HOST.example;transport=udp" refreshes
// "sip:alice@host.example;transport=UDP". When a contact carries both
// +sip.instance and reg-id (RFC 5626 §4.2), the binding is keyed by those
// instead: a new flow for the same instance and reg-id replaces the old one
// even when the contact URI changed, and two reg-ids of one instance are two
// bindings even with identical URIs (RFC 5626 §6).
package location
