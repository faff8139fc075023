package storetest_test

import (
	"testing"
	"time"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/location/storetest"
)

// A backend's test runs the suite with a way to open fresh stores; Reopen
// and Peer, when the backend has them, add the restart and the
// cross-server tests.
func ExampleRun() {
	_ = func(t *testing.T) {
		storetest.Run(t, storetest.Config{
			Open: func(t *testing.T, clock func() time.Time) location.Store {
				return location.NewMemoryStore(location.Options{Clock: clock, SweepInterval: -1})
			},
		})
	}
}
