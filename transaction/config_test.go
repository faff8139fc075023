package transaction

import (
	"testing"
	"time"
)

func TestConfigValidateAndDefaults(t *testing.T) {
	var zero Config
	if err := zero.Validate(); err != nil {
		t.Fatal(err)
	}
	d := zero.withDefaults()
	if d.T1 != 500*time.Millisecond || d.T2 != 4*time.Second || d.T4 != 5*time.Second ||
		d.TimerD != 32*time.Second || d.TimerC != 0 || d.TryingDelay != 200*time.Millisecond ||
		d.Workers <= 0 || d.QueueSize != DefaultQueueSize || d.RetryAfter != 5 || d.ResponseBuffer != 8 || d.Logger == nil {
		t.Fatalf("%+v", d)
	}
	for _, bad := range []Config{
		{T1: -1},
		{T1: 5 * time.Second, T2: time.Second},
		{TimerC: time.Minute},
		{Workers: -1},
	} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if (&Config{ResponseBuffer: 1}).withDefaults().ResponseBuffer != 2 {
		t.Fatal("ResponseBuffer below 2")
	}
	if (&Config{RetryAfter: -1}).withDefaults().RetryAfter != -1 {
		t.Fatal("RetryAfter < 0 must mean no header")
	}
}
