package ua

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/dialog"
	"github.com/parley-sip/parley/sdp"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
	"github.com/parley-sip/parley/transport"
)

// Config configures a UA. Zero fields take the documented defaults.
type Config struct {
	// User is the user part of our address of record and Contact.
	User string
	// Password answers digest challenges (with User as the user name).
	// Empty: challenges are not answered.
	Password string
	// DisplayName goes into From.
	DisplayName string
	// Domain is the host of our address of record (sip:User@Domain) and the
	// Request-URI of REGISTER. Default: the host of Server, else the local
	// address.
	Domain string
	// Server is the outbound proxy and registrar, host:port. Requests outside
	// a dialog carry a pre-loaded Route to it (§8.1.2) and are sent there;
	// requests in a dialog follow the route set, else go there too. Empty:
	// requests go straight to the Request-URI's host.
	Server string
	// Transport is "udp" (default) or "tcp".
	Transport string
	// Listen is the local SIP address, host:port. Default: the interface
	// toward Server (127.0.0.1 without one), any port. An unspecified host
	// (0.0.0.0) binds all interfaces and advertises the one toward Server.
	Listen string
	// Logger receives the UA's logs (default: discard).
	Logger *slog.Logger
	// Trace logs every SIP message at debug level.
	Trace bool
	// MediaPortMin and MediaPortMax bound the RTP ports (both zero: any).
	MediaPortMin, MediaPortMax int
	// Codecs lists the audio codecs we offer and accept, by name, in order
	// of preference: "PCMU", "PCMA" (default both, PCMU first).
	// telephone-event (RFC 4733) is always offered as payload type 101.
	Codecs []string
	// Expires is the registration lifetime we ask for (default 1 hour).
	Expires time.Duration
	// T1 is the round-trip estimate of the transaction layer (default
	// 500 ms); tests shorten it.
	T1 time.Duration
	// UserAgent is the User-Agent header (default "Parley").
	UserAgent string
	// IncomingQueue is how many unanswered incoming calls may wait in
	// Incoming (default 16). Beyond it calls are answered 486.
	IncomingQueue int
	// OnMessage receives incoming MESSAGE requests (RFC 3428), which are
	// answered 200. It runs on a transaction worker: it must not block long.
	OnMessage func(Message)
	// Reliable18x sends our 180 Ringing reliably (RFC 3262) when the
	// INVITE says Supported: 100rel. An INVITE with Require: 100rel gets a
	// reliable 180 whatever this says; one without either, an ordinary 180.
	Reliable18x bool
}

// Message is a received MESSAGE request.
type Message struct {
	From        sip.Address
	To          sip.Address
	ContentType string
	Body        []byte
	Request     *sip.Request
}

// UA is a SIP user agent. Create it with New; its methods are safe for
// concurrent use.
type UA struct {
	cfg       Config
	log       *slog.Logger
	tp        *transport.Layer
	txl       *transaction.Layer
	auth      *auth.Client
	transport string // UDP or TCP
	host      string // the host we advertise in Via and Contact
	port      int
	mediaIP   netip.Addr // advertised in SDP
	mediaBind netip.Addr // bound by media sessions
	proxy     *sip.URI   // outbound proxy, nil without one
	aor       sip.Address
	codecs    []sdp.Codec

	dialogs  dialog.Table[*Call]
	incoming chan *Call

	mu     sync.Mutex
	calls  map[*Call]struct{}
	reg    *registration
	closed bool

	// hooks for tests (export_test.go).
	beforeReinvite atomic.Pointer[func(c *Call)]
	beforeUpdate   atomic.Pointer[func(c *Call)]
	sendHook       atomic.Pointer[func(msg sip.Message) (drop bool)]
}

// ErrClosed is returned by operations on a closed UA.
var ErrClosed = errors.New("ua: closed")

// StatusError is a request that ended with a final non-2xx response (or a
// transaction failure mapped to 408/503, as §8.1.3.1 says for timeouts and
// transport errors).
type StatusError struct {
	Code   int
	Reason string
	// Response is the final response, nil for a local failure.
	Response *sip.Response
	// Err is the underlying cause of a local failure (timeout, transport,
	// cancelled context), if any.
	Err error
}

func (e *StatusError) Error() string {
	s := strconv.Itoa(e.Code) + " " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *StatusError) Unwrap() error { return e.Err }

func statusOf(resp *sip.Response) *StatusError {
	return &StatusError{Code: resp.StatusCode, Reason: resp.Reason, Response: resp}
}

// New builds a UA: it binds its SIP listener and starts its transaction
// layer. It does not register; call Register.
func New(cfg Config) (*UA, error) {
	if cfg.User == "" {
		cfg.User = "parley"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "Parley"
	}
	if cfg.Expires <= 0 {
		cfg.Expires = time.Hour
	}
	if cfg.IncomingQueue <= 0 {
		cfg.IncomingQueue = 16
	}
	u := &UA{
		cfg:      cfg,
		log:      cfg.Logger,
		calls:    make(map[*Call]struct{}),
		incoming: make(chan *Call, cfg.IncomingQueue),
		auth:     auth.NewClient(cfg.User, cfg.Password),
	}
	switch strings.ToUpper(cfg.Transport) {
	case "", transport.UDP:
		u.transport = transport.UDP
	case transport.TCP:
		u.transport = transport.TCP
	default:
		return nil, fmt.Errorf("ua: unsupported transport %q (want udp or tcp)", cfg.Transport)
	}
	codecs, err := parseCodecs(cfg.Codecs)
	if err != nil {
		return nil, err
	}
	u.codecs = codecs

	var serverHost string
	if cfg.Server != "" {
		pu, err := sip.ParseURI("sip:" + cfg.Server)
		if err != nil {
			return nil, fmt.Errorf("ua: server %q: %w", cfg.Server, err)
		}
		pu.Params = pu.Params.With("lr", "")
		if u.transport == transport.TCP {
			pu.Params = pu.Params.With("transport", "tcp")
		}
		u.proxy = &pu
		serverHost = pu.Host
	}

	listen := cfg.Listen
	if listen == "" {
		ip := "127.0.0.1"
		if cfg.Server != "" {
			if a, ok := localIPToward(cfg.Server); ok {
				ip = a.String()
			}
		}
		listen = net.JoinHostPort(ip, "0")
	}
	lhost, _, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("ua: listen %q: %w", listen, err)
	}
	bind, err := netip.ParseAddr(strings.Trim(lhost, "[]"))
	if err != nil {
		return nil, fmt.Errorf("ua: listen %q: want an IP address", listen)
	}
	advertised := bind
	if bind.IsUnspecified() {
		advertised = netip.MustParseAddr("127.0.0.1")
		if cfg.Server != "" {
			if a, ok := localIPToward(cfg.Server); ok {
				advertised = a
			}
		}
	}
	u.mediaIP, u.mediaBind = advertised, bind

	// Listen before the handler is installed: the UA's fields are all set
	// when the first message reaches it (SetHandler is the hand-over).
	u.tp = transport.New(transport.Config{Logger: cfg.Logger, Trace: cfg.Trace})
	if err := u.tp.Listen(transport.ListenSpec{Transport: u.transport, Addr: listen}); err != nil {
		_ = u.tp.Shutdown(context.Background())
		return nil, fmt.Errorf("ua: %w", err)
	}
	la, _ := u.tp.LocalAddr(u.transport)
	u.host = hostString(advertised)
	u.port = int(la.AddrPort.Port())

	domain := cfg.Domain
	if domain == "" {
		domain = serverHost
	}
	if domain == "" {
		domain = u.host
	}
	aorURI, err := sip.ParseURI("sip:" + cfg.User + "@" + domain)
	if err != nil {
		_ = u.tp.Shutdown(context.Background())
		return nil, fmt.Errorf("ua: address of record: %w", err)
	}
	u.aor = sip.Address{Display: cfg.DisplayName, URI: aorURI}
	u.txl = transaction.New(transaction.Config{T1: cfg.T1, Logger: cfg.Logger, OnAck: u.onAck},
		sender{u}, transaction.HandlerFunc(u.serveSIP))
	u.tp.SetHandler(u.txl)
	return u, nil
}

func hostString(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		return "[" + a.String() + "]"
	}
	return a.Unmap().String()
}

// localIPToward finds the local address the kernel would use to reach
// server: connecting a UDP socket sends nothing but picks the route.
func localIPToward(server string) (netip.Addr, bool) {
	host, port, err := net.SplitHostPort(server)
	if err != nil {
		host, port = server, "5060"
	}
	c, err := net.Dial("udp", net.JoinHostPort(host, port))
	if err != nil {
		return netip.Addr{}, false
	}
	defer c.Close()
	ap, err := netip.ParseAddrPort(c.LocalAddr().String())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

func parseCodecs(names []string) ([]sdp.Codec, error) {
	if len(names) == 0 {
		names = []string{"PCMU", "PCMA"}
	}
	var out []sdp.Codec
	for _, n := range names {
		switch strings.ToUpper(strings.TrimSpace(n)) {
		case "PCMU":
			out = append(out, sdp.Codec{PayloadType: 0, Name: "PCMU", ClockRate: 8000})
		case "PCMA":
			out = append(out, sdp.Codec{PayloadType: 8, Name: "PCMA", ClockRate: 8000})
		default:
			return nil, fmt.Errorf("ua: unsupported codec %q (want PCMU or PCMA)", n)
		}
	}
	return out, nil
}

// AOR returns our address of record (sip:user@domain).
func (u *UA) AOR() sip.URI { return u.aor.URI }

// ContactString returns Contact() in its wire form, for dialing this UA
// directly.
func (u *UA) ContactString() string {
	c := u.Contact()
	return c.String()
}

// Contact returns the URI other agents reach us at: our user at the
// advertised host and listening port.
func (u *UA) Contact() sip.URI {
	s := "sip:" + u.cfg.User + "@" + u.host + ":" + strconv.Itoa(u.port)
	if u.transport == transport.TCP {
		s += ";transport=tcp"
	}
	c, _ := sip.ParseURI(s)
	return c
}

func (u *UA) contactValue() string {
	c := u.Contact()
	return "<" + c.String() + ">"
}

// Transport returns the signalling transport, "UDP" or "TCP".
func (u *UA) Transport() string { return u.transport }

// Incoming returns the channel on which incoming calls arrive, already
// ringing (180 sent). Answer or Reject each one.
func (u *UA) Incoming() <-chan *Call { return u.incoming }

// Close hangs up every call, removes the registration and stops the stack,
// waiting at most until ctx ends.
func (u *UA) Close(ctx context.Context) error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil
	}
	u.closed = true
	calls := make([]*Call, 0, len(u.calls))
	for c := range u.calls {
		calls = append(calls, c)
	}
	reg := u.reg
	u.mu.Unlock()

	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.Hangup(ctx)
		}()
	}
	wg.Wait()
	// Drain calls nobody took from Incoming.
	for {
		select {
		case c := <-u.incoming:
			_ = c.Reject(sip.StatusTemporarilyUnavailable, "")
			continue
		default:
		}
		break
	}
	if reg != nil {
		_ = u.unregister(ctx, reg)
	}
	return u.shutdown(ctx)
}

func (u *UA) shutdown(ctx context.Context) error {
	err := u.txl.Shutdown(ctx)
	if e := u.tp.Shutdown(ctx); err == nil {
		err = e
	}
	return err
}

func (u *UA) isClosed() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.closed
}

// ---- building and sending requests ----

// newRequest builds a request outside a dialog (§8.1.1) to ruri with the To
// address to: From with a fresh tag, a new Call-ID, CSeq 1, Max-Forwards,
// the outbound proxy's pre-loaded Route and, for INVITE, our Contact.
func (u *UA) newRequest(method string, ruri sip.URI, to sip.Address) *sip.Request {
	req := sip.NewRequest(method, ruri)
	if u.proxy != nil {
		req.Add("Route", "<"+u.proxy.String()+">")
	}
	from := u.aor
	from.Params = from.Params.With("tag", transaction.NewTag())
	req.Add("From", from.String())
	req.Add("To", to.String())
	req.Add("Call-ID", transaction.NewTag()+transaction.NewTag()+"@"+strings.Trim(u.host, "[]"))
	req.Add("CSeq", sip.CSeq{Seq: 1, Method: method}.String())
	if method == sip.INVITE || method == sip.REGISTER || method == sip.SUBSCRIBE {
		req.Add("Contact", u.contactValue())
	}
	u.addCommon(req)
	return req
}

// addCommon adds the headers every request of ours carries.
func (u *UA) addCommon(req *sip.Request) {
	if !req.Has("Max-Forwards") {
		req.Add("Max-Forwards", "70")
	}
	req.Add("User-Agent", u.cfg.UserAgent)
	if req.Method == sip.INVITE || req.Method == sip.UPDATE {
		req.Add("Allow", allowed)
	}
	if req.Method == sip.INVITE {
		req.Add("Supported", supported)
	}
}

// allowed is our Allow header; supported our Supported one: the option
// tags we implement (RFC 3262 100rel; UPDATE is a method, not a tag).
const (
	allowed   = "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, UPDATE, PRACK, INFO"
	supported = "100rel"
)

// sender is the transaction layer's Sender: the transport, behind the test
// hook that may drop outgoing messages (a lost datagram).
type sender struct{ u *UA }

func (s sender) drop(msg sip.Message) bool {
	h := s.u.sendHook.Load()
	return h != nil && (*h)(msg)
}

func (s sender) SendRequest(req *sip.Request, dst transport.Addr) error {
	if s.drop(req) {
		return nil
	}
	return s.u.tp.SendRequest(req, dst)
}

func (s sender) SendResponse(resp *sip.Response) error {
	if s.drop(resp) {
		return nil
	}
	return s.u.tp.SendResponse(resp)
}

func (s sender) PrepareRequest(req *sip.Request, dst transport.Addr) transport.Addr {
	return s.u.tp.PrepareRequest(req, dst)
}

// nextHop decides where a request goes (§8.1.2): to its first Route, else
// the outbound proxy, else the Request-URI.
func (u *UA) nextHop(req *sip.Request) (transport.Addr, error) {
	var target sip.URI
	found := false
	for r, err := range req.Routes() {
		if err == nil {
			target, found = r.URI, true
		}
		break
	}
	if !found {
		if u.proxy != nil {
			target = *u.proxy
		} else {
			target = req.URI
		}
	}
	host := target.Host
	if m, ok := target.Param("maddr"); ok {
		host = m
	}
	ap, err := transport.Resolve(host, target.Port, u.transport)
	if err != nil {
		return transport.Addr{}, err
	}
	return transport.Addr{Transport: u.transport, AddrPort: ap}, nil
}

// stampVia puts our Via with a fresh branch on top of req.
func (u *UA) stampVia(req *sip.Request) {
	req.Prepend("Via", "SIP/2.0/"+u.transport+" "+u.host+":"+strconv.Itoa(u.port)+";rport;branch="+transaction.NewBranch())
}

// start sends req in a new client transaction.
func (u *UA) start(ctx context.Context, req *sip.Request) (*transaction.ClientTx, error) {
	if u.isClosed() && req.Method != sip.REGISTER && req.Method != sip.BYE {
		return nil, ErrClosed
	}
	dst, err := u.nextHop(req)
	if err != nil {
		return nil, &StatusError{Code: sip.StatusServiceUnavailable, Reason: "No Route", Err: err}
	}
	u.stampVia(req)
	tx, err := u.txl.Request(ctx, req, dst)
	if err != nil {
		return nil, &StatusError{Code: sip.StatusServiceUnavailable, Reason: "Service Unavailable", Err: err}
	}
	return tx, nil
}

// sendACK sends an ACK for a 2xx: it is not a transaction (§17.1.1.3), so
// it goes straight to the transport.
func (u *UA) sendACK(ack *sip.Request) error {
	dst, err := u.nextHop(ack)
	if err != nil {
		return err
	}
	return sender{u}.SendRequest(ack, dst)
}

// waitFinal returns the final response of a transaction, mapping a timeout
// to 408 and a transport failure to 503 (§8.1.3.1).
func waitFinal(ctx context.Context, tx *transaction.ClientTx, onProvisional func(*sip.Response)) (*sip.Response, error) {
	for {
		select {
		case resp, ok := <-tx.Responses():
			if !ok {
				return nil, txFailure(tx.Err())
			}
			if resp.StatusCode < 200 {
				if onProvisional != nil {
					onProvisional(resp)
				}
				continue
			}
			return resp, nil
		case <-ctx.Done():
			return nil, &StatusError{Code: sip.StatusRequestTerminated, Reason: "Request Terminated", Err: ctx.Err()}
		}
	}
}

func txFailure(err error) error {
	if err == nil {
		err = errors.New("transaction ended without a final response")
	}
	if errors.Is(err, transaction.ErrTimeout) {
		return &StatusError{Code: sip.StatusRequestTimeout, Reason: "Request Timeout", Err: err}
	}
	return &StatusError{Code: sip.StatusServiceUnavailable, Reason: "Service Unavailable", Err: err}
}

// do runs a non-INVITE request to its final response, answering one round
// of digest challenges (§8.1.3.5, §22.2). nextSeq gives the CSeq number of
// the retry (the dialog's next, or the old one plus one outside dialogs).
func (u *UA) do(ctx context.Context, req *sip.Request, nextSeq func() uint32) (*sip.Response, error) {
	for attempt := 0; ; attempt++ {
		tx, err := u.start(ctx, req)
		if err != nil {
			return nil, err
		}
		resp, err := waitFinal(ctx, tx, nil)
		if err != nil {
			return nil, err
		}
		if (resp.StatusCode == 401 || resp.StatusCode == 407) && attempt < 2 && u.cfg.Password != "" {
			next, err := u.authorizedRetry(req, resp, nextSeq)
			if err != nil {
				return resp, statusOf(resp)
			}
			req = next
			continue
		}
		if resp.StatusCode >= 300 {
			return resp, statusOf(resp)
		}
		return resp, nil
	}
}

// authorizedRetry copies req with credentials for resp's challenges, a new
// CSeq and no Via (a new branch is stamped when it is sent).
func (u *UA) authorizedRetry(req *sip.Request, resp *sip.Response, nextSeq func() uint32) (*sip.Request, error) {
	next := req.Clone()
	next.RemoveFirstValue("Via")
	cs, err := req.CSeq()
	if err != nil {
		return nil, err
	}
	seq := cs.Seq + 1
	if nextSeq != nil {
		seq = nextSeq()
	}
	next.Set("CSeq", sip.CSeq{Seq: seq, Method: cs.Method}.String())
	if err := u.auth.Authorize(next, resp); err != nil {
		u.log.Warn("authentication failed", "method", req.Method, "status", resp.StatusCode, "err", err)
		return nil, err
	}
	return next, nil
}

// parseTarget accepts "sip:bob@host", "sips:...", "bob@host" or "bob" (in
// our domain).
func (u *UA) parseTarget(target string) (sip.Address, error) {
	t := strings.TrimSpace(target)
	if strings.HasPrefix(t, "<") || strings.Contains(t, "\"") {
		a, err := sip.ParseAddress(t)
		if err != nil {
			return sip.Address{}, fmt.Errorf("ua: bad target %q: %w", target, err)
		}
		return a, nil
	}
	if !strings.HasPrefix(t, "sip:") && !strings.HasPrefix(t, "sips:") && !strings.HasPrefix(t, "tel:") {
		if !strings.Contains(t, "@") {
			t += "@" + u.aor.URI.HostPort()
		}
		t = "sip:" + t
	}
	uri, err := sip.ParseURI(t)
	if err != nil {
		return sip.Address{}, fmt.Errorf("ua: bad target %q: %w", target, err)
	}
	return sip.Address{URI: uri}, nil
}

// ---- serving requests ----

// serveSIP is the transaction user of new server transactions (§8.2).
func (u *UA) serveSIP(tx *transaction.ServerTx) {
	req := tx.Request()
	// §8.2.2.3: of the extensions only 100rel (RFC 3262) is supported;
	// any other Require is refused.
	if req.Method != sip.CANCEL && req.Method != sip.ACK {
		var unsupported []string
		for v := range req.Values("Require") {
			if !strings.EqualFold(v, "100rel") {
				unsupported = append(unsupported, v)
			}
		}
		if len(unsupported) > 0 {
			resp := sip.NewResponse(req, sip.StatusBadExtension, "")
			resp.Add("Unsupported", strings.Join(unsupported, ", "))
			_ = tx.Respond(resp)
			return
		}
	}
	if req.Method == sip.CANCEL {
		// A CANCEL that reaches us matched no INVITE transaction (§9.2).
		u.respond(tx, sip.StatusCallTransactionDoesNotExist, "")
		return
	}
	if u.isClosed() {
		u.respond(tx, sip.StatusServiceUnavailable, "")
		return
	}
	if req.ToTag() != "" {
		u.serveInDialog(tx)
		return
	}
	switch req.Method {
	case sip.INVITE:
		u.incomingCall(tx)
	case sip.MESSAGE:
		u.incomingMessage(tx)
	case sip.OPTIONS:
		u.answerOptions(tx)
	case sip.BYE, sip.UPDATE, sip.INFO, sip.PRACK, sip.NOTIFY:
		// These only make sense inside a dialog, and without a To tag
		// this one names none (§12.2.2).
		u.respond(tx, sip.StatusCallTransactionDoesNotExist, "")
	default:
		resp := sip.NewResponse(req, sip.StatusMethodNotAllowed, "")
		resp.Add("Allow", allowed)
		_ = tx.Respond(resp)
	}
}

func (u *UA) respond(tx *transaction.ServerTx, code int, reason string) {
	_ = tx.Respond(sip.NewResponse(tx.Request(), code, reason))
}

// serveInDialog handles a request with a To tag (§12.2.2).
func (u *UA) serveInDialog(tx *transaction.ServerTx) {
	req := tx.Request()
	_, c, err := u.dialogs.Match(req)
	if err != nil {
		code, reason := sip.StatusCallTransactionDoesNotExist, ""
		if se, ok := sip.AsStatusError(err); ok {
			code, reason = se.Code, se.Reason
		}
		u.respond(tx, code, reason)
		return
	}
	switch req.Method {
	case sip.INVITE:
		c.handleReinvite(tx)
	case sip.UPDATE:
		c.handleUpdate(tx)
	case sip.PRACK:
		c.handlePrack(tx)
	case sip.BYE:
		u.respond(tx, sip.StatusOK, "")
		c.finish(EndInfo{Reason: "remote hangup", Remote: true})
	case sip.OPTIONS:
		u.answerOptions(tx)
	case sip.MESSAGE:
		u.incomingMessage(tx)
	case sip.INFO, sip.NOTIFY:
		u.respond(tx, sip.StatusOK, "")
	default:
		resp := sip.NewResponse(req, sip.StatusMethodNotAllowed, "")
		resp.Add("Allow", allowed)
		_ = tx.Respond(resp)
	}
}

// onAck receives ACKs for 2xx responses (and stray ACKs): it runs on a
// transport reader and must not block.
func (u *UA) onAck(ack *sip.Request) {
	_, c, ok := u.dialogs.Get(dialog.IncomingID(ack))
	if !ok {
		return
	}
	c.handleAck(ack)
}

func (u *UA) answerOptions(tx *transaction.ServerTx) {
	resp := sip.NewResponse(tx.Request(), sip.StatusOK, "")
	if tx.Request().ToTag() == "" {
		resp.SetToTag(transaction.NewTag())
	}
	resp.Add("Allow", allowed)
	resp.Add("Supported", supported)
	resp.Add("Accept", "application/sdp, text/plain")
	resp.Add("Contact", u.contactValue())
	_ = tx.Respond(resp)
}

func (u *UA) addCall(c *Call) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return false
	}
	u.calls[c] = struct{}{}
	return true
}

func (u *UA) removeCall(c *Call) {
	u.mu.Lock()
	delete(u.calls, c)
	u.mu.Unlock()
}

// Calls returns the calls in progress.
func (u *UA) Calls() []*Call {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]*Call, 0, len(u.calls))
	for c := range u.calls {
		out = append(out, c)
	}
	return out
}
