package location_test

import (
	"testing"
	"time"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/location/storetest"
)

func TestMemoryStoreConformance(t *testing.T) {
	storetest.Run(t, storetest.Config{
		Open: func(t *testing.T, clock func() time.Time) location.Store {
			return location.NewMemoryStore(location.Options{Clock: clock, SweepInterval: -1})
		},
	})
}

func TestFileStoreConformance(t *testing.T) {
	dirs := map[location.Store]string{}
	open := func(t *testing.T, dir string, clock func() time.Time) location.Store {
		s, err := location.OpenFile(dir, location.FileOptions{Options: location.Options{Clock: clock, SweepInterval: -1}, SyncInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		dirs[s] = dir
		return s
	}
	storetest.Run(t, storetest.Config{
		Open: func(t *testing.T, clock func() time.Time) location.Store { return open(t, t.TempDir(), clock) },
		Reopen: func(t *testing.T, s location.Store, clock func() time.Time) location.Store {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			return open(t, dirs[s], clock)
		},
	})
}

// The periodic-sync mode writes records from the producers themselves.
func TestFileStorePeriodicConformance(t *testing.T) {
	dirs := map[location.Store]string{}
	open := func(t *testing.T, dir string, clock func() time.Time) location.Store {
		s, err := location.OpenFile(dir, location.FileOptions{Options: location.Options{Clock: clock, SweepInterval: -1}, SyncPeriod: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		dirs[s] = dir
		return s
	}
	storetest.Run(t, storetest.Config{
		Open: func(t *testing.T, clock func() time.Time) location.Store { return open(t, t.TempDir(), clock) },
		Reopen: func(t *testing.T, s location.Store, clock func() time.Time) location.Store {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			return open(t, dirs[s], clock)
		},
	})
}
