// Package dialplan is the PBX's dial plan: which number rings whom, and how.
//
// A Plan is parsed once from the `dialplan:` key of the config file
// (strict YAML: an unknown key, an unknown action, a forward loop, an
// extension with no target, a duplicate number or a bad timeout is an error
// naming its line) and is then read-only: Match may be called from any
// number of goroutines, costs time proportional to the length of the
// dialled number (a map for exact numbers, a trie for patterns) whatever
// the size of the plan, and allocates nothing.
//
// What a Match gives the B2BUA is a Route: an Action (RingUser, RingGroup,
// Forward, Play, Proxy, or a Hook decoded by a registered ActionType), the
// media strategy (MediaRelay, MediaDirect; MediaNone for Proxy) and whether
// to record. Per-user behaviour that applies wherever a user is rung —
// forwarding unconditionally, on busy, on no answer; do-not-disturb;
// recording — is in UserSettings, read with Plan.User.
//
// Features that later issues add (voicemail, conference, trunk) plug in as
// ActionTypes in a Registry given to Parse: the route key names the
// action, and its Decode reads the action's own config. No package-level
// registry exists: the caller builds one (config.DialPlanActions).
//
// The syntax, key by key, is in README.md. No RFC governs dial plans; the
// pattern syntax follows Asterisk's extension patterns (a subset).
package dialplan
