package guard

// matcher finds any of a set of words in a User-Agent, ASCII
// case-insensitively and as whole words, without allocating. Words are
// indexed by their first (lower-cased) byte, so a User-Agent costs one
// table look-up per byte plus a comparison where a word could start.
type matcher struct {
	words   []string      // lower-cased
	byFirst [256][]uint16 // indexes into words
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

func newMatcher(words []string) matcher {
	var m matcher
	for _, w := range words {
		b := []byte(w)
		for i := range b {
			b[i] = lower(b[i])
		}
		m.words = append(m.words, string(b))
		m.byFirst[b[0]] = append(m.byFirst[b[0]], uint16(len(m.words)-1))
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
		cands := m.byFirst[lower(ua[i])]
		if len(cands) == 0 {
			continue
		}
		if i > 0 && isWordByte(ua[i-1]) && isWordByte(ua[i]) {
			continue // inside a word: no whole-word match can start here
		}
		for _, wi := range cands {
			w := m.words[wi]
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
