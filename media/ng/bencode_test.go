package ng

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	v, err := Decode([]byte("d7:command5:offer5:flagsl5:trust3:SIPe3:numi-42e3:sdp4:v=0\ne"))
	if err != nil {
		t.Fatal(err)
	}
	d := v.(Dict)
	if d.Str("command") != "offer" || d.Str("sdp") != "v=0\n" || d["num"] != int64(-42) || !reflect.DeepEqual(d.List("flags"), []string{"trust", "SIP"}) {
		t.Fatalf("%#v", d)
	}
	for _, tc := range []struct{ in, want string }{
		{"", "unexpected end"},
		{"i01e", "malformed integer"},
		{"i-0e", "malformed integer"},
		{"ie", "malformed integer"},
		{"5:abc", "longer than the message"},
		{"03:abc", "malformed string length"},
		{"d3:key", "unexpected end"},
		{"di1e1:ae", "not a string"},
		{"d1:a1:b1:a1:ce", "duplicate key"},
		{"l", "unterminated list"},
		{"x", "unexpected byte"},
		{"i1ei2e", "trailing"},
		{strings.Repeat("l", MaxDepth+1) + strings.Repeat("e", MaxDepth+1), "too deep"},
		{"l" + strings.Repeat("i1e", MaxItems) + "e", "too many"},
	} {
		_, err := Decode([]byte(tc.in))
		var de *DecodeError
		if err == nil || !errors.As(err, &de) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%.20q) = %v, want a DecodeError mentioning %q", tc.in, err, tc.want)
		}
	}
	if _, err := Decode(make([]byte, MaxMessageSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
}

func TestAppendSortsKeys(t *testing.T) {
	b, err := Append(nil, map[string]any{"sdp": []byte("v=0"), "result": "ok", "n": 3, "l": []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), "d1:ll1:ae1:ni3e6:result2:ok3:sdp3:v=0e"; got != want {
		t.Fatalf("got %s want %s", got, want)
	}
	if _, err := Append(nil, 1.5); err == nil {
		t.Fatal("float encoded")
	}
}

// TestGolden decodes the ng requests in testdata (as a SIP proxy's
// rtpengine module sends them) and checks that re-encoding gives the
// same bytes (they are canonical: keys sorted).
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.ng")
	if len(files) == 0 {
		t.Fatal("no testdata/*.ng")
	}
	for _, f := range files {
		msg, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		body := msg[strings.IndexByte(string(msg), ' ')+1:]
		v, err := Decode(body)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out, _ := Append(nil, v)
		if string(out) != string(body) {
			t.Errorf("%s: re-encoded differs:\n%s\n%s", f, out, body)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{"d7:command4:pinge", "li1ei-2e3:abce", "d1:ad1:bl1:ceee", "i0e", "0:"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		v, err := Decode(in)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %T: %v", err, err)
			}
			return
		}
		out, err := Append(nil, v)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		v2, err := Decode(out)
		if err != nil {
			t.Fatalf("re-decode of %q: %v", out, err)
		}
		if !reflect.DeepEqual(v, v2) {
			t.Fatalf("round trip changed %#v to %#v", v, v2)
		}
	})
}
