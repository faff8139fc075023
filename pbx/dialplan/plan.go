package dialplan

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/parley-sip/parley/internal/confyaml"
)

// Media is how a route's media flows.
type Media uint8

const (
	// MediaRelay anchors the media: each side sends RTP to the PBX's ports
	// (phones behind NAT work, the call can be recorded, held with music).
	MediaRelay Media = iota
	// MediaDirect passes the SDP through end to end: signalling goes
	// through the PBX, media does not.
	MediaDirect
	// MediaNone is a Proxy route's: the PBX is not a party to the call.
	MediaNone
)

func (m Media) String() string {
	switch m {
	case MediaRelay:
		return "relay"
	case MediaDirect:
		return "direct"
	case MediaNone:
		return "none"
	}
	return fmt.Sprintf("Media(%d)", uint8(m))
}

// Limits and defaults.
const (
	// DefaultRingTimeout is ring_timeout when the plan names none.
	DefaultRingTimeout = 60 * time.Second
	// DefaultNoAnswerAfter is a user's forward.after when not given.
	DefaultNoAnswerAfter = 20 * time.Second
	// MinTimeout and MaxTimeout bound every timeout in a plan.
	MinTimeout = time.Second
	MaxTimeout = time.Hour
	// MaxEntries bounds extensions plus routes.
	MaxEntries = 1 << 20
	// MaxMembers bounds a ring group.
	MaxMembers = 256
	// MaxForwardHops is how many forwards the B2BUA follows for one
	// call: a backstop, since Parse refuses forward loops.
	MaxForwardHops = 16
)

// Route is the result of a Match: what to do with the call.
type Route struct {
	// Pattern is the number or pattern as written ("200", "_2XX"); for a
	// user dialled by name, the name.
	Pattern string
	// Line is the route's line in the config file; 0 for routes that no
	// line wrote (users by name, the default plan).
	Line   int
	Action Action
	Media  Media
	Record bool
}

// String describes the route for logs.
func (r Route) String() string {
	if r.Action == nil {
		return "no route"
	}
	s := fmt.Sprintf("%s → %s", r.Pattern, r.Action.Kind())
	switch a := r.Action.(type) {
	case *RingUser:
		s += " " + a.User
	case *RingGroup:
		s += " " + a.Strategy.String()
	case *Forward:
		s += " " + a.To
	case *Play:
		s += " " + a.File
	case *Proxy:
		s += " " + a.User + a.URI
	}
	s += " media " + r.Media.String()
	if r.Record {
		s += " recorded"
	}
	return s
}

// UserSettings is what applies wherever a user is rung by RingUser.
type UserSettings struct {
	// ForwardAlways, when set, is dialled instead of ringing the user.
	ForwardAlways string
	// ForwardBusy is dialled when the user is busy (every device answered
	// 486/600) or on do-not-disturb.
	ForwardBusy string
	// ForwardNoAnswer is dialled when no device answered within
	// NoAnswerAfter (or the devices are not registered: 480).
	ForwardNoAnswer string
	NoAnswerAfter   time.Duration
	// DND (do-not-disturb) makes the user busy: ForwardBusy if set, else
	// 486 Busy Here. Ring groups skip the user.
	DND bool
	// Record records every call the user takes through the PBX.
	Record bool
}

// Options are what a Parse needs from outside the dial plan.
type Options struct {
	// Users are the users of the domain. Targets naming someone else are
	// errors, and users dialled by name are routed (users_by_name). Nil
	// skips both (a plan checked on its own).
	Users []string
	// Actions are the registered ActionTypes besides the built-in actions;
	// nil for none.
	Actions *Registry
}

// route is a Route plus what matching needs.
type route struct {
	Route
	from map[string]bool // callers it applies to; nil: everyone
}

// Plan is a parsed dial plan, read-only once built.
type Plan struct {
	exact       map[string][]*route
	patterns    trieNode
	byName      map[string]*route // users dialled by name, when users_by_name is not off
	users       map[string]*UserSettings
	ringTimeout time.Duration
	entries     int
}

// RingTimeout is the plan's ring_timeout: how long RingUser and
// RingGroup ring when their own timeout is not given.
func (p *Plan) RingTimeout() time.Duration { return p.ringTimeout }

// Len is the number of extensions and routes.
func (p *Plan) Len() int { return p.entries }

// User returns the settings of a user: zero values (NoAnswerAfter the
// default) when the plan has none.
func (p *Plan) User(name string) UserSettings {
	if u := p.users[name]; u != nil {
		return *u
	}
	return UserSettings{NoAnswerAfter: DefaultNoAnswerAfter}
}

// Match finds the route for a dialled number (the Request-URI's user
// part) called by caller (the calling user; "" for a caller that is not
// one of ours). Precedence: an exact number (an extension or a route
// without "_"), then a user dialled by name, then the most specific
// pattern. Among routes of the same number, those whose `from` lists the
// caller come first, then those without `from`. It does not allocate.
func (p *Plan) Match(dialled, caller string) (Route, bool) {
	if r := p.lookup(dialled, caller, false); r != nil {
		return r.Route, true
	}
	return Route{}, false
}

func (p *Plan) lookup(dialled, caller string, anyCaller bool) *route {
	if len(dialled) == 0 || len(dialled) > maxNumberLen {
		return nil
	}
	if rs, ok := p.exact[dialled]; ok {
		if r := pick(rs, caller, anyCaller); r != nil {
			return r
		}
	}
	if r := p.byName[dialled]; r != nil {
		return r
	}
	return p.patterns.match(dialled, 0, caller, anyCaller)
}

// pick returns the first route of rs that applies to caller.
func pick(rs []*route, caller string, anyCaller bool) *route {
	for _, r := range rs {
		if r.from == nil || anyCaller || r.from[caller] {
			return r
		}
	}
	return nil
}

// Default is the plan of a config without `dialplan:`: every user dialled
// by name is rung through the PBX with media relayed.
func Default(users []string) *Plan {
	p, err := Parse(nil, Options{Users: users})
	if err != nil {
		panic("dialplan: default plan: " + err.Error()) // cannot fail: no input
	}
	return p
}

// Parse builds a plan from the value of the `dialplan:` key (a mapping
// node, or a document node holding one). A nil or empty node gives the
// default plan. Every problem found is reported, each with its line.
func Parse(node *yaml.Node, opts Options) (*Plan, error) {
	ps := &parser{
		opts: opts,
		plan: &Plan{
			exact:       map[string][]*route{},
			users:       map[string]*UserSettings{},
			ringTimeout: DefaultRingTimeout,
		},
	}
	if opts.Users != nil {
		ps.known = make(map[string]bool, len(opts.Users))
		for _, u := range opts.Users {
			ps.known[u] = true
		}
	}
	byName := "relay"
	var byNameNode *yaml.Node
	node = resolve(node)
	if node != nil && node.Kind == yaml.DocumentNode && len(node.Content) == 1 {
		node = resolve(node.Content[0])
	}
	var extensions, users, routes *yaml.Node
	switch {
	case node == nil || node.Kind == 0 || node.Kind == yaml.ScalarNode && node.Tag == "!!null":
	case node.Kind != yaml.MappingNode:
		ps.errf(node, "dialplan must be a mapping (users_by_name, ring_timeout, extensions, users, routes)")
	default:
		ps.mapping(node, func(k string, kn, v *yaml.Node) {
			switch k {
			case "users_by_name":
				byNameNode = v
				byName = ps.str(v, k)
			case "ring_timeout":
				ps.plan.ringTimeout = ps.timeout(v, k)
			case "extensions":
				extensions = v
			case "users":
				users = v
			case "routes":
				routes = v
			default:
				ps.errf(kn, "unknown dialplan key %q (want users_by_name, ring_timeout, extensions, users, routes)", k)
			}
		})
	}
	if extensions != nil {
		ps.extensions(extensions)
	}
	if routes != nil {
		ps.routes(routes)
	}
	if users != nil {
		ps.userSettings(users)
	}
	ps.usersByName(byName, byNameNode)
	if len(ps.errs) == 0 {
		ps.checkForwards()
	}
	if len(ps.errs) > 0 {
		return nil, errors.Join(ps.errs...)
	}
	return ps.plan, nil
}

// maxErrors stops a hopeless file from producing megabytes of errors.
const maxErrors = 50

type parser struct {
	opts  Options
	plan  *Plan
	known map[string]bool // nil: users unknown
	errs  []error
	// forwards, for the loop check: each route's and user's targets
	// with the line that set them.
	userForwardLines map[string]int
}

func (ps *parser) errf(n *yaml.Node, format string, args ...any) {
	if len(ps.errs) == maxErrors {
		ps.errs = append(ps.errs, errors.New("too many errors"))
	}
	if len(ps.errs) > maxErrors {
		return
	}
	ps.errs = append(ps.errs, confyaml.Errorf(n, format, args...))
}

// resolve follows aliases (a bounded number of them).
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 16; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

// mapping calls f for each key of a mapping node, reporting duplicate
// keys (yaml.v3 does not when a node tree is walked).
func (ps *parser) mapping(n *yaml.Node, f func(key string, kn, v *yaml.Node)) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if kn == nil || v == nil || kn.Kind != yaml.ScalarNode {
			ps.errf(n.Content[i], "a key must be a plain word")
			continue
		}
		if line, dup := seen[kn.Value]; dup {
			ps.errf(kn, "%q appears twice (first on line %d)", kn.Value, line)
			continue
		}
		seen[kn.Value] = kn.Line
		f(kn.Value, kn, v)
	}
}

func (ps *parser) str(n *yaml.Node, what string) string {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		ps.errf(n, "%s: want a string", what)
		return ""
	}
	return n.Value
}

func (ps *parser) boolean(n *yaml.Node, what string) bool {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
		ps.errf(n, "%s: want true or false", what)
	}
	return b
}

func (ps *parser) timeout(n *yaml.Node, what string) time.Duration {
	var d confyaml.Duration
	if n.Kind != yaml.ScalarNode {
		ps.errf(n, "%s: want a duration such as 20s", what)
		return 0
	}
	if err := d.UnmarshalYAML(n); err != nil {
		ps.errf(n, "%s: bad duration %q (want e.g. 20s, 1m)", what, n.Value)
		return 0
	}
	if d.D() < MinTimeout || d.D() > MaxTimeout {
		ps.errf(n, "%s: %s is out of range (%s to %s)", what, d.D(), MinTimeout, MaxTimeout)
		return 0
	}
	return d.D()
}

// user checks a user name that a target names.
func (ps *parser) user(n *yaml.Node, what string) string {
	u := ps.str(n, what)
	if u == "" {
		if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
			ps.errf(n, "%s: empty user name", what)
		}
		return ""
	}
	if ps.known != nil && !ps.known[u] {
		ps.errf(n, "%s: %q is not a user of the domain", what, u)
	}
	return u
}

func (ps *parser) media(n *yaml.Node) Media {
	switch ps.str(n, "media") {
	case "relay":
		return MediaRelay
	case "direct":
		return MediaDirect
	case "":
		return MediaRelay
	}
	ps.errf(n, "media: %q is not one of relay, direct", n.Value)
	return MediaRelay
}

// add files a route under its number or pattern.
func (ps *parser) add(r *route, at *yaml.Node) {
	ps.plan.entries++
	if ps.plan.entries == MaxEntries+1 {
		ps.errf(at, "more than %d extensions and routes", MaxEntries)
	}
	if ps.plan.entries > MaxEntries {
		return
	}
	var list *[]*route
	key := r.Pattern
	if strings.HasPrefix(key, "_") {
		cp, err := compilePattern(key[1:])
		if err != nil {
			ps.errf(at, "pattern %q: %v", key, err)
			return
		}
		if lit, ok := cp.literal(); ok {
			key = lit
		} else {
			list = ps.plan.patterns.insert(cp)
		}
	}
	if list == nil {
		if err := checkNumber(key); err != nil {
			ps.errf(at, "%v", err)
			return
		}
		rs := ps.plan.exact[key]
		list = &rs
		defer func() { ps.plan.exact[key] = *list }()
	}
	for _, o := range *list {
		if overlaps(o.from, r.from) {
			ps.errf(at, "number %q is already routed on line %d", r.Pattern, o.Line)
			return
		}
	}
	// Routes restricted to callers come before the unrestricted one.
	i := len(*list)
	if r.from != nil {
		for i > 0 && (*list)[i-1].from == nil {
			i--
		}
	}
	*list = append(*list, nil)
	copy((*list)[i+1:], (*list)[i:])
	(*list)[i] = r
}

func overlaps(a, b map[string]bool) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	for k := range a {
		if b[k] {
			return true
		}
	}
	return false
}

// extensions reads `extensions:`: number → user, or number → {user,
// timeout, media, record}.
func (ps *parser) extensions(n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		if n.Tag != "!!null" {
			ps.errf(n, "extensions: want a mapping of number to user")
		}
		return
	}
	ps.mapping(n, func(num string, kn, v *yaml.Node) {
		if strings.HasPrefix(num, "_") {
			ps.errf(kn, "extension %q: patterns belong in routes", num)
			return
		}
		r := &route{Route: Route{Pattern: num, Line: kn.Line}}
		ring := &RingUser{Timeout: ps.plan.ringTimeout}
		switch v.Kind {
		case yaml.ScalarNode:
			if v.Tag == "!!null" || v.Value == "" {
				ps.errf(kn, "extension %s has no target (want a user name)", num)
				return
			}
			ring.User = ps.user(v, "extension "+num)
		case yaml.MappingNode:
			ps.mapping(v, func(k string, kn2, v2 *yaml.Node) {
				switch k {
				case "user":
					ring.User = ps.user(v2, "extension "+num)
				case "timeout":
					ring.Timeout = ps.timeout(v2, "timeout")
				case "media":
					r.Media = ps.media(v2)
				case "record":
					r.Record = ps.boolean(v2, "record")
				default:
					ps.errf(kn2, "extension %s: unknown key %q (want user, timeout, media, record)", num, k)
				}
			})
			if ring.User == "" {
				ps.errf(kn, "extension %s has no target (want user: NAME)", num)
				return
			}
		default:
			ps.errf(v, "extension %s: want a user name or a mapping", num)
			return
		}
		if r.Record && r.Media == MediaDirect {
			ps.errf(kn, "extension %s: record needs media: relay", num)
		}
		r.Action = ring
		ps.add(r, kn)
	})
}

// routes reads `routes:`, a list of {match, from, action..., media, record}.
func (ps *parser) routes(n *yaml.Node) {
	if n.Kind != yaml.SequenceNode {
		if n.Tag != "!!null" {
			ps.errf(n, "routes: want a list")
		}
		return
	}
	for _, rn := range n.Content {
		rn = resolve(rn)
		if rn == nil || rn.Kind != yaml.MappingNode {
			ps.errf(rn, "a route must be a mapping with match: and an action")
			continue
		}
		ps.route(rn)
	}
}

func (ps *parser) route(rn *yaml.Node) {
	r := &route{Route: Route{Line: rn.Line}}
	var matchNode, actionKeyNode, actionNode, mediaNode, recordNode, timeoutNode *yaml.Node
	var actionKey string
	anchored := true
	ps.mapping(rn, func(k string, kn, v *yaml.Node) {
		switch k {
		case "match":
			matchNode = v
			r.Pattern = ps.str(v, "match")
		case "from":
			r.from = map[string]bool{}
			if v.Kind != yaml.SequenceNode {
				ps.errf(v, "from: want a list of users")
				return
			}
			for _, u := range v.Content {
				if u = resolve(u); u != nil {
					r.from[ps.user(u, "from")] = true
				}
			}
			if len(r.from) == 0 {
				ps.errf(v, "from: an empty list matches nobody")
			}
		case "media":
			mediaNode = v
			r.Media = ps.media(v)
		case "record":
			recordNode = v
			r.Record = ps.boolean(v, "record")
		case "timeout":
			timeoutNode = v
		default:
			if actionKey != "" {
				ps.errf(kn, "route has two actions, %s and %s", actionKey, k)
				return
			}
			actionKey, actionKeyNode, actionNode = k, kn, v
		}
	})
	if matchNode == nil {
		ps.errf(rn, "route has no match:")
		return
	}
	if r.Pattern == "" {
		return
	}
	if actionNode == nil {
		ps.errf(rn, "route %s has no action (one of %s)", r.Pattern, ps.opts.Actions.names())
		return
	}
	var ringTimeout = ps.plan.ringTimeout
	if timeoutNode != nil {
		ringTimeout = ps.timeout(timeoutNode, "timeout")
		if actionKey != "user" {
			ps.errf(timeoutNode, "route %s: timeout applies to user routes (a group has its own)", r.Pattern)
		}
	}
	at := rn
	switch actionKey {
	case "user":
		u := ps.user(actionNode, "user")
		if u == "" {
			ps.errf(actionNode, "route %s has no target (want user: NAME)", r.Pattern)
		}
		r.Action = &RingUser{User: u, Timeout: ringTimeout}
	case "group":
		r.Action = ps.group(actionNode, r.Pattern)
	case "forward":
		to := ps.str(actionNode, "forward")
		if to == "" {
			ps.errf(actionNode, "route %s: forward has no target number", r.Pattern)
		} else if err := checkNumber(to); err != nil {
			ps.errf(actionNode, "forward: %v", err)
		}
		r.Action = &Forward{To: to}
	case "play":
		var file string
		if actionNode.Kind == yaml.MappingNode {
			ps.mapping(actionNode, func(k string, kn, v *yaml.Node) {
				if k == "file" {
					file = ps.str(v, "play.file")
				} else {
					ps.errf(kn, "play: unknown key %q (want file)", k)
				}
			})
		} else {
			file = ps.str(actionNode, "play")
		}
		if file == "" {
			ps.errf(actionNode, "route %s: play needs a file", r.Pattern)
		}
		r.Action = &Play{File: file}
	case "proxy":
		target := ps.str(actionNode, "proxy")
		a := &Proxy{}
		switch {
		case target == "":
			ps.errf(actionNode, "route %s: proxy needs a user or a sip: URI", r.Pattern)
		case strings.HasPrefix(target, "sip:") || strings.HasPrefix(target, "sips:"):
			if strings.ContainsAny(target, " \t<>\"") || len(target) <= len("sips:") {
				ps.errf(actionNode, "proxy: %q is not a SIP URI", target)
			}
			a.URI = target
		default:
			a.User = ps.user(actionNode, "proxy")
		}
		if mediaNode != nil {
			ps.errf(mediaNode, "route %s: a proxy route carries no media setting (the PBX stays out of the call)", r.Pattern)
		}
		if r.Record {
			ps.errf(recordNode, "route %s: a proxied call cannot be recorded", r.Pattern)
		}
		r.Media = MediaNone
		r.Action = a
	default:
		t, ok := ps.opts.Actions.lookup(actionKey)
		if !ok {
			ps.errf(actionKeyNode, "route %s: unknown action %q (want one of %s)", r.Pattern, actionKey, ps.opts.Actions.names())
			return
		}
		cfg, err := t.Decode(actionNode)
		if err != nil {
			ps.errs = append(ps.errs, fmt.Errorf("route %s: %s: %w", r.Pattern, actionKey, err))
			return
		}
		anchored = t.Anchored
		r.Action = &Hook{Name: t.Name, Config: cfg}
	}
	if anchored && r.Media == MediaDirect && actionKey != "user" && actionKey != "group" && actionKey != "forward" {
		ps.errf(mediaNode, "route %s: %s needs media: relay", r.Pattern, actionKey)
	}
	if r.Record && r.Media == MediaDirect {
		ps.errf(recordNode, "route %s: record needs media: relay", r.Pattern)
	}
	ps.add(r, at)
}

func (ps *parser) group(n *yaml.Node, pattern string) *RingGroup {
	g := &RingGroup{Timeout: ps.plan.ringTimeout}
	if n.Kind != yaml.MappingNode {
		ps.errf(n, "route %s: group: want a mapping (strategy, members, timeout)", pattern)
		return g
	}
	var members, memberTimeoutNode *yaml.Node
	ps.mapping(n, func(k string, kn, v *yaml.Node) {
		switch k {
		case "strategy":
			switch s := ps.str(v, "strategy"); s {
			case "simultaneous":
				g.Strategy = Simultaneous
			case "sequential":
				g.Strategy = Sequential
			case "hunt":
				g.Strategy = Hunt
			default:
				ps.errf(v, "strategy: %q is not one of simultaneous, sequential, hunt", s)
			}
		case "timeout":
			g.Timeout = ps.timeout(v, "group timeout")
		case "member_timeout":
			memberTimeoutNode = v
		case "members":
			members = v
		default:
			ps.errf(kn, "group: unknown key %q (want strategy, members, timeout, member_timeout)", k)
		}
	})
	// Members ring for member_timeout unless they name their own; without
	// it, for the group's timeout.
	memberTimeout := g.Timeout
	if memberTimeoutNode != nil {
		memberTimeout = ps.timeout(memberTimeoutNode, "member_timeout")
	}
	if members == nil || members.Kind != yaml.SequenceNode || len(members.Content) == 0 {
		ps.errf(n, "route %s: group has no members", pattern)
		return g
	}
	if len(members.Content) > MaxMembers {
		ps.errf(members, "group: more than %d members", MaxMembers)
		return g
	}
	seen := map[string]bool{}
	for _, mn := range members.Content {
		mn = resolve(mn)
		if mn == nil {
			continue
		}
		m := Member{Timeout: memberTimeout}
		switch mn.Kind {
		case yaml.ScalarNode:
			m.User = ps.user(mn, "member")
		case yaml.MappingNode:
			ps.mapping(mn, func(k string, kn, v *yaml.Node) {
				switch k {
				case "user":
					m.User = ps.user(v, "member")
				case "timeout":
					m.Timeout = ps.timeout(v, "member timeout")
				default:
					ps.errf(kn, "member: unknown key %q (want user, timeout)", k)
				}
			})
		default:
			ps.errf(mn, "member: want a user name or {user, timeout}")
		}
		if m.User == "" {
			ps.errf(mn, "group member has no user")
			continue
		}
		if seen[m.User] {
			ps.errf(mn, "group member %s appears twice", m.User)
		}
		seen[m.User] = true
		g.Members = append(g.Members, m)
	}
	return g
}

// userSettings reads `users:`: name → {forward: {always, busy, no_answer,
// after}, dnd, record}.
func (ps *parser) userSettings(n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		if n.Tag != "!!null" {
			ps.errf(n, "users: want a mapping of user name to settings")
		}
		return
	}
	ps.userForwardLines = map[string]int{}
	ps.mapping(n, func(name string, kn, v *yaml.Node) {
		ps.user(kn, "users")
		us := &UserSettings{NoAnswerAfter: DefaultNoAnswerAfter}
		if v.Kind != yaml.MappingNode {
			ps.errf(v, "users: %s: want a mapping (forward, dnd, record)", name)
			return
		}
		ps.mapping(v, func(k string, kn2, v2 *yaml.Node) {
			switch k {
			case "dnd":
				us.DND = ps.boolean(v2, "dnd")
			case "record":
				us.Record = ps.boolean(v2, "record")
			case "forward":
				ps.userForward(us, name, v2)
				ps.userForwardLines[name] = kn2.Line
			default:
				ps.errf(kn2, "users: %s: unknown key %q (want forward, dnd, record)", name, k)
			}
		})
		ps.plan.users[name] = us
	})
}

func (ps *parser) userForward(us *UserSettings, name string, n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		ps.errf(n, "forward: want a mapping (always, busy, no_answer, after)")
		return
	}
	var afterNode *yaml.Node
	ps.mapping(n, func(k string, kn, v *yaml.Node) {
		target := func() string {
			to := ps.str(v, "forward."+k)
			if to == "" {
				ps.errf(v, "forward.%s of %s has no target number", k, name)
			} else if err := checkNumber(to); err != nil {
				ps.errf(v, "forward.%s: %v", k, err)
			}
			return to
		}
		switch k {
		case "always":
			us.ForwardAlways = target()
		case "busy":
			us.ForwardBusy = target()
		case "no_answer":
			us.ForwardNoAnswer = target()
		case "after":
			afterNode = v
			us.NoAnswerAfter = ps.timeout(v, "forward.after")
		default:
			ps.errf(kn, "forward: unknown key %q (want always, busy, no_answer, after)", k)
		}
	})
	if afterNode != nil && us.ForwardNoAnswer == "" {
		ps.errf(afterNode, "forward.after of %s without forward.no_answer", name)
	}
}

// usersByName adds a route for each user under the user's name.
func (ps *parser) usersByName(mode string, at *yaml.Node) {
	media := MediaRelay
	switch mode {
	case "relay":
	case "direct":
		media = MediaDirect
	case "proxy":
		media = MediaNone
	case "off":
		return
	default:
		ps.errf(at, "users_by_name: %q is not one of relay, direct, proxy, off", mode)
		return
	}
	if ps.known == nil {
		return
	}
	ps.plan.byName = make(map[string]*route, len(ps.known))
	for u := range ps.known {
		r := &route{Route: Route{Pattern: u, Media: media}}
		if media == MediaNone {
			r.Action = &Proxy{User: u}
		} else {
			r.Action = &RingUser{User: u, Timeout: ps.plan.ringTimeout}
		}
		ps.plan.byName[u] = r
	}
}

// checkForwards refuses forward chains that come back to where they
// started. Every kind of forward counts (always, busy, no answer): a
// cycle of conditional forwards still rings in circles when everyone in it
// is busy or away. It also refuses forwards to numbers no route matches.
func (ps *parser) checkForwards() {
	// Nodes are the routes a forward can reach; a RingUser route leads to
	// its user's forward targets, a Forward route to its target.
	type nodeState uint8
	const (
		unseen nodeState = iota
		onPath
		done
	)
	state := map[*route]nodeState{}
	var peers map[*route][]*route
	var path []*route
	targets := func(r *route) (tos []string, line int) {
		switch a := r.Action.(type) {
		case *Forward:
			return []string{a.To}, r.Line
		case *RingUser:
			if us := ps.plan.users[a.User]; us != nil {
				for _, t := range []string{us.ForwardAlways, us.ForwardBusy, us.ForwardNoAnswer} {
					if t != "" {
						tos = append(tos, t)
					}
				}
				return tos, ps.userForwardLines[a.User]
			}
		}
		return nil, 0
	}
	// visit walks from r, reached by a forward on line via; false when it
	// found a problem (reported).
	var visit func(r *route, via int) bool
	visit = func(r *route, via int) bool {
		switch state[r] {
		case onPath:
			var names []string
			for i := len(path) - 1; i >= 0; i-- {
				if path[i] == r {
					for _, p := range path[i:] {
						names = append(names, p.Pattern)
					}
					break
				}
			}
			names = append(names, r.Pattern)
			ps.errs = append(ps.errs, fmt.Errorf("line %d: forward loop: %s", via, strings.Join(names, " → ")))
			return false
		case done:
			return true
		}
		state[r] = onPath
		path = append(path, r)
		tos, line := targets(r)
		ok := true
	targetsLoop:
		for _, to := range tos {
			next := ps.plan.lookup(to, "", true)
			if next == nil {
				ps.errs = append(ps.errs, fmt.Errorf("line %d: forward to %s: no route or extension matches it", line, to))
				ok = false
				break
			}
			// Which of the number's routes applies depends on the caller
			// (from:): follow them all.
			for _, peer := range peers[next] {
				if !visit(peer, line) {
					ok = false
					break targetsLoop
				}
			}
		}
		path = path[:len(path)-1]
		state[r] = done
		return ok
	}
	var all []*route
	// peers are the routes of the same number, each with its own from:.
	peers = map[*route][]*route{}
	addList := func(rs []*route) {
		all = append(all, rs...)
		for _, r := range rs {
			peers[r] = rs
		}
	}
	for _, rs := range ps.plan.exact {
		addList(rs)
	}
	for _, r := range ps.plan.byName {
		addList([]*route{r})
	}
	var walk func(n *trieNode)
	walk = func(n *trieNode) {
		addList(n.end)
		addList(n.one)
		addList(n.any)
		for _, e := range n.lits {
			walk(e.next)
		}
		for _, e := range n.classes {
			walk(e.next)
		}
	}
	walk(&ps.plan.patterns)
	// Report in file order, so the error is the same on every run.
	// Routes without a line (users by name) last, sorted by name.
	sort.SliceStable(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if (a.Line == 0) != (b.Line == 0) {
			return b.Line == 0
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Pattern < b.Pattern
	})
	for _, r := range all {
		if !visit(r, r.Line) {
			return
		}
	}
	// Users whose forwards are set but who are reached by no route still
	// must not forward to nowhere.
	names := make([]string, 0, len(ps.plan.users))
	for name := range ps.plan.users {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if len(ps.errs) > 0 {
			return
		}
		us := ps.plan.users[name]
		for _, t := range []string{us.ForwardAlways, us.ForwardBusy, us.ForwardNoAnswer} {
			if t != "" && ps.plan.lookup(t, "", true) == nil {
				ps.errs = append(ps.errs, fmt.Errorf("line %d: forward of %s to %s: no route or extension matches it", ps.userForwardLines[name], name, t))
			}
		}
	}
}
