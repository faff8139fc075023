package peertest

import (
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/parley-sip/parley/media"
)

// TestBaresipDirectCall checks the helper itself: two baresips, no server,
// alice calls bob's listen address directly, both hear the other's tone.
func TestBaresipDirectCall(t *testing.T) {
	alice := StartBaresip(t, BaresipConfig{User: "alice", Domain: "127.0.0.1", Tone: 1000, RegInt: -1})
	bob := StartBaresip(t, BaresipConfig{User: "bob", Domain: "127.0.0.1", Tone: 600, RegInt: -1, AnswerMode: "auto"})
	alice.MustCommand("dial", "sip:bob@127.0.0.1:"+strconv.Itoa(bob.SIPPort))
	alice.MustWaitEvent("CALL_ESTABLISHED", 10*time.Second)
	bob.MustWaitEvent("CALL_ESTABLISHED", 5*time.Second)
	time.Sleep(2500 * time.Millisecond)
	alice.MustCommand("hangup", "")
	alice.MustWaitEvent("CALL_CLOSED", 5*time.Second)
	bob.MustWaitEvent("CALL_CLOSED", 5*time.Second)
	for _, tc := range []struct {
		b    *Baresip
		want float64
	}{{bob, 1000}, {alice, 600}} {
		var samples []int16
		WaitFor(3*time.Second, func() bool {
			p := tc.b.DecodedWAV()
			if p == "" {
				return false
			}
			s, err := ReadWAV(p)
			samples = s
			return err == nil && len(s) > 8000
		})
		f, level := media.DominantFrequency(samples, 8000)
		t.Logf("%s decoded %.2fs, %v Hz level %.0f", tc.b.AOR, float64(len(samples))/8000, f, level)
		if math.Abs(f-tc.want) > 30 || level < 1000 {
			t.Errorf("%s heard %v Hz (level %.0f), want %v Hz; log:\n%s", tc.b.AOR, f, level, tc.want, tc.b.Tail(40))
		}
	}
}

func TestRegState(t *testing.T) {
	for in, want := range map[string]string{
		"\n--- User Agents (1) ---\n> sip:alice@example.test                     \x1b[32mOK \x1b[;m  Expires 600s\n\n": "OK",
		"\n--- User Agents (1) ---\n> sip:alice@127.0.0.1                       \n\n":                                  "",
		"\n--- User Agents (1) ---\n> sip:OK@example.test  \x1b[31mERR\x1b[;m\n":                                       "ERR",
	} {
		if got := regState(in); got != want {
			t.Errorf("regState(%q) = %q, want %q", in, got, want)
		}
	}
}
