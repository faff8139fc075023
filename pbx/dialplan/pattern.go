package dialplan

import (
	"errors"
	"fmt"
	"math/bits"
	"strings"
)

// maxNumberLen bounds numbers and patterns (and so the depth of the trie
// and of Match's recursion).
const maxNumberLen = 64

// validNumberChar reports whether c may appear in a dialled number or an
// exact extension: what a SIP URI user part holds without escaping,
// minus the separators that would be ambiguous in a plan.
func validNumberChar(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' ||
		strings.IndexByte("*#+-._~", c) >= 0
}

// checkNumber reports why s cannot be an exact number, or nil.
func checkNumber(s string) error {
	if s == "" {
		return errors.New("empty number")
	}
	if len(s) > maxNumberLen {
		return fmt.Errorf("number longer than %d characters", maxNumberLen)
	}
	for i := 0; i < len(s); i++ {
		if !validNumberChar(s[i]) {
			return fmt.Errorf("number %q: character %q is not allowed (digits, letters, * # + - . _ ~)", s, s[i])
		}
	}
	return nil
}

// charSet is a set of bytes.
type charSet [4]uint64

func (s *charSet) add(c byte)      { s[c>>6] |= 1 << (c & 63) }
func (s *charSet) has(c byte) bool { return s[c>>6]&(1<<(c&63)) != 0 }
func (s *charSet) count() int {
	return bits.OnesCount64(s[0]) + bits.OnesCount64(s[1]) + bits.OnesCount64(s[2]) + bits.OnesCount64(s[3])
}
func (s *charSet) addRange(lo, hi byte) {
	for c := int(lo); c <= int(hi); c++ {
		s.add(byte(c))
	}
}

// tail is what a pattern allows after its fixed part.
type tail uint8

const (
	tailNone tail = iota // nothing: the number has the pattern's length
	tailOne              // ".": one or more further characters
	tailAny              // "!": zero or more further characters
)

// step is one position of a compiled pattern: a literal byte, or a class.
type step struct {
	lit   byte // when class is nil
	class *charSet
}

// compiledPattern is a pattern's fixed steps and its tail.
type compiledPattern struct {
	steps []step
	tail  tail
}

// literal returns the pattern as an exact number when it has no classes
// and no tail ("_200" is the number 200).
func (p compiledPattern) literal() (string, bool) {
	if p.tail != tailNone {
		return "", false
	}
	b := make([]byte, len(p.steps))
	for i, s := range p.steps {
		if s.class != nil {
			return "", false
		}
		b[i] = s.lit
	}
	return string(b), true
}

// compilePattern reads the text after the leading "_" of a pattern:
//
//	X       any digit 0-9       Z   1-9       N   2-9   (either case)
//	[1-5#]  one character of the set (digits, ranges, other number characters)
//	.       at the end only: one or more characters of any kind
//	!       at the end only: zero or more characters
//	other   itself (digits, letters other than X Z N, * # + - ~)
func compilePattern(s string) (compiledPattern, error) {
	var p compiledPattern
	if s == "" {
		return p, errors.New("empty pattern after _")
	}
	if len(s) > maxNumberLen {
		return p, fmt.Errorf("pattern longer than %d characters", maxNumberLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.' || c == '!':
			if i != len(s)-1 {
				return p, fmt.Errorf("%q may only end a pattern", c)
			}
			if c == '.' {
				p.tail = tailOne
			} else {
				p.tail = tailAny
			}
		case c == 'X' || c == 'x':
			p.steps = append(p.steps, step{class: rangeSet('0', '9')})
		case c == 'Z' || c == 'z':
			p.steps = append(p.steps, step{class: rangeSet('1', '9')})
		case c == 'N' || c == 'n':
			p.steps = append(p.steps, step{class: rangeSet('2', '9')})
		case c == '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return p, errors.New("[ without ]")
			}
			set, err := parseSet(s[i+1 : i+end])
			if err != nil {
				return p, err
			}
			p.steps = append(p.steps, step{class: set})
			i += end
		case validNumberChar(c) && c != '_':
			p.steps = append(p.steps, step{lit: c})
		default:
			return p, fmt.Errorf("character %q is not allowed in a pattern", c)
		}
	}
	return p, nil
}

func rangeSet(lo, hi byte) *charSet {
	var s charSet
	s.addRange(lo, hi)
	return &s
}

// parseSet reads the inside of [...]: characters and ranges a-b.
func parseSet(s string) (*charSet, error) {
	if s == "" {
		return nil, errors.New("empty []")
	}
	var set charSet
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !validNumberChar(c) || c == '.' {
			return nil, fmt.Errorf("character %q is not allowed in []", c)
		}
		if i+2 < len(s) && s[i+1] == '-' {
			hi := s[i+2]
			if !validNumberChar(hi) || hi < c {
				return nil, fmt.Errorf("bad range %c-%c in []", c, hi)
			}
			set.addRange(c, hi)
			i += 2
			continue
		}
		set.add(c)
	}
	return &set, nil
}

// trieNode is one position in the pattern trie. Children are tried most
// specific first: the literal, then the classes from the smallest set
// (the order insert keeps), then the tails; so the first route found is
// the most specific pattern that matches, as Asterisk orders them.
type trieNode struct {
	lits    []litEdge
	classes []classEdge
	end     []*route // patterns that end here
	one     []*route // ... followed by "."
	any     []*route // ... followed by "!"
}

type litEdge struct {
	c    byte
	next *trieNode
}

type classEdge struct {
	set  charSet
	n    int // set size, for ordering
	next *trieNode
}

func (n *trieNode) child(st step) *trieNode {
	if st.class == nil {
		for _, e := range n.lits {
			if e.c == st.lit {
				return e.next
			}
		}
		next := &trieNode{}
		n.lits = append(n.lits, litEdge{st.lit, next})
		return next
	}
	for _, e := range n.classes {
		if e.set == *st.class {
			return e.next
		}
	}
	next := &trieNode{}
	e := classEdge{set: *st.class, n: st.class.count(), next: next}
	i := len(n.classes)
	for i > 0 && n.classes[i-1].n > e.n {
		i--
	}
	n.classes = append(n.classes, classEdge{})
	copy(n.classes[i+1:], n.classes[i:])
	n.classes[i] = e
	return next
}

// insert returns the route list the pattern ends in.
func (n *trieNode) insert(p compiledPattern) *[]*route {
	for _, st := range p.steps {
		n = n.child(st)
	}
	switch p.tail {
	case tailOne:
		return &n.one
	case tailAny:
		return &n.any
	}
	return &n.end
}

// match walks s from position i; see trieNode for the order.
func (n *trieNode) match(s string, i int, caller string, anyCaller bool) *route {
	if i == len(s) {
		if r := pick(n.end, caller, anyCaller); r != nil {
			return r
		}
		return pick(n.any, caller, anyCaller)
	}
	c := s[i]
	for _, e := range n.lits {
		if e.c == c {
			if r := e.next.match(s, i+1, caller, anyCaller); r != nil {
				return r
			}
			break
		}
	}
	for k := range n.classes {
		e := &n.classes[k]
		if e.set.has(c) {
			if r := e.next.match(s, i+1, caller, anyCaller); r != nil {
				return r
			}
		}
	}
	if r := pick(n.one, caller, anyCaller); r != nil {
		return r
	}
	return pick(n.any, caller, anyCaller)
}
