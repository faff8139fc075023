package config

import (
	"strings"
	"testing"
	"time"
)

func TestDecode(t *testing.T) {
	c, err := Decode(strings.NewReader(`
listen: ["udp:127.0.0.1:5070", "tcp:127.0.0.1:5070"]
log: info
trace: true
timers:
  t1: 250ms
  t2: 2s
limits:
  workers: 8
  idle_timeout: 1m
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Listen) != 2 || c.Listen[0] != "udp:127.0.0.1:5070" || !c.Trace || c.Log != "info" {
		t.Fatalf("%+v", c)
	}
	if c.Timers.T1.D() != 250*time.Millisecond || c.Limits.Workers != 8 || c.Limits.IdleTimeout.D() != time.Minute {
		t.Fatalf("%+v", c)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Decode(strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Listen) != 2 {
		t.Fatalf("%+v", c.Listen)
	}
}

func TestErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"listen: [udp:127.0.0.1:5060]\nlisten_typo: 1\n", "line 2"},
		{"timers:\n  t1: fast\n", "line 2"},
		{"limits:\n  workers: many\n", "line 2"},
		{"listen: [\"sctp:127.0.0.1:5060\"]\n", "SCTP"},
		{"listen: [\"tls:127.0.0.1:5061\"]\n", "tls.cert"},
		{"log: loud\n", "log"},
		{"timers:\n  t1: 5s\n  t2: 1s\n", "t2"},
	} {
		_, err := Decode(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%q) error %v, want mention of %q", tc.in, err, tc.want)
		}
	}
}
