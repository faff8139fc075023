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
	words []string // lower-cased, sorted by first byte
	first [256]struct{ off, n uint8 }
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
		m.words = append(m.words, string(b))
	}
	slices.SortStableFunc(m.words, func(a, b string) int { return cmp.Compare(a[0], b[0]) })
	for i, w := range m.words {
		f := &m.first[w[0]]
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
		for _, w := range m.words[f.off : int(f.off)+int(f.n)] {
			end := i + len(w)
			if end > len(ua) || !equalFoldASCII(ua[i:end], w) {
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
