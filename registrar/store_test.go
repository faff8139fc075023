package registrar

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/parley-sip/parley/location"
)

// failingStore is a store that is down: every call fails with err.
type failingStore struct {
	location.Store
	err error
}

func (f failingStore) Lookup(context.Context, string) ([]location.Binding, error) { return nil, f.err }
func (f failingStore) Update(context.Context, string, location.UpdateFunc) ([]location.Binding, error) {
	return nil, f.err
}

func TestStoreErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		status     int
		retryAfter string
	}{
		{"unavailable", fmt.Errorf("%w: redis: dial tcp: connection refused", location.ErrUnavailable), 503, "7"},
		{"deadline", context.DeadlineExceeded, 503, "7"},
		{"conflict", location.ErrConflict, 503, "7"},
		{"closed", location.ErrClosed, 503, "7"},
		{"invalid", fmt.Errorf("%w: field too long", location.ErrInvalid), 500, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) {
				c.Store = failingStore{Store: c.Store, err: tc.err}
				c.RetryAfter = 7
			})
			for _, req := range []string{desk, ""} { // an update and a query
				extra := []string{}
				if req != "" {
					extra = append(extra, req)
				}
				resp := e.r.Register(context.Background(), reg(t, "c1", 1, extra...))
				if resp.StatusCode != tc.status {
					t.Fatalf("%q: %d %s, want %d", req, resp.StatusCode, resp.Reason, tc.status)
				}
				if got, _ := resp.Get("Retry-After"); got != tc.retryAfter {
					t.Fatalf("Retry-After %q, want %q", got, tc.retryAfter)
				}
			}
		})
	}
}

func TestNodeRecorded(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Node = "node-2" })
	if resp := e.r.Register(context.Background(), reg(t, "c1", 1, desk)); resp.StatusCode != 200 {
		t.Fatal(resp)
	}
	bs, err := e.store.Lookup(context.Background(), "sip:alice@example.com")
	if err != nil || len(bs) != 1 || bs[0].Node != "node-2" {
		t.Fatalf("%+v %v", bs, err)
	}
}

func TestTooManyContacts(t *testing.T) {
	e := newEnv(t)
	for i := range location.MaxBindings {
		c := fmt.Sprintf("Contact: <sip:alice@192.0.2.%d:%d>", i%250+1, 5060+i)
		if resp := e.r.Register(context.Background(), reg(t, "c1", i+1, c)); resp.StatusCode != 200 {
			t.Fatalf("contact %d: %d %s", i, resp.StatusCode, resp.Reason)
		}
	}
	resp := e.r.Register(context.Background(), reg(t, "c1", location.MaxBindings+1, "Contact: <sip:alice@198.51.100.1>"))
	if resp.StatusCode != 403 {
		t.Fatalf("one more: %d %s", resp.StatusCode, resp.Reason)
	}
	// A refresh of one already there is fine.
	if resp := e.r.Register(context.Background(), reg(t, "c1", location.MaxBindings+2, "Contact: <sip:alice@192.0.2.1:5060>")); resp.StatusCode != 200 {
		t.Fatalf("refresh: %d %s", resp.StatusCode, resp.Reason)
	}
}

// racyStore hands Update's fn the same snapshot twice before storing, as a
// shared store does when another node wrote in between (it retries fn with
// the new bindings): the registrar's fn must not depend on being called
// once.
type racyStore struct {
	location.Store
	mu sync.Mutex
}

func (s *racyStore) Update(ctx context.Context, aor string, fn location.UpdateFunc) ([]location.Binding, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Store.Update(ctx, aor, func(cur []location.Binding) ([]location.Binding, error) {
		first := append([]location.Binding(nil), cur...)
		if _, err := fn(first); err != nil {
			return nil, err
		}
		return fn(cur)
	})
}

func TestUpdateRetried(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Store = &racyStore{Store: c.Store} })
	if resp := e.r.Register(context.Background(), reg(t, "c1", 1, desk, mobile)); resp.StatusCode != 200 || len(headerValues(resp, "Contact")) != 2 {
		t.Fatalf("%d %q", resp.StatusCode, headerValues(resp, "Contact"))
	}
	if resp := e.r.Register(context.Background(), reg(t, "c1", 1, desk)); resp.StatusCode != 500 {
		t.Fatalf("stale CSeq: %d", resp.StatusCode)
	}
	if resp := e.r.Register(context.Background(), reg(t, "c1", 2, desk+";expires=0")); resp.StatusCode != 200 || len(headerValues(resp, "Contact")) != 1 {
		t.Fatalf("%d %q", resp.StatusCode, headerValues(resp, "Contact"))
	}
}
