package config

import (
	"path/filepath"
	"runtime"
	"testing"
)

// TestSampleConfig keeps examples/parley.yaml loadable: it documents every
// key, so a key renamed here must be renamed there.
func TestSampleConfig(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	cfg, err := Load(filepath.Join(filepath.Dir(file), "..", "examples", "parley.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Users) != 3 || cfg.Users[2].HA1 == "" || cfg.Limits.Queue != 4096 {
		t.Fatalf("%+v", cfg)
	}
	plan, err := cfg.DialPlan(nil)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := plan.Match("200", "bob"); !ok || r.Action.Kind() != "group" || plan.Len() != 8 {
		t.Fatalf("%+v", cfg)
	}
}
