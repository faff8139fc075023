package guard

import (
	"cmp"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Reasons of the bans the Guard makes itself, as they appear in Ban.Reason
// and in the "reason" key of the log line.
const (
	ReasonDensity = "density" // more packets than the budget allows
	ReasonAuth    = "auth"    // too many failed digest answers (a lock-out)
	ReasonAdmin   = "admin"   // Ban called with an empty reason
)

// Ban is one active ban or lock-out.
type Ban struct {
	// Source is the banned block: a /32 for IPv4, a /IPv6PrefixLen
	// (default /64) for IPv6.
	Source netip.Prefix
	// Reason is ReasonDensity, ReasonAuth or what Ban was given.
	// A ReasonAuth entry is a lock-out (AuthLocked), not a packet ban.
	Reason string
	Until  time.Time
}

// Stats are the counters of a Guard since New, and the sizes now.
type Stats struct {
	// Admitted counts packets Admit let through.
	Admitted uint64
	// DroppedBanned counts packets Admit dropped from a banned source;
	// DroppedDensity those that exceeded the budget (each one starts a ban).
	DroppedBanned  uint64
	DroppedDensity uint64
	// DroppedScanner counts IsScanner answers true, DroppedAuth AuthLocked
	// answers true: requests the caller drops.
	DroppedScanner uint64
	DroppedAuth    uint64
	// Untracked counts packets admitted without being counted because the
	// source table was full of banned and locked-out sources.
	Untracked uint64
	// Evicted counts idle sources replaced because the table was full.
	Evicted uint64

	// BansDensity, BansAuth and BansOther count the bans begun since New:
	// by the packet budget, by the auth lock-out, by Ban. BansTotal is
	// their sum.
	BansDensity, BansAuth, BansOther, BansTotal uint64
	// BansActive is the number of bans and lock-outs in force now.
	BansActive int
	// SourcesTracked is the number of sources in the table now.
	SourcesTracked int
}

// Guard is the abuse protection of one server. All methods are safe for
// concurrent use; Admit is the only one meant for every packet.
type Guard struct {
	cfg       Config
	epoch     time.Time
	realClock bool // Config.Now was nil: read only the monotonic clock
	shards    []shard
	mask      uint64 // len(shards)-1
	seed      uint64
	v6Mask    srcKey
	scanner   matcher

	interval, burst         int64 // packet budget: nanoseconds per packet, and its depth
	authInterval, authBurst int64
	banTime, authBanTime    int64
	authBanTimeMax          int64
	sweepEvery              int64

	droppedScanner, droppedAuth       atomic.Uint64
	bansDensity, bansAuth, bansOthers atomic.Uint64
}

// srcKey is a source block as the table keys it: the 16 bytes of the
// IPv6 form (IPv4 as IPv4-mapped), masked to the block.
type srcKey struct{ hi, lo uint64 }

// source is the state of one tracked source. The times are nanoseconds
// since Guard.epoch; zero means unset.
type source struct {
	key       srcKey
	tat       int64 // theoretical arrival time of the packet budget (GCRA)
	banUntil  int64
	authTat   int64 // the same for failed digest answers
	authUntil int64
	// authForget is when the lock-out history is forgotten; authStrikes
	// counts the lock-outs before it (each doubles the next one).
	authForget  int64
	authStrikes uint8
	reason      string // of the ban until banUntil
	live        bool
}

// shard is one lock's worth of the source table: a slab of slots, an index
// into it, and a free list, so steady state allocates nothing.
type shard struct {
	mu        sync.Mutex
	index     map[srcKey]int32
	slots     []source
	free      []int32
	limit     int
	nextSweep int64
	rnd       uint64 // xorshift state for picking eviction candidates

	admitted, droppedBanned, droppedDensity, untracked, evicted atomic.Uint64

	_ [64]byte // keep neighbouring shards' hot fields off one cache line
}

const maxShards = 64

// New returns a Guard for cfg, with zero fields at their defaults, or an
// error naming the invalid field.
func New(cfg Config) (*Guard, error) {
	realClock := cfg.Now == nil
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	g := &Guard{cfg: cfg, epoch: cfg.Now(), realClock: realClock, seed: rand.Uint64() | 1}
	if cfg.MaxRequests > 0 {
		g.interval = int64(cfg.Window) / int64(cfg.MaxRequests)
		g.burst = g.interval * int64(cfg.MaxRequests)
	}
	if cfg.AuthFailures > 0 {
		g.authInterval = int64(cfg.AuthWindow) / int64(cfg.AuthFailures)
		g.authBurst = g.authInterval * int64(cfg.AuthFailures)
	}
	g.banTime, g.authBanTime = int64(cfg.BanTime), int64(cfg.AuthBanTime)
	g.authBanTimeMax = int64(cfg.AuthBanTimeMax)
	g.sweepEvery = max(int64(cfg.Window), int64(time.Second))
	g.v6Mask = prefixMask(cfg.IPv6PrefixLen)
	g.scanner = newMatcher(cfg.ScannerUserAgents)

	n := 1
	for n < maxShards && n*2 <= cfg.MaxSources {
		n *= 2
	}
	g.shards = make([]shard, n)
	g.mask = uint64(n - 1)
	for i := range g.shards {
		sh := &g.shards[i]
		sh.index = make(map[srcKey]int32)
		sh.limit = cfg.MaxSources / n
		if i < cfg.MaxSources%n {
			sh.limit++
		}
		sh.rnd = rand.Uint64() | 1
	}
	return g, nil
}

// Config returns the configuration in force, defaults filled in.
func (g *Guard) Config() Config {
	cfg := g.cfg
	cfg.ScannerUserAgents = slices.Clone(cfg.ScannerUserAgents)
	cfg.Trusted = slices.Clone(cfg.Trusted)
	return cfg
}

// now is the time in nanoseconds since New. On the real clock it is
// time.Since, which reads only the monotonic clock: half the cost of
// time.Now, which reads the wall clock too, and the clock is most of what
// a dropped packet costs.
func (g *Guard) now() int64 {
	if g.realClock {
		return int64(time.Since(g.epoch))
	}
	return int64(g.cfg.Now().Sub(g.epoch))
}

func (g *Guard) timeAt(n int64) time.Time { return g.epoch.Add(time.Duration(n)) }

func prefixMask(bits int) srcKey {
	var k srcKey
	switch {
	case bits >= 128:
		k = srcKey{^uint64(0), ^uint64(0)}
	case bits > 64:
		k = srcKey{^uint64(0), ^uint64(0) << (128 - bits)}
	case bits > 0:
		k = srcKey{^uint64(0) << (64 - bits), 0}
	}
	return k
}

// keyOf maps an address to its table key: IPv4-mapped IPv6 and IPv4 give
// the same key, zones are ignored, IPv6 is cut to its block.
func (g *Guard) keyOf(a netip.Addr) srcKey {
	b := a.As16() // IPv4 comes out IPv4-mapped, the zone is not part of it
	k := srcKey{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
	if !a.Unmap().Is4() {
		k.hi &= g.v6Mask.hi
		k.lo &= g.v6Mask.lo
	}
	return k
}

func (g *Guard) shardOf(k srcKey) *shard {
	h := (k.hi ^ g.seed) * 0x9e3779b97f4a7c15
	h ^= k.lo * 0xbf58476d1ce4e5b9
	h ^= h >> 31
	h *= 0x94d049bb133111eb
	h ^= h >> 29
	return &g.shards[h&g.mask]
}

// prefixOf is the block a key stands for.
func (g *Guard) prefixOf(k srcKey) netip.Prefix {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], k.hi)
	binary.BigEndian.PutUint64(b[8:], k.lo)
	a := netip.AddrFrom16(b)
	if a.Is4In6() {
		return netip.PrefixFrom(a.Unmap(), 32)
	}
	return netip.PrefixFrom(a, g.cfg.IPv6PrefixLen)
}

// trusted reports whether a (unmapped, without zone) is in a trusted prefix.
func (g *Guard) trusted(a netip.Addr) bool {
	for _, p := range g.cfg.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func plain(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }

// Admit counts one packet from src and reports whether to process it.
// Call it for every datagram (and every message read from a connection)
// before parsing: false means drop silently — the source is banned, or
// this packet exceeded its budget and banned it (one log line). Admit is
// allocation-free in steady state and takes one shard lock.
func (g *Guard) Admit(src netip.Addr) bool {
	if !src.IsValid() {
		g.shards[0].untracked.Add(1)
		g.shards[0].admitted.Add(1)
		return true
	}
	k := g.keyOf(src)
	sh := g.shardOf(k)
	trusted := len(g.cfg.Trusted) > 0 && g.trusted(plain(src))
	now := g.now()

	sh.mu.Lock()
	if now >= sh.nextSweep {
		sh.sweep(now, g)
	}
	i, ok := sh.index[k]
	if trusted || g.interval == 0 {
		// Not counted; only an explicit ban stops it (not the density
		// ban of an untrusted neighbour in the same IPv6 block).
		if ok && sh.slots[i].banUntil > now && sh.slots[i].reason != ReasonDensity {
			sh.mu.Unlock()
			sh.droppedBanned.Add(1)
			return false
		}
		sh.mu.Unlock()
		sh.admitted.Add(1)
		return true
	}
	if !ok {
		if i, ok = sh.insert(k, now, g, false); !ok {
			sh.mu.Unlock()
			sh.untracked.Add(1)
			sh.admitted.Add(1)
			return true
		}
	}
	s := &sh.slots[i]
	if s.banUntil > now {
		sh.mu.Unlock()
		sh.droppedBanned.Add(1)
		return false
	}
	tat := max(s.tat, now) + g.interval
	if tat-now <= g.burst {
		s.tat = tat
		sh.mu.Unlock()
		sh.admitted.Add(1)
		return true
	}
	s.tat = now // the budget is full again when the ban ends
	s.banUntil = now + g.banTime
	s.reason = ReasonDensity
	until := s.banUntil
	sh.mu.Unlock()
	sh.droppedDensity.Add(1)
	g.bansDensity.Add(1)
	g.logBan(src, k, ReasonDensity, until, "")
	return false
}

// IsScanner reports whether userAgent names a known scanner (see
// Config.ScannerUserAgents); the caller then drops the request silently.
// A true answer counts in Stats.DroppedScanner. It does not allocate.
//
// IsScanner does not ban: a single UDP packet with a forged source
// address would otherwise ban the forged address. Over TCP, TLS and
// WebSocket, where the source is proven by the handshake, the caller may
// Ban the source to shed its next packets before parsing.
func (g *Guard) IsScanner(userAgent string) bool {
	if g.scanner.match(userAgent) {
		g.droppedScanner.Add(1)
		return true
	}
	return false
}

// AuthFailed records a wrong digest answer from src for user (a response
// that does not match the password; a stale or expired nonce is not a
// failure). It reports whether src is now locked out — this failure may
// be the one that locks it, which logs one line with the user. Trusted
// sources are never locked out.
func (g *Guard) AuthFailed(src netip.Addr, user string) (locked bool) {
	if !src.IsValid() || g.authInterval == 0 || (len(g.cfg.Trusted) > 0 && g.trusted(plain(src))) {
		return false
	}
	k := g.keyOf(src)
	sh := g.shardOf(k)
	now := g.now()
	sh.mu.Lock()
	i, ok := sh.index[k]
	if !ok {
		if i, ok = sh.insert(k, now, g, true); !ok {
			sh.mu.Unlock()
			return false
		}
	}
	s := &sh.slots[i]
	if s.authUntil > now {
		sh.mu.Unlock()
		return true
	}
	s.authTat = max(s.authTat, now) + g.authInterval
	if s.authTat-now < g.authBurst {
		sh.mu.Unlock()
		return false
	}
	s.authTat = now
	d := g.authBanTime
	if s.authForget > now {
		s.authStrikes = min(s.authStrikes+1, 62)
		for range s.authStrikes {
			if d >= g.authBanTimeMax/2 {
				d = g.authBanTimeMax
				break
			}
			d *= 2
		}
	} else {
		s.authStrikes = 0
	}
	s.authUntil = now + d
	s.authForget = s.authUntil + g.authBanTimeMax
	until := s.authUntil
	sh.mu.Unlock()
	g.bansAuth.Add(1)
	g.logBan(src, k, ReasonAuth, until, user)
	return true
}

// AuthLocked reports whether src is locked out of authentication: the
// caller then sends no challenge and drops the request silently. A true
// answer counts in Stats.DroppedAuth.
func (g *Guard) AuthLocked(src netip.Addr) bool {
	if !src.IsValid() || (len(g.cfg.Trusted) > 0 && g.trusted(plain(src))) {
		return false
	}
	k := g.keyOf(src)
	sh := g.shardOf(k)
	now := g.now()
	sh.mu.Lock()
	i, ok := sh.index[k]
	locked := ok && sh.slots[i].authUntil > now
	sh.mu.Unlock()
	if locked {
		g.droppedAuth.Add(1)
	}
	return locked
}

// Ban bans src's block (see Ban.Source) for d (BanTime when d <= 0, at
// most 10 years), for reason (ReasonAdmin when empty), and logs it. It
// applies to trusted sources too, and replaces a shorter ban in force.
func (g *Guard) Ban(src netip.Addr, reason string, d time.Duration) {
	if !src.IsValid() {
		return
	}
	if d <= 0 {
		d = g.cfg.BanTime
	}
	d = min(d, maxDuration) // keeps now+d from overflowing
	if reason == "" {
		reason = ReasonAdmin
	}
	k := g.keyOf(src)
	sh := g.shardOf(k)
	now := g.now()
	sh.mu.Lock()
	i, ok := sh.index[k]
	if !ok {
		i, ok = sh.insert(k, now, g, true) // forced: fails only when the shard has no room at all
	}
	if !ok {
		sh.mu.Unlock()
		return
	}
	s := &sh.slots[i]
	until := now + int64(d)
	if s.banUntil > until {
		sh.mu.Unlock()
		return
	}
	s.banUntil, s.reason, s.tat = until, reason, now
	sh.mu.Unlock()
	g.bansOthers.Add(1)
	g.logBan(src, k, reason, until, "")
}

// Unban lifts the ban and the lock-out of src's block and resets its
// budgets; it reports whether either was in force.
func (g *Guard) Unban(src netip.Addr) bool {
	if !src.IsValid() {
		return false
	}
	k := g.keyOf(src)
	sh := g.shardOf(k)
	now := g.now()
	sh.mu.Lock()
	i, ok := sh.index[k]
	was := false
	if ok {
		s := &sh.slots[i]
		was = s.banUntil > now || s.authUntil > now
		sh.remove(i)
	}
	sh.mu.Unlock()
	if was {
		g.cfg.Logger.Info("unban", "source", plain(src).String(), "block", g.prefixOf(k).String())
	}
	return was
}

// Bans returns the bans and lock-outs in force, ordered by source.
func (g *Guard) Bans() []Ban {
	now := g.now()
	var bans []Ban
	for i := range g.shards {
		sh := &g.shards[i]
		sh.mu.Lock()
		for j := range sh.slots {
			s := &sh.slots[j]
			if !s.live {
				continue
			}
			if s.banUntil > now {
				bans = append(bans, Ban{Source: g.prefixOf(s.key), Reason: s.reason, Until: g.timeAt(s.banUntil)})
			}
			if s.authUntil > now {
				bans = append(bans, Ban{Source: g.prefixOf(s.key), Reason: ReasonAuth, Until: g.timeAt(s.authUntil)})
			}
		}
		sh.mu.Unlock()
	}
	slices.SortFunc(bans, func(a, b Ban) int {
		if c := a.Source.Addr().Compare(b.Source.Addr()); c != 0 {
			return c
		}
		return cmp.Compare(a.Reason, b.Reason)
	})
	return bans
}

// Stats returns a snapshot of the counters, and sweeps expired sources of
// the shards that are due.
func (g *Guard) Stats() Stats {
	st := Stats{
		DroppedScanner: g.droppedScanner.Load(),
		DroppedAuth:    g.droppedAuth.Load(),
		BansDensity:    g.bansDensity.Load(),
		BansAuth:       g.bansAuth.Load(),
		BansOther:      g.bansOthers.Load(),
	}
	st.BansTotal = st.BansDensity + st.BansAuth + st.BansOther
	now := g.now()
	for i := range g.shards {
		sh := &g.shards[i]
		st.Admitted += sh.admitted.Load()
		st.DroppedBanned += sh.droppedBanned.Load()
		st.DroppedDensity += sh.droppedDensity.Load()
		st.Untracked += sh.untracked.Load()
		st.Evicted += sh.evicted.Load()
		sh.mu.Lock()
		if now >= sh.nextSweep {
			sh.sweep(now, g)
		}
		st.SourcesTracked += len(sh.index)
		for j := range sh.slots {
			s := &sh.slots[j]
			if s.live && s.banUntil > now {
				st.BansActive++
			}
			if s.live && s.authUntil > now {
				st.BansActive++
			}
		}
		sh.mu.Unlock()
	}
	return st
}

// logBan writes the one line of a ban: stable keys for fail2ban.
func (g *Guard) logBan(src netip.Addr, k srcKey, reason string, until int64, user string) {
	u := g.timeAt(until).UTC().Format(time.RFC3339)
	src = plain(src)
	if !src.Is4() && g.cfg.IPv6PrefixLen < 128 {
		if user != "" {
			g.cfg.Logger.Warn("ban", "source", src.String(), "reason", reason, "until", u, "block", g.prefixOf(k).String(), "user", clip(user))
			return
		}
		g.cfg.Logger.Warn("ban", "source", src.String(), "reason", reason, "until", u, "block", g.prefixOf(k).String())
		return
	}
	if user != "" {
		g.cfg.Logger.Warn("ban", "source", src.String(), "reason", reason, "until", u, "user", clip(user))
		return
	}
	g.cfg.Logger.Warn("ban", "source", src.String(), "reason", reason, "until", u)
}

// clip bounds what an attacker-chosen user name adds to a log line.
func clip(s string) string {
	const maxUser = 64
	if len(s) > maxUser {
		return s[:maxUser] + "…"
	}
	return s
}

// idle reports whether s holds nothing a fresh entry would not: its
// budgets are full and no ban or lock-out is in force.
func (s *source) idle(now int64) bool {
	return s.tat <= now && s.authTat <= now && s.banUntil <= now && s.authUntil <= now && s.authForget <= now
}

// sweep removes the idle sources of the shard. Called with sh.mu held, at
// most once per sweepEvery per shard, from whatever call comes by: no
// goroutine, nothing to Close.
func (sh *shard) sweep(now int64, g *Guard) {
	sh.nextSweep = now + g.sweepEvery
	for i := range sh.slots {
		if s := &sh.slots[i]; s.live && s.idle(now) {
			sh.remove(int32(i))
		}
	}
}

func (sh *shard) remove(i int32) {
	delete(sh.index, sh.slots[i].key)
	sh.slots[i] = source{}
	sh.free = append(sh.free, i)
}

// evictionProbes is how many random slots a full shard looks at for one to
// replace.
const evictionProbes = 8

// insert makes a fresh entry for k and returns its slot. A full shard
// replaces the least busy idle-or-active source among a few random ones
// (never a banned or locked-out one unless force); it reports false when
// it found none.
func (sh *shard) insert(k srcKey, now int64, g *Guard, force bool) (int32, bool) {
	if sh.limit == 0 {
		return 0, false
	}
	var i int32
	switch {
	case len(sh.free) > 0:
		i = sh.free[len(sh.free)-1]
		sh.free = sh.free[:len(sh.free)-1]
	case len(sh.slots) < sh.limit:
		sh.slots = append(sh.slots, source{})
		i = int32(len(sh.slots) - 1)
	default:
		// Prefer the least busy source that is not banned; a forced
		// insert (Ban, AuthFailed) falls back to the ban ending first.
		idle, held := int32(-1), int32(-1)
		var idleScore, heldScore int64
		for range evictionProbes {
			sh.rnd ^= sh.rnd << 13
			sh.rnd ^= sh.rnd >> 7
			sh.rnd ^= sh.rnd << 17
			j := int32(sh.rnd % uint64(len(sh.slots)))
			s := &sh.slots[j]
			if s.banUntil > now || s.authUntil > now {
				if score := max(s.banUntil, s.authUntil); held < 0 || score < heldScore {
					held, heldScore = j, score
				}
				continue
			}
			if score := max(s.tat, s.authTat, s.authForget); idle < 0 || score < idleScore {
				idle, idleScore = j, score
			}
		}
		victim := idle
		if victim < 0 && force {
			victim = held
		}
		if victim < 0 {
			return 0, false
		}
		delete(sh.index, sh.slots[victim].key)
		sh.evicted.Add(1)
		i = victim
	}
	sh.slots[i] = source{key: k, tat: now, live: true}
	sh.index[k] = i
	return i, true
}
