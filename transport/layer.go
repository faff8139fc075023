package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-sip/parley/sip"
)

// Handler receives every message that parsed and passed the §18 checks.
// HandleMessage is called from reader goroutines, concurrently; it must not
// block for long (the transaction layer hands work to its own pool).
type Handler interface {
	HandleMessage(msg sip.Message)
}

// SourceFilter is consulted for every packet, and every stream
// connection, before anything is parsed: Admit reports whether the source
// may be served. It runs on the reader goroutines, concurrently, and must
// be cheap; a refused packet is dropped silently and a refused connection
// closed. Parley's abuse protection (flood limits, bans) implements it.
type SourceFilter interface {
	Admit(src netip.Addr) bool
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(sip.Message)

// HandleMessage calls f(msg).
func (f HandlerFunc) HandleMessage(msg sip.Message) { f(msg) }

// Config is the transport layer's configuration. Zero fields take the
// documented defaults.
type Config struct {
	// Limits bound the messages accepted (size, header count, line length).
	Limits sip.Limits
	// TLS is used by "tls" and "wss" listeners and by outgoing TLS
	// connections. For mutual TLS set ClientAuth and ClientCAs.
	TLS *tls.Config
	// IdleTimeout closes a stream connection with no traffic for this long
	// (default 5 minutes; keep-alives count as traffic).
	IdleTimeout time.Duration
	// DialTimeout bounds connecting to a peer (default 5 s).
	DialTimeout time.Duration
	// WriteTimeout bounds one write on a stream connection (default 10 s).
	WriteTimeout time.Duration
	// MaxConnsPerSource bounds the connections accepted from one IP address
	// (default 128).
	MaxConnsPerSource int
	// MaxConns bounds all stream connections (default 10000).
	MaxConns int
	// UDPReaders is the number of sockets (SO_REUSEPORT) and reader
	// goroutines per UDP listener (default 1). More readers spread parsing
	// across cores.
	UDPReaders int
	// PathMTU decides when a request is too large for UDP: a request more
	// than PathMTU-200 bytes long goes over TCP when a TCP listener exists
	// (§18.1.1; default 1500).
	PathMTU int
	// Filter, when set, decides per packet and per connection whether a
	// source is served at all (see SourceFilter).
	Filter SourceFilter
	// Logger receives structured logs (default: discard).
	Logger *slog.Logger
	// Trace logs every message sent and received at debug level.
	Trace bool
	// Tap, when set, sees every message received and sent (see Tap).
	Tap Tap
}

func (c Config) withDefaults() Config {
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 5 * time.Minute
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.MaxConnsPerSource <= 0 {
		c.MaxConnsPerSource = 128
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 10000
	}
	if c.UDPReaders <= 0 {
		c.UDPReaders = 1
	}
	if c.PathMTU <= 0 {
		c.PathMTU = 1500
	}
	if c.Limits.MaxMessageSize <= 0 {
		c.Limits.MaxMessageSize = sip.DefaultMaxMessageSize
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// ListenSpec is one listening address: "udp:127.0.0.1:5060",
// "tcp:[::1]:5060", "tls:0.0.0.0:5061", "ws:127.0.0.1:8080",
// "wss:127.0.0.1:8443".
type ListenSpec struct {
	Transport string // upper case
	Addr      string // host:port
}

// ParseListen parses "transport:host:port". A missing transport means UDP.
func ParseListen(s string) (ListenSpec, error) {
	s = strings.TrimSpace(s)
	proto, addr, ok := strings.Cut(s, ":")
	if !ok {
		return ListenSpec{}, fmt.Errorf("listen %q: want transport:host:port", s)
	}
	switch t := strings.ToUpper(proto); t {
	case UDP, TCP, TLS, WS, WSS:
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return ListenSpec{}, fmt.Errorf("listen %q: %v", s, err)
		}
		return ListenSpec{Transport: t, Addr: addr}, nil
	case SCTP:
		return ListenSpec{}, fmt.Errorf("listen %q: SCTP is not supported by this build", s)
	}
	if _, _, err := net.SplitHostPort(s); err == nil {
		return ListenSpec{Transport: UDP, Addr: s}, nil
	}
	return ListenSpec{}, fmt.Errorf("listen %q: unknown transport %q (want udp, tcp, tls, ws or wss)", s, proto)
}

// ParseListenList parses a comma-separated list of listen specs.
func ParseListenList(s string) ([]ListenSpec, error) {
	var out []ListenSpec
	for part := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		ls, err := ParseListen(part)
		if err != nil {
			return nil, err
		}
		out = append(out, ls)
	}
	return out, nil
}

// Stats are the layer's counters.
type Stats struct {
	Received        uint64 // messages handed up
	Sent            uint64 // messages written
	Malformed       uint64 // messages that failed to parse
	Dropped         uint64 // messages dropped (malformed beyond answering, bad response Via, ...)
	StatelessErrors uint64 // 4xx/5xx answered by the transport itself
	KeepAlives      uint64 // CRLF keep-alives received
	ConnsOpen       int64  // stream connections open now
	ConnsRejected   uint64 // connections refused by the limits or the Filter
	SendErrors      uint64
	Filtered        uint64 // packets the Filter refused, dropped before parsing
	HandlerPanics   uint64 // messages whose handler panicked (requests answered 500)
}

// Layer is the transport layer: a set of listeners and the connections made
// through them, shared by everything above.
type Layer struct {
	cfg     Config
	parser  sip.Parser
	log     *slog.Logger
	handler atomic.Pointer[Handler]
	tapper  atomic.Pointer[Tap]

	mu        sync.Mutex
	udp       []*udpListener
	streams   []streamListener
	conns     map[connKey]*streamConn
	perSource map[netip.Addr]int
	closed    bool
	wg        sync.WaitGroup

	stats struct {
		received, sent, malformed, dropped, stateless, keepalives, rejected, sendErrors atomic.Uint64
		filtered, panics                                                                atomic.Uint64
		connsOpen                                                                       atomic.Int64
	}
}

// New makes a layer with no listeners.
func New(cfg Config) *Layer {
	cfg = cfg.withDefaults()
	l := &Layer{
		cfg:       cfg,
		parser:    sip.Parser{Limits: cfg.Limits},
		log:       cfg.Logger,
		conns:     make(map[connKey]*streamConn),
		perSource: make(map[netip.Addr]int),
	}
	var h Handler = HandlerFunc(func(sip.Message) {})
	l.handler.Store(&h)
	if cfg.Tap != nil {
		l.SetTap(cfg.Tap)
	}
	return l
}

// SetHandler sets where received messages go. Set it before Listen.
func (l *Layer) SetHandler(h Handler) { l.handler.Store(&h) }

// Stats returns a snapshot of the counters.
func (l *Layer) Stats() Stats {
	return Stats{
		Received:        l.stats.received.Load(),
		Sent:            l.stats.sent.Load(),
		Malformed:       l.stats.malformed.Load(),
		Dropped:         l.stats.dropped.Load(),
		StatelessErrors: l.stats.stateless.Load(),
		KeepAlives:      l.stats.keepalives.Load(),
		ConnsOpen:       l.stats.connsOpen.Load(),
		ConnsRejected:   l.stats.rejected.Load(),
		Filtered:        l.stats.filtered.Load(),
		HandlerPanics:   l.stats.panics.Load(),
		SendErrors:      l.stats.sendErrors.Load(),
	}
}

// Listen opens a listener and starts serving it. The address's port may be
// 0; LocalAddrs tells the port chosen.
func (l *Layer) Listen(spec ListenSpec) error {
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return errors.New("transport: layer is shut down")
	}
	switch spec.Transport {
	case UDP:
		return l.listenUDP(spec.Addr)
	case TCP, TLS:
		return l.listenStream(spec.Transport, spec.Addr)
	case WS, WSS:
		return l.listenWS(spec.Transport, spec.Addr)
	}
	return fmt.Errorf("transport: unsupported transport %q", spec.Transport)
}

// LocalAddrs lists the bound addresses of all listeners.
func (l *Layer) LocalAddrs() []Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Addr
	for _, u := range l.udp {
		out = append(out, Addr{Transport: UDP, AddrPort: u.local})
	}
	for _, s := range l.streams {
		out = append(out, Addr{Transport: s.transport(), AddrPort: s.local()})
	}
	return out
}

// LocalAddr returns the first listener of a transport.
func (l *Layer) LocalAddr(transport string) (Addr, bool) {
	for _, a := range l.LocalAddrs() {
		if strings.EqualFold(a.Transport, transport) {
			return a, true
		}
	}
	return Addr{}, false
}

// Shutdown stops listening, closes every connection and waits for the
// reader goroutines, or for ctx.
func (l *Layer) Shutdown(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	for _, u := range l.udp {
		for _, c := range u.socks {
			c.Close()
		}
	}
	for _, s := range l.streams {
		s.close()
	}
	conns := make([]*streamConn, 0, len(l.conns))
	for _, c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// deliver parses one message and hands it up, answering or dropping what
// cannot be accepted. raw is only borrowed.
func (l *Layer) deliver(raw []byte, origin sip.Origin, reply func([]byte) error) {
	l.tap(Received, origin.Transport, origin.Local, origin.Source, raw)
	msg, err := l.parser.Parse(raw)
	if l.cfg.Trace {
		l.log.Debug("recv", "transport", origin.Transport, "from", origin.Source.String(), "msg", string(raw))
	}
	if err != nil {
		l.stats.malformed.Add(1)
		l.rejectMalformed(msg, err, origin, reply)
		return
	}
	switch m := msg.(type) {
	case *sip.Request:
		m.Origin = origin
		if !stampVia(&m.Headers, origin) {
			l.stats.dropped.Add(1)
			return
		}
	case *sip.Response:
		m.Origin = origin
	}
	l.stats.received.Add(1)
	l.handle(msg, reply)
}

// admit asks the Filter whether src is served; false counts a drop.
func (l *Layer) admit(src netip.Addr) bool {
	if l.cfg.Filter == nil || l.cfg.Filter.Admit(src) {
		return true
	}
	l.stats.filtered.Add(1)
	return false
}

// handle gives msg to the handler, on the reader goroutine. A panic in
// anything above is stopped here, so that one bad message cannot take the
// server down: a request other than ACK gets a 500 (unless the layers above
// had answered it), the panic is logged with the Call-ID and counted, and
// the reader goes on with the next message.
func (l *Layer) handle(msg sip.Message, reply func([]byte) error) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		l.stats.panics.Add(1)
		var callID string
		switch m := msg.(type) {
		case *sip.Request:
			callID = m.CallID()
			if m.Method != sip.ACK {
				resp := sip.NewResponse(m, sip.StatusServerInternalError, "")
				resp.SetToTag(sip.StatelessTag(callID, m.FromTag()))
				_ = reply(resp.AppendTo(nil))
			}
		case *sip.Response:
			callID = m.CallID()
		}
		l.log.Error("handler panic", "call-id", callID, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	}()
	(*l.handler.Load()).HandleMessage(msg)
}

// rejectMalformed answers a request that failed to parse with the status
// its error names (§8.2, §18.3) whenever there was a request line to read:
// a broken or missing Via, a missing From, To, Call-ID or CSeq included.
// The answer goes back over the connection, or to the source address from
// the socket, the request came on (§18.2.2 falls back to the source when
// the Via cannot be used); it copies the request's Via lines verbatim, and
// whichever of From, To, Call-ID and CSeq there are. Responses, ACKs and
// text without a request line are dropped.
func (l *Layer) rejectMalformed(msg sip.Message, err error, origin sip.Origin, reply func([]byte) error) {
	se, ok := sip.AsStatusError(err)
	req, isReq := msg.(*sip.Request)
	if !ok || !isReq || req.Method == sip.ACK {
		l.stats.dropped.Add(1)
		l.log.Debug("dropped malformed message", "from", origin.Source.String(), "err", err)
		return
	}
	req.Origin = origin
	stampVia(&req.Headers, origin) // a no-op when the Via is unusable
	resp := sip.NewResponse(req, se.Code, se.Reason)
	// §8.2.6.2 and §16.11: every retransmission gets the same answer.
	resp.SetToTag(sip.StatelessTag(req.CallID(), req.FromTag()))
	l.stats.stateless.Add(1)
	l.log.Debug("answered malformed request", "from", origin.Source.String(), "status", se.Code, "reason", se.Reason)
	bp := bufPool.Get().(*[]byte)
	b := resp.AppendTo((*bp)[:0])
	if err := reply(b); err != nil {
		l.stats.sendErrors.Add(1)
	} else {
		l.stats.sent.Add(1)
		l.tap(Sent, origin.Transport, origin.Local, origin.Source, b)
	}
	*bp = b
	bufPool.Put(bp)
}

// stampVia applies §18.2.1 and RFC 3581 to the top Via of a received
// request: received when the sent-by host is not the source address, and
// the rport value when the client asked for it. It reports false when the
// request has no usable Via (it is then dropped). The new value is built in
// one allocation: this runs for every request.
func stampVia(h *sip.Headers, origin sip.Origin) bool {
	v, err := h.TopVia()
	if err != nil {
		return false
	}
	if !origin.Source.IsValid() {
		return true
	}
	src := origin.Source.Addr().Unmap()
	hasRport := v.Params.Has("rport")
	hostIsSrc := false
	if a, ok := sip.HostAddr(v.Host); ok && a.Unmap() == src {
		hostIsSrc = true
	}
	if hostIsSrc && !hasRport {
		return true
	}
	var stack [512]byte
	b := append(stack[:0], "SIP/2.0/"...)
	b = append(b, v.Transport...)
	b = append(b, ' ')
	b = append(b, v.Host...)
	if v.Port != 0 {
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(v.Port), 10)
	}
	for rest := v.Params; ; {
		name, value, next, ok := rest.Cut()
		if !ok {
			break
		}
		rest = next
		if strings.EqualFold(name, "received") || strings.EqualFold(name, "rport") {
			continue
		}
		b = append(b, ';')
		b = append(b, name...)
		if value != "" {
			b = append(b, '=')
			b = append(b, value...)
		}
	}
	b = append(b, ";received="...)
	b = src.AppendTo(b)
	if hasRport {
		b = append(b, ";rport="...)
		b = strconv.AppendInt(b, int64(origin.Source.Port()), 10)
	}
	replaceTopVia(h, string(b))
	return true
}

// replaceTopVia swaps the first Via value for val, keeping the others: a
// line holding several values loses its first one, and the new value goes on
// a line of its own above it.
func replaceTopVia(h *sip.Headers, val string) {
	h.RemoveFirstValue("Via")
	h.Prepend("Via", val)
}
