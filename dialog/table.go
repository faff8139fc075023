package dialog

import (
	"sync"

	"github.com/parley-sip/parley/sip"
)

// Table holds the live dialogs of a user agent, keyed by ID. It is safe for
// concurrent use. Values are of any type so that a user agent can keep its
// call object beside the dialog; Match returns that value.
type Table[V any] struct {
	mu sync.RWMutex
	m  map[ID]entry[V]
}

type entry[V any] struct {
	d *Dialog
	v V
}

// Put adds or replaces the dialog under its id.
func (t *Table[V]) Put(d *Dialog, v V) {
	t.mu.Lock()
	if t.m == nil {
		t.m = make(map[ID]entry[V])
	}
	t.m[d.ID()] = entry[V]{d, v}
	t.mu.Unlock()
}

// Get returns the dialog with the id.
func (t *Table[V]) Get(id ID) (*Dialog, V, bool) {
	t.mu.RLock()
	e, ok := t.m[id]
	t.mu.RUnlock()
	return e.d, e.v, ok
}

// Remove deletes the dialog with the id, if it is the one stored (a
// dialog replaced under the same id stays).
func (t *Table[V]) Remove(d *Dialog) {
	id := d.ID()
	t.mu.Lock()
	if e, ok := t.m[id]; ok && e.d == d {
		delete(t.m, id)
	}
	t.mu.Unlock()
}

// Len returns the number of dialogs.
func (t *Table[V]) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.m)
}

// Values returns the stored values, in no particular order.
func (t *Table[V]) Values() []V {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]V, 0, len(t.m))
	for _, e := range t.m {
		out = append(out, e.v)
	}
	return out
}

// Match finds the dialog of a received in-dialog request (one with a To
// tag) and validates it (§12.2.2). A request for no known dialog yields a
// *sip.StatusError with code 481 wrapping ErrNoDialog; an out-of-order CSeq
// one with 500 (see Dialog.ValidateRequest).
func (t *Table[V]) Match(req *sip.Request) (*Dialog, V, error) {
	d, v, ok := t.Get(IncomingID(req))
	if !ok {
		var zero V
		return nil, zero, &sip.StatusError{Code: sip.StatusCallTransactionDoesNotExist,
			Reason: "Call/Transaction Does Not Exist", Err: ErrNoDialog}
	}
	if err := d.ValidateRequest(req); err != nil {
		return d, v, err
	}
	return d, v, nil
}
