package guard

import (
	"cmp"
	"slices"
)

// matcher finds any of a set of words in a User-Agent, ASCII
// case-insensitively and as whole words, without allocating. The words
// are sorted by their first (lower-cased) byte and a 512-byte table gives
// the run of words starting with each byte, so a User-Agent costs one
// small-table look-up per byte plus a comparison where a word can start.
type matcher struct {
	words []word // sorted by first byte
	first [256]struct{ off, n uint8 }
}

// word is one lower-cased word with its first (up to) 8 bytes packed for a
// quick first comparison: head is those bytes with bit 0x20 set, mask
// covers them. Setting 0x20 lower-cases letters (and leaves some other
// bytes equal that were not), so head equality is a cheap pre-filter that
// never rejects a match; equalFoldASCII confirms.
type word struct {
	s          string
	head, mask uint64
}

func newWord(lowered string) word {
	w := word{s: lowered}
	for i := 0; i < len(lowered) && i < 8; i++ {
		w.head |= uint64(lowered[i]|0x20) << (8 * i)
		w.mask |= 0xff << (8 * i)
	}
	return w
}

// load8 packs up to 8 bytes of s from i, little-endian, with 0x20 set in
// each.
func load8(s string, i int) uint64 {
	if i+8 <= len(s) {
		s = s[i : i+8]
		return (uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56) | 0x2020202020202020
	}
	var v uint64
	for j := 0; i+j < len(s); j++ {
		v |= uint64(s[i+j]|0x20) << (8 * j)
	}
	return v
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// newMatcher takes at most maxScannerEntries (256) non-empty words.
func newMatcher(words []string) matcher {
	var m matcher
	for _, w := range words {
		b := []byte(w)
		for i := range b {
			b[i] = lower(b[i])
		}
		m.words = append(m.words, newWord(string(b)))
	}
	slices.SortStableFunc(m.words, func(a, b word) int { return cmp.Compare(a.s[0], b.s[0]) })
	for i, w := range m.words {
		f := &m.first[w.s[0]]
		if f.n == 0 {
			f.off = uint8(i)
		}
		f.n++
	}
	return m
}

// match reports whether ua contains one of the words as a whole word: a
// word that starts (ends) with a letter or digit must not have a letter or
// digit just before (after) it.
func (m *matcher) match(ua string) bool {
	if len(m.words) == 0 {
		return false
	}
	for i := 0; i < len(ua); i++ {
		f := m.first[lower(ua[i])]
		if f.n == 0 {
			continue
		}
		if i > 0 && isWordByte(ua[i-1]) && isWordByte(ua[i]) {
			continue // inside a word: no whole-word match can start here
		}
		head := load8(ua, i)
		for _, cand := range m.words[f.off : int(f.off)+int(f.n)] {
			w := cand.s
			end := i + len(w)
			if end > len(ua) || head&cand.mask != cand.head || !equalFoldASCII(ua[i:end], w) {
				continue
			}
			if end < len(ua) && isWordByte(w[len(w)-1]) && isWordByte(ua[end]) {
				continue
			}
			return true
		}
	}
	return false
}

// equalFoldASCII compares s with the lower-case word w, folding ASCII
// letters of s only.
func equalFoldASCII(s, w string) bool {
	for i := 0; i < len(w); i++ {
		if lower(s[i]) != w[i] {
			return false
		}
	}
	return true
}
