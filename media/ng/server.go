package ng

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/parley-sip/parley/media"
	"github.com/parley-sip/parley/sdp"
)

// Config configures a Server.
type Config struct {
	// Relay carries the media. Required; the Server does not close it.
	Relay *media.Relay
	// Logger for failed commands; default slog.Default().
	Logger *slog.Logger
	// MaxCalls bounds the calls held at once; an offer beyond it fails.
	// Default 10,000.
	MaxCalls int
}

// Server answers ng commands on the packet connections it serves, keeping
// one media.RelayCall per Call-ID. Safe for concurrent use.
type Server struct {
	cfg Config

	mu     sync.Mutex
	calls  map[string]*call
	conns  map[net.PacketConn]struct{}
	closed bool
	replay replayCache

	requests, failures atomic.Uint64
}

type call struct {
	rc   *media.RelayCall
	tags [2]string // side A's and side B's tag
}

// Stats is a snapshot of the server's counters.
type Stats struct {
	Calls    int    // calls held now
	Requests uint64 // commands answered (retransmissions included)
	Failures uint64 // commands answered with result "error"
}

// NewServer makes a server over a relay.
func NewServer(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxCalls <= 0 {
		cfg.MaxCalls = 10000
	}
	return &Server{cfg: cfg, calls: make(map[string]*call), conns: make(map[net.PacketConn]struct{})}
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("ng: server closed")

// Serve answers requests arriving on conn until conn fails or the server
// is closed; it returns ErrServerClosed after Close. Serve closes conn
// when it returns.
func (s *Server) Serve(conn net.PacketConn) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		conn.Close()
		return ErrServerClosed
	}
	s.conns[conn] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
		conn.Close()
	}()
	buf := make([]byte, MaxMessageSize+1)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return err
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			continue // ICMP errors surfacing on a read
		}
		if reply := s.Handle(buf[:n]); reply != nil {
			conn.WriteTo(reply, from)
		}
	}
}

// Close stops every Serve and ends every call (their streams are closed).
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	conns := s.conns
	s.conns = map[net.PacketConn]struct{}{}
	calls := s.calls
	s.calls = map[string]*call{}
	s.mu.Unlock()
	for c := range conns {
		c.Close()
	}
	for _, c := range calls {
		c.rc.Close()
	}
	return nil
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	n := len(s.calls)
	s.mu.Unlock()
	return Stats{Calls: n, Requests: s.requests.Load(), Failures: s.failures.Load()}
}

// Handle answers one request datagram ("<cookie> <bencoded dict>") and
// returns the reply datagram, or nil for input with no cookie to answer
// to. A request whose cookie was just answered gets the same reply again
// without being executed twice (clients retransmit over UDP).
func (s *Server) Handle(msg []byte) []byte {
	sp := bytes.IndexByte(msg, ' ')
	if sp <= 0 || sp > 64 {
		return nil
	}
	cookie := string(msg[:sp])
	s.mu.Lock()
	if r, ok := s.replay.get(cookie); ok {
		s.mu.Unlock()
		s.requests.Add(1)
		return r
	}
	s.mu.Unlock()
	resp := s.execute(msg[sp+1:])
	s.requests.Add(1)
	if resp.Str("result") == "error" {
		s.failures.Add(1)
		s.cfg.Logger.Debug("ng: command failed", "cookie", cookie, "reason", resp.Str("error-reason"))
	}
	body, err := Append(nil, map[string]any(resp))
	if err != nil {
		body, _ = Append(nil, map[string]any{"result": "error", "error-reason": err.Error()})
	}
	reply := append(append([]byte(cookie), ' '), body...)
	s.mu.Lock()
	s.replay.put(cookie, reply)
	s.mu.Unlock()
	return reply
}

func fail(reason string) Dict {
	return Dict{"result": []byte("error"), "error-reason": []byte(reason)}
}

func (s *Server) execute(body []byte) Dict {
	v, err := Decode(body)
	if err != nil {
		return fail(err.Error())
	}
	req, ok := v.(Dict)
	if !ok {
		return fail("request is not a dictionary")
	}
	switch cmd := req.Str("command"); cmd {
	case "ping":
		return Dict{"result": []byte("pong")}
	case "offer", "answer":
		return s.offerAnswer(cmd, req)
	case "delete":
		return s.delete(req)
	case "query":
		s.mu.Lock()
		_, ok := s.calls[req.Str("call-id")]
		s.mu.Unlock()
		if !ok {
			return fail("Unknown call-id")
		}
		return Dict{"result": []byte("ok")}
	case "":
		return fail("no command")
	default:
		return fail("Unrecognized command: " + cmd)
	}
}

// offerAnswer handles offer (the SDP comes from the from-tag's party) and
// answer (from the to-tag's party): the SDP is rewritten for the other
// party. Side A is the party of the first offer's from-tag.
func (s *Server) offerAnswer(cmd string, req Dict) Dict {
	id, fromTag, toTag := req.Str("call-id"), req.Str("from-tag"), req.Str("to-tag")
	body, _ := req["sdp"].([]byte)
	switch {
	case id == "":
		return fail("No call-id in message")
	case fromTag == "":
		return fail("No from-tag in message")
	case cmd == "answer" && toTag == "":
		return fail("No to-tag in message")
	case len(body) == 0:
		return fail("No SDP body in message")
	}
	offer, err := sdp.Parse(body)
	if err != nil {
		return fail("Failed to parse SDP: " + err.Error())
	}
	senderTag := fromTag
	if cmd == "answer" {
		senderTag = toTag
	}
	s.mu.Lock()
	c := s.calls[id]
	created := false
	if c == nil {
		created = true
		if cmd == "answer" {
			s.mu.Unlock()
			return fail("Unknown call-id")
		}
		if len(s.calls) >= s.cfg.MaxCalls {
			s.mu.Unlock()
			return fail("Too many calls")
		}
		c = &call{rc: s.cfg.Relay.NewCall(), tags: [2]string{fromTag, ""}}
		s.calls[id] = c
	}
	var side media.Side
	switch senderTag {
	case c.tags[0]:
		side = media.SideA
	case c.tags[1]:
		side = media.SideB
	default:
		if c.tags[1] != "" {
			s.mu.Unlock()
			return fail("Tag " + senderTag + " is not a party of the call")
		}
		c.tags[1] = senderTag
		side = media.SideB
	}
	s.mu.Unlock()
	out, err := c.rc.Rewrite(side, offer)
	if err != nil {
		if created {
			s.mu.Lock()
			if s.calls[id] == c {
				delete(s.calls, id)
			}
			s.mu.Unlock()
			c.rc.Close()
		}
		if errors.Is(err, media.ErrNoPorts) {
			return fail("Ran out of ports")
		}
		return fail(err.Error())
	}
	return Dict{"result": []byte("ok"), "sdp": out.Marshal()}
}

func (s *Server) delete(req Dict) Dict {
	id := req.Str("call-id")
	s.mu.Lock()
	c := s.calls[id]
	delete(s.calls, id)
	s.mu.Unlock()
	if c == nil {
		return fail("Call-ID not found or tags didn't match")
	}
	c.rc.Close()
	return Dict{"result": []byte("ok")}
}

// replayCache keeps the last replies by cookie, so a retransmitted request
// is answered again rather than executed again.
type replayCache struct {
	m    map[string][]byte
	ring [256]string
	next int
}

func (c *replayCache) get(cookie string) ([]byte, bool) {
	r, ok := c.m[cookie]
	return r, ok
}

func (c *replayCache) put(cookie string, reply []byte) {
	if c.m == nil {
		c.m = make(map[string][]byte, len(c.ring))
	}
	if old := c.ring[c.next]; old != "" {
		delete(c.m, old)
	}
	c.ring[c.next] = cookie
	c.next = (c.next + 1) % len(c.ring)
	c.m[cookie] = reply
}
