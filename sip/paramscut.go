package sip

import "strings"

// Cut splits off the first parameter of the list: its name, its value ("" for
// a flag) and the rest, without allocating; ok is false when the list is
// empty. It is the iteration to use on hot paths, where a range-over-func
// closure would escape.
func (p Params) Cut() (name, value string, rest Params, ok bool) {
	s := string(p)
	for s != "" {
		var seg string
		seg, s = nextParam(s)
		if seg == "" {
			continue
		}
		name = seg
		if i := strings.IndexByte(seg, '='); i >= 0 {
			name, value = trimLWS(seg[:i]), trimLWS(seg[i+1:])
		}
		return name, value, Params(s), true
	}
	return "", "", "", false
}
