package ng

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// Bencode (BEP 3), the encoding of ng messages: integers i<n>e, byte
// strings <len>:<bytes>, lists l...e and dictionaries d...e with byte
// string keys. Decoded values are int64, []byte, []any and Dict.

// Dict is a decoded dictionary.
type Dict map[string]any

// Str returns the byte string value of key as a string ("" when absent or
// not a string).
func (d Dict) Str(key string) string {
	if b, ok := d[key].([]byte); ok {
		return string(b)
	}
	return ""
}

// List returns the list value of key as strings, skipping non-strings.
func (d Dict) List(key string) []string {
	l, _ := d[key].([]any)
	var out []string
	for _, v := range l {
		if b, ok := v.([]byte); ok {
			out = append(out, string(b))
		}
	}
	return out
}

// Limits of the decoder: an ng message is a small dict with an SDP in it.
const (
	MaxMessageSize = 65535 // bytes: one UDP datagram
	MaxDepth       = 16    // nesting of lists and dicts
	MaxItems       = 4096  // values in one message
)

// DecodeError says what is wrong with a bencoded message and where.
type DecodeError struct {
	Offset int
	Msg    string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("ng: bencode at byte %d: %s", e.Offset, e.Msg)
}

// ErrTooLarge is returned for messages beyond MaxMessageSize.
var ErrTooLarge = errors.New("ng: message too large")

type decoder struct {
	b     []byte
	off   int
	items int
}

// Decode decodes exactly one bencoded value that spans all of b.
func Decode(b []byte) (any, error) {
	if len(b) > MaxMessageSize {
		return nil, ErrTooLarge
	}
	d := &decoder{b: b}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	if d.off != len(b) {
		return nil, d.fail("trailing bytes after the value")
	}
	return v, nil
}

func (d *decoder) fail(msg string) error { return &DecodeError{Offset: d.off, Msg: msg} }

func (d *decoder) value(depth int) (any, error) {
	if d.off >= len(d.b) {
		return nil, d.fail("unexpected end")
	}
	if d.items++; d.items > MaxItems {
		return nil, d.fail("too many values")
	}
	switch c := d.b[d.off]; {
	case c == 'i':
		d.off++
		end := bytes.IndexByte(d.b[d.off:], 'e')
		if end < 0 {
			return nil, d.fail("unterminated integer")
		}
		s := string(d.b[d.off : d.off+end])
		// BEP 3: no leading zeros, no "-0".
		if s == "" || s == "-" || (len(s) > 1 && s[0] == '0') || (len(s) > 1 && s[0] == '-' && s[1] == '0') {
			return nil, d.fail("malformed integer")
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, d.fail("malformed integer")
		}
		d.off += end + 1
		return n, nil
	case c >= '0' && c <= '9':
		return d.str()
	case c == 'l', c == 'd':
		if depth >= MaxDepth {
			return nil, d.fail("nested too deep")
		}
		d.off++
		if c == 'l' {
			l := []any{}
			for {
				if d.off >= len(d.b) {
					return nil, d.fail("unterminated list")
				}
				if d.b[d.off] == 'e' {
					d.off++
					return l, nil
				}
				v, err := d.value(depth + 1)
				if err != nil {
					return nil, err
				}
				l = append(l, v)
			}
		}
		m := Dict{}
		for {
			if d.off >= len(d.b) {
				return nil, d.fail("unterminated dictionary")
			}
			if d.b[d.off] == 'e' {
				d.off++
				return m, nil
			}
			if d.b[d.off] < '0' || d.b[d.off] > '9' {
				return nil, d.fail("dictionary key is not a string")
			}
			k, err := d.str()
			if err != nil {
				return nil, err
			}
			key := string(k)
			if _, dup := m[key]; dup {
				return nil, d.fail("duplicate key " + strconv.Quote(key))
			}
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			m[key] = v
		}
	}
	return nil, d.fail(fmt.Sprintf("unexpected byte %q", d.b[d.off]))
}

func (d *decoder) str() ([]byte, error) {
	colon := bytes.IndexByte(d.b[d.off:], ':')
	if colon < 1 || colon > 7 {
		return nil, d.fail("malformed string length")
	}
	s := string(d.b[d.off : d.off+colon])
	if len(s) > 1 && s[0] == '0' {
		return nil, d.fail("malformed string length")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return nil, d.fail("malformed string length")
	}
	start := d.off + colon + 1
	if n > len(d.b)-start {
		return nil, d.fail("string longer than the message")
	}
	d.off = start + n
	return d.b[start:d.off:d.off], nil
}

// Append appends the bencoding of v: int, int64, string, []byte, []any,
// []string, Dict or map[string]any (keys sorted, as BEP 3 wants).
func Append(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case int:
		return Append(b, int64(v))
	case int64:
		b = append(b, 'i')
		b = strconv.AppendInt(b, v, 10)
		return append(b, 'e'), nil
	case string:
		b = strconv.AppendInt(b, int64(len(v)), 10)
		b = append(b, ':')
		return append(b, v...), nil
	case []byte:
		b = strconv.AppendInt(b, int64(len(v)), 10)
		b = append(b, ':')
		return append(b, v...), nil
	case []string:
		b = append(b, 'l')
		for _, s := range v {
			b, _ = Append(b, s)
		}
		return append(b, 'e'), nil
	case []any:
		b = append(b, 'l')
		for _, e := range v {
			var err error
			if b, err = Append(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, 'e'), nil
	case Dict:
		return appendDict(b, v)
	case map[string]any:
		return appendDict(b, v)
	}
	return nil, fmt.Errorf("ng: cannot bencode %T", v)
}

func appendDict(b []byte, m map[string]any) ([]byte, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, 'd')
	for _, k := range keys {
		b, _ = Append(b, k)
		var err error
		if b, err = Append(b, m[k]); err != nil {
			return nil, err
		}
	}
	return append(b, 'e'), nil
}
