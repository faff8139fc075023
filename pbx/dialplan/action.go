package dialplan

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Action is what a route does with a call. The concrete types are
// *RingUser, *RingGroup, *Forward, *Play, *Proxy and *Hook; the B2BUA
// switches on them. Actions are built at Parse and shared: never modify one.
type Action interface {
	// Kind is the action's key in the config: "user", "group", "forward",
	// "play", "proxy", or a registered ActionType's Name.
	Kind() string
}

// RingUser rings every registered device of User at once; the first to
// answer takes the call. The user's UserSettings (forwarding,
// do-not-disturb, recording) apply.
type RingUser struct {
	User string
	// Timeout is how long the devices ring before the call counts as not
	// answered (then the user's ForwardNoAnswer, if any, else 480).
	Timeout time.Duration
}

// Strategy is how a RingGroup rings its members.
type Strategy uint8

const (
	// Simultaneous rings every member at once for the group's Timeout.
	Simultaneous Strategy = iota
	// Sequential rings the members one after the other, in the listed
	// order, each for its own Timeout; every call starts at the first.
	Sequential
	// Hunt is Sequential starting, round robin, after the member who was
	// rung first last time, so calls spread over the members; members who
	// are busy, on do-not-disturb or not registered are skipped at once.
	Hunt
)

func (s Strategy) String() string {
	switch s {
	case Simultaneous:
		return "simultaneous"
	case Sequential:
		return "sequential"
	case Hunt:
		return "hunt"
	}
	return fmt.Sprintf("Strategy(%d)", uint8(s))
}

// Member is one user of a RingGroup and how long it rings (Sequential and
// Hunt; Simultaneous rings everyone for the group's Timeout).
type Member struct {
	User    string
	Timeout time.Duration
}

// RingGroup rings several users. Members' do-not-disturb is honoured (the
// member is skipped); their forwards are not followed: a group call stays
// in the group.
type RingGroup struct {
	Strategy Strategy
	Members  []Member
	// Timeout bounds the whole group: with Simultaneous, how long everyone
	// rings; with Sequential and Hunt, the total after which the group
	// gives up even if members are left.
	Timeout time.Duration
}

// Forward sends the call on to another number, dialled again through the
// plan (with the same caller). Parse refuses forward chains that loop.
type Forward struct{ To string }

// Play answers, plays File (a WAV; a relative path is relative to the data
// directory) and hangs up.
type Play struct{ File string }

// Proxy hands the call to the stateful proxy: no anchoring, the PBX is no
// party to the call, media flows end to end. User (proxied to that user's
// registered contacts) or URI (a next hop such as sip:gw.example.net:5060,
// the Request-URI kept) is set, never both.
type Proxy struct {
	User string
	URI  string
}

// Hook is an action of a registered ActionType (voicemail, conference,
// trunk, ...): Name is its key, Config what its Decode returned.
type Hook struct {
	Name   string
	Config any
}

func (*RingUser) Kind() string  { return "user" }
func (*RingGroup) Kind() string { return "group" }
func (*Forward) Kind() string   { return "forward" }
func (*Play) Kind() string      { return "play" }
func (*Proxy) Kind() string     { return "proxy" }
func (h *Hook) Kind() string    { return h.Name }

// ActionType is an action that a feature outside this package adds to the
// dial plan. In a route, the key Name selects it and its value is handed to
// Decode, which returns the action's config (kept in Hook.Config) or an
// error that names the line (confyaml.Errorf, confyaml.DecodeStrict).
type ActionType struct {
	Name   string
	Decode func(value *yaml.Node) (any, error)
	// Anchored says whether the action needs the call's media through the
	// PBX (voicemail and conference do: they terminate media; a trunk may
	// not). When false, `media: direct` is allowed on its routes.
	Anchored bool
}

// builtinKeys are the route keys that are not actions, and the built-in
// actions: neither may be registered.
var builtinKeys = []string{"match", "from", "media", "record", "timeout", "user", "group", "forward", "play", "proxy"}

// Registry holds the ActionTypes a Parse accepts besides the built-in
// ones. It is built at start and then only read.
type Registry struct {
	types map[string]ActionType
}

// NewRegistry returns a registry of the given types (none: only the
// built-in actions).
func NewRegistry(types ...ActionType) (*Registry, error) {
	r := &Registry{types: map[string]ActionType{}}
	for _, t := range types {
		if err := r.Register(t); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Register adds an action type. Its name must be new, a lower-case word,
// and not a built-in key.
func (r *Registry) Register(t ActionType) error {
	if t.Name == "" || strings.Trim(t.Name, "abcdefghijklmnopqrstuvwxyz_") != "" {
		return fmt.Errorf("dialplan: action name %q is not a lower-case word", t.Name)
	}
	if t.Decode == nil {
		return fmt.Errorf("dialplan: action %s has no Decode", t.Name)
	}
	for _, k := range builtinKeys {
		if k == t.Name {
			return fmt.Errorf("dialplan: %s is a built-in key", t.Name)
		}
	}
	if _, dup := r.types[t.Name]; dup {
		return fmt.Errorf("dialplan: action %s registered twice", t.Name)
	}
	r.types[t.Name] = t
	return nil
}

func (r *Registry) lookup(name string) (ActionType, bool) {
	if r == nil {
		return ActionType{}, false
	}
	t, ok := r.types[name]
	return t, ok
}

// names lists every action a route may use, for error messages.
func (r *Registry) names() string {
	names := []string{"user", "group", "forward", "play", "proxy"}
	if r != nil {
		var extra []string
		for n := range r.types {
			extra = append(extra, n)
		}
		sort.Strings(extra)
		names = append(names, extra...)
	}
	return strings.Join(names, ", ")
}
