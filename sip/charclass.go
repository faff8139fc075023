package sip

// Character classes of the §25.1 grammar as bit sets, so that the hot
// scanners test one table entry per byte instead of chains of comparisons.
const (
	ccAlnum    uint8 = 1 << iota // ALPHA / DIGIT
	ccUser                       // user-unreserved and mark (user part, besides alnum and escapes)
	ccPassword                   // password characters besides alnum and escapes
	ccParam                      // param-unreserved and mark
	ccHeader                     // hnv-unreserved and mark
	ccHost                       // '-', '_' inside host labels
	ccListStop                   // bytes that matter to nextListElement: '"' '<' '>' ','
)

var charClass = func() (t [256]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] |= ccAlnum
		t[c-'a'+'A'] |= ccAlnum
	}
	for c := '0'; c <= '9'; c++ {
		t[c] |= ccAlnum
	}
	set := func(chars string, bit uint8) {
		for i := 0; i < len(chars); i++ {
			t[chars[i]] |= bit
		}
	}
	set(userChars, ccUser)
	set(passwordChars, ccPassword)
	set(paramChars, ccParam)
	set(headerChars, ccHeader)
	set("-_", ccHost)
	set("\"<>,", ccListStop)
	return t
}()
