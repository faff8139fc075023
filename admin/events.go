package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// eventHub feeds the console's server-sent events (/api/events): once a
// second, or at once when poked (a new call captured, a registration
// removed), it takes a snapshot of the counts and, when it changed, sends
// it to each subscriber whose last event differs, as an event "status". The console refetches what
// it shows on each event; the snapshot is cheap (counts, not lists).
type eventHub struct {
	a      *Server
	pokeCh chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	subs map[chan []byte]*subscriber
}

// subscriber is one event stream and the last snapshot it was sent.
type subscriber struct{ last []byte }

// maxSubscribers bounds the event streams open at once.
const maxSubscribers = 64

func newEventHub(a *Server) *eventHub {
	ctx, cancel := context.WithCancel(context.Background())
	return &eventHub{a: a, pokeCh: make(chan struct{}, 1), ctx: ctx, cancel: cancel, subs: map[chan []byte]*subscriber{}}
}

func (h *eventHub) poke() {
	select {
	case h.pokeCh <- struct{}{}:
	default:
	}
}

func (h *eventHub) start() {
	h.done = make(chan struct{})
	go h.run()
}

func (h *eventHub) stop() {
	h.cancel()
	if h.done != nil {
		<-h.done
	}
}

type eventStatus struct {
	Registrations int    `json:"registrations"`
	Calls         int    `json:"calls_captured"`
	LastCall      uint64 `json:"last_call"`
	Bans          int    `json:"bans_active"`
}

func (h *eventHub) snapshot() []byte {
	var s eventStatus
	ctx, cancel := context.WithTimeout(h.ctx, time.Second)
	s.Registrations, _ = h.a.srv.Store().Count(ctx)
	cancel()
	if c := h.a.capture; c != nil {
		s.Calls = c.Stats().Calls
		if l := c.Calls(1); len(l) == 1 {
			s.LastCall = l[0].Seq
		}
	}
	if g := h.a.srv.Guard(); g != nil {
		s.Bans = g.Stats().BansActive
	}
	b, _ := json.Marshal(s)
	return b
}

func (h *eventHub) run() {
	defer close(h.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-tick.C:
		case <-h.pokeCh:
			// Coalesce a burst of new calls into one event.
			select {
			case <-time.After(100 * time.Millisecond):
			case <-h.ctx.Done():
				return
			}
		}
		h.mu.Lock()
		n := len(h.subs)
		h.mu.Unlock()
		if n == 0 {
			continue
		}
		snap := h.snapshot()
		h.mu.Lock()
		for ch, sub := range h.subs {
			if string(snap) == string(sub.last) {
				continue
			}
			select {
			case ch <- snap:
				sub.last = snap
			default: // a slow reader gets it on the next round
			}
		}
		h.mu.Unlock()
	}
}

// serve is GET /api/events: text/event-stream, an event "status" at once
// and on every change, a comment every 15 s to keep proxies from closing.
func (h *eventHub) serve(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming not supported")
		return
	}
	ch := make(chan []byte, 1)
	first := h.snapshot()
	h.mu.Lock()
	if len(h.subs) >= maxSubscribers {
		h.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, "too many event streams open (%d)", maxSubscribers)
		return
	}
	h.subs[ch] = &subscriber{last: first}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}()
	// The stream outlives the server's write timeout.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "event: status\ndata: %s\n\n", first)
	fl.Flush()
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-h.ctx.Done():
			return
		case b := <-ch:
			fmt.Fprintf(w, "event: status\ndata: %s\n\n", b)
			fl.Flush()
		case <-keep.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			fl.Flush()
		}
	}
}
