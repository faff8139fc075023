// Package leg is one side of a call the PBX is a party to: a dialog usage
// (RFC 3261 §12) on the server's own transport and transaction layers — no
// listener, no transaction layer, no media of its own.
//
// A leg is built directly on packages dialog and transaction rather than on
// package ua: a ua.Call terminates its media (it owns a media.Session and
// answers offers itself), while a B2BUA leg carries SDP as bytes it hands
// to its owner's media strategy, and relays what the other side does
// (provisional responses, re-INVITEs, UPDATEs, BYE) instead of deciding
// itself. What every user agent needs — 2xx retransmission until the ACK
// (§13.3.1.4), the ACK for a 2xx (§13.2.2.4), CANCEL (§9.1), in-dialog
// requests with their CSeq checks (§12.2, 481/500) — is here once, so the
// next kinds of legs are one constructor each:
//
//   - a trunk leg: Dial with the provider's identity (Invite.From), its
//     next hop (Invite.Target) and credentials (the owner retries a 401/407
//     with auth.Client, as ua does);
//   - a browser leg: the same dialog usage over a WebSocket connection of
//     the transport layer, its SDP (ICE, DTLS-SRTP) produced and consumed by
//     a pion/webrtc media strategy instead of the relay;
//   - a conference participant: an inbound leg whose media strategy
//     terminates the stream on the mixer's clock.
//
// Concurrency: a leg's methods are safe for concurrent use; the events it
// sees (responses, in-dialog requests, ACKs) are handed to its owner, which
// runs one goroutine per call and keeps the call's state there.
package leg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parley-sip/parley/dialog"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
	"github.com/parley-sip/parley/transport"
)

// Stack is what legs run on: the server's transaction and transport layers.
type Stack struct {
	Tx *transaction.Layer
	TP *transport.Layer
	// UserAgent, when set, is the User-Agent of requests and the Server
	// header of responses the legs make.
	UserAgent string
	// Allow is the Allow header value of dialog-creating messages.
	Allow string
	Log   *slog.Logger
}

// T1 is the transaction layer's round-trip estimate (for 2xx
// retransmission).
func (s *Stack) t1() time.Duration {
	if t := s.Tx.Config().T1; t > 0 {
		return t
	}
	return 500 * time.Millisecond
}

func (s *Stack) t2() time.Duration {
	if t := s.Tx.Config().T2; t > 0 {
		return t
	}
	return 4 * time.Second
}

// Contact is our Contact value for a transport: the first listener's
// address, no user part (requests to it are the server's own: the relay
// policy lets them in, and the PBX finds their dialog).
func (s *Stack) Contact(tp string) (string, bool) {
	host, port, ok := s.TP.ViaHost(tp)
	if !ok {
		return "", false
	}
	return "<sip:" + host + ":" + strconv.Itoa(port) + ";transport=" + strings.ToLower(tp) + ">", true
}

// Errors of the leg API.
var (
	ErrNotConfirmed = errors.New("leg: dialog not confirmed")
	ErrNoListener   = errors.New("leg: no listener for the transport")
)

// Leg is one dialog of a call. Inbound legs (the PBX is the UAS: the
// caller's) come from Accept, outbound legs (the PBX is the UAC) from Dial.
type Leg struct {
	st      *Stack
	inbound bool
	invite  *sip.Request // the dialog-creating INVITE, received or sent
	stx     *transaction.ServerTx
	ctx     *transaction.ClientTx
	contact string
	tag     string
	// flow is where in-dialog requests go while the route set is empty:
	// the address the caller's INVITE came from, or the callee's
	// registration flow — a phone behind NAT is reached through its
	// binding, not its private Contact.
	flow transport.Addr

	mu       sync.Mutex
	dlg      *dialog.Dialog
	acked    chan struct{} // closed by the ACK of our 2xx (inbound)
	ackedSet bool
	final    int // final status sent (inbound) or received (outbound) to the INVITE
	ackFor   *sip.Request
	allow    string // the far side's Allow: its INVITE's, or its 2xx's
}

// Allows reports whether the far side may accept method: its Allow header
// names it, or it sent none (which says nothing, §20.5: then trying costs
// at most a 405).
func (l *Leg) Allows(method string) bool {
	l.mu.Lock()
	allow := l.allow
	l.mu.Unlock()
	if l.inbound {
		for v := range l.invite.Values("Allow") {
			allow += "," + v
		}
	}
	if allow == "" {
		return true
	}
	for _, m := range strings.Split(allow, ",") {
		if strings.EqualFold(strings.TrimSpace(m), method) {
			return true
		}
	}
	return false
}

// Dialog returns the leg's dialog, nil before a response with a To tag.
func (l *Leg) Dialog() *dialog.Dialog {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dlg
}

// Inbound reports whether the PBX is the UAS of the leg.
func (l *Leg) Inbound() bool { return l.inbound }

// Invite returns the dialog-creating INVITE.
func (l *Leg) Invite() *sip.Request { return l.invite }

// CallID returns the leg's Call-ID.
func (l *Leg) CallID() string { return l.invite.CallID() }

// LocalTag is our tag in the dialog.
func (l *Leg) LocalTag() string { return l.tag }

// ID is the dialog id of the leg's requests as the far side sends them
// (dialog.IncomingID of its requests), valid once its tag is known.
func (l *Leg) ID() (dialog.ID, bool) {
	d := l.Dialog()
	if d == nil {
		return dialog.ID{}, false
	}
	return d.ID(), true
}

// Accept makes the inbound leg of an INVITE server transaction.
func Accept(st *Stack, stx *transaction.ServerTx) (*Leg, error) {
	req := stx.Request()
	tp := strings.ToUpper(req.Origin.Transport)
	if tp == "" {
		tp = transport.UDP
	}
	contact, ok := st.Contact(tp)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoListener, tp)
	}
	l := &Leg{
		st: st, inbound: true, invite: req, stx: stx, contact: contact, tag: transaction.NewTag(),
		flow:  transport.Addr{Transport: tp, AddrPort: req.Origin.Source},
		acked: make(chan struct{}),
	}
	return l, nil
}

// ServerTx is the inbound leg's INVITE transaction (its Cancelled channel
// says the caller gave up).
func (l *Leg) ServerTx() *transaction.ServerTx { return l.stx }

// Prepare creates the dialog the inbound leg's first 1xx or 2xx will
// establish, so that its owner can file it before the response leaves (the
// ACK and a BYE may follow the 2xx at once).
func (l *Leg) Prepare() (*dialog.Dialog, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dlg == nil {
		d, err := dialog.NewUAS(l.invite, l.tag, l.contact)
		if err != nil {
			return nil, err
		}
		l.dlg = d
	}
	return l.dlg, nil
}

// Respond answers the inbound leg's INVITE: code with reason ("" the
// standard phrase), body of type application/sdp when not empty, and extra
// header lines ("Name: value"). A 1xx (but 100) or 2xx creates the dialog;
// a 2xx is retransmitted until its ACK comes (§13.3.1.4) — Acked says when
// — and gives up after 64·T1, reported as ErrNoAck by WaitAck.
func (l *Leg) Respond(code int, reason string, body []byte, extra ...string) error {
	resp := sip.NewResponse(l.invite, code, reason)
	if code > 100 {
		resp.SetToTag(l.tag)
	}
	if code > 100 && code < 300 {
		resp.CopyRecordRoute(l.invite)
		resp.Add("Contact", l.contact)
		if l.st.Allow != "" {
			resp.Add("Allow", l.st.Allow)
		}
		d, err := l.Prepare()
		if err != nil {
			return err
		}
		if code >= 200 {
			d.Confirm()
		}
	}
	l.decorate(resp, body, extra)
	if code >= 200 {
		l.mu.Lock()
		l.final = code
		l.mu.Unlock()
	}
	if err := l.stx.Respond(resp); err != nil {
		return err
	}
	if code >= 200 && code < 300 {
		go l.retransmit2xx(resp)
	}
	return nil
}

func (l *Leg) decorate(resp *sip.Response, body []byte, extra []string) {
	for _, h := range extra {
		if name, value, ok := strings.Cut(h, ":"); ok {
			resp.Add(strings.TrimSpace(name), strings.TrimSpace(value))
		}
	}
	if l.st.UserAgent != "" {
		resp.Set("Server", l.st.UserAgent)
	}
	if len(body) > 0 {
		resp.Set("Content-Type", "application/sdp")
		resp.Body = body
	}
}

// ErrNoAck: our 2xx was retransmitted for 64·T1 without an ACK.
var ErrNoAck = errors.New("leg: no ACK for the 2xx")

// retransmit2xx resends the 2xx at T1, 2T1, ... capped at T2 until the ACK
// comes or 64·T1 passed (§13.3.1.4).
func (l *Leg) retransmit2xx(resp *sip.Response) {
	t1 := l.st.t1()
	interval := t1
	deadline := time.NewTimer(64 * t1)
	defer deadline.Stop()
	reliable := transport.Reliable(l.invite.Origin.Transport)
	tick := time.NewTimer(interval)
	defer tick.Stop()
	for {
		select {
		case <-l.acked:
			return
		case <-deadline.C:
			return
		case <-tick.C:
			if !reliable {
				_ = l.stx.Respond(resp)
			}
			interval = min(2*interval, l.st.t2())
			tick.Reset(interval)
		}
	}
}

// Acked is closed when the ACK of the inbound leg's 2xx arrived.
func (l *Leg) Acked() <-chan struct{} { return l.acked }

// HandleAck takes an ACK of the leg's dialog: the ACK of our 2xx stops its
// retransmission. It reports whether it was the INVITE's ACK (a re-INVITE's
// ACK is the owner's to relay).
func (l *Leg) HandleAck(ack *sip.Request) bool {
	cseq, err := ack.CSeq()
	if err != nil {
		return false
	}
	ic, _ := l.invite.CSeq()
	if !l.inbound || cseq.Seq != ic.Seq {
		return false
	}
	l.mu.Lock()
	first := !l.ackedSet
	if first {
		l.ackedSet = true
		close(l.acked)
	}
	l.mu.Unlock()
	if first {
		// Acknowledged: nothing more goes through the INVITE
		// transaction, so it need not be held whole for timer L (at
		// 500 calls/s from one peer that would be 16,000 transactions,
		// far past limits.max_transactions_per_source). The layer keeps
		// a record that absorbs retransmitted INVITEs.
		l.stx.Release()
	}
	return true
}

// Invite is what Dial sends.
type Invite struct {
	// Target is the Request-URI; Flow (with no Path) the address to send
	// to, else Route (the Path), else the Request-URI's host.
	Target sip.URI
	Path   []string
	Flow   transport.Addr
	// From and To of the new dialog (a tag is added to From).
	From, To sip.Address
	// CallID of the new leg (a fresh one when empty).
	CallID string
	Body   []byte
	// Headers are extra header lines ("Name: value").
	Headers []string
}

// Dial sends an INVITE as a new outbound leg. Responses go to onResponse
// in order, on a transport reader or timer goroutine (it must not block),
// then nil once when the transaction ends. For a 2xx the leg has already
// sent the ACK and confirmed its dialog; a retransmitted 2xx is ACKed
// again and not handed on. ctx ending before a final response cancels the
// INVITE.
func Dial(ctx context.Context, st *Stack, inv Invite, onResponse func(*Leg, *sip.Response)) (*Leg, error) {
	dst, err := nextHop(inv)
	if err != nil {
		return nil, err
	}
	host, port, ok := st.TP.ViaHost(dst.Transport)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoListener, dst.Transport)
	}
	contact, _ := st.Contact(dst.Transport)
	l := &Leg{st: st, contact: contact, tag: transaction.NewTag(), flow: dst}
	if len(inv.Path) > 0 {
		l.flow = transport.Addr{} // follow the route set
	}
	callID := inv.CallID
	if callID == "" {
		callID = transaction.NewTag() + transaction.NewTag()
	}
	req := sip.NewRequest(sip.INVITE, inv.Target.AsRequestURI())
	req.Add("Via", "SIP/2.0/"+dst.Transport+" "+host+":"+strconv.Itoa(port)+";branch="+transaction.NewBranch()+";rport")
	req.Add("Max-Forwards", "70")
	from := inv.From
	from.Params = from.Params.Without("tag").With("tag", l.tag)
	to := inv.To
	to.Params = to.Params.Without("tag")
	req.Add("From", from.String())
	req.Add("To", to.String())
	req.Add("Call-ID", callID)
	req.Add("CSeq", "1 INVITE")
	for _, p := range inv.Path {
		req.Add("Route", p)
	}
	req.Add("Contact", contact)
	if st.Allow != "" {
		req.Add("Allow", st.Allow)
	}
	if st.UserAgent != "" {
		req.Add("User-Agent", st.UserAgent)
	}
	for _, h := range inv.Headers {
		if name, value, ok := strings.Cut(h, ":"); ok {
			req.Add(strings.TrimSpace(name), strings.TrimSpace(value))
		}
	}
	if len(inv.Body) > 0 {
		req.Add("Content-Type", "application/sdp")
		req.Body = inv.Body
	}
	l.invite = req
	tx, err := st.Tx.RequestFunc(ctx, req, dst, func(resp *sip.Response) {
		if resp == nil {
			onResponse(l, nil)
			return
		}
		if l.outboundResponse(resp) {
			onResponse(l, resp)
		}
	})
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.ctx = tx
	l.mu.Unlock()
	return l, nil
}

// outboundResponse updates the dialog from a response to our INVITE and
// ACKs a 2xx. It reports whether the owner should see the response.
func (l *Leg) outboundResponse(resp *sip.Response) bool {
	code := resp.StatusCode
	if code == 100 || resp.ToTag() == "" {
		return code >= 200 || code == 100 // a final without tag still ends the leg
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dlg != nil && l.dlg.ID().RemoteTag != resp.ToTag() {
		// Another dialog of a fork downstream: only the first counts.
		// Its 2xx is ACKed and the dialog hung up (§13.2.2.4).
		if code >= 200 && code < 300 {
			if d, err := dialog.NewUAC(l.invite, resp); err == nil {
				go l.ackAndBye(d)
			}
		}
		return false
	}
	if l.dlg == nil {
		d, err := dialog.NewUAC(l.invite, resp)
		if err != nil {
			return code >= 200
		}
		l.dlg = d
	} else {
		_ = l.dlg.UpdateFromResponse(resp)
	}
	if code >= 200 && code < 300 {
		retransmitted := l.final >= 200
		l.final = code
		if !retransmitted {
			var allow []string
			for v := range resp.Values("Allow") {
				allow = append(allow, v)
			}
			l.allow = strings.Join(allow, ",")
		}
		if l.ackFor == nil {
			cseq, _ := l.invite.CSeq()
			l.ackFor = l.dlg.NewACK(cseq.Seq)
		}
		ack := l.ackFor
		l.mu.Unlock()
		l.sendAck(ack)
		l.mu.Lock()
		return !retransmitted
	}
	if code >= 200 {
		l.final = code
		l.dlg.Terminate()
	}
	return true
}

func (l *Leg) ackAndBye(d *dialog.Dialog) {
	cseq, _ := l.invite.CSeq()
	ack := d.NewACK(cseq.Seq)
	l.sendAck(ack)
	other := &Leg{st: l.st, invite: l.invite, contact: l.contact, tag: l.tag, flow: l.flow, dlg: d}
	ctx, cancel := context.WithTimeout(context.Background(), 32*l.st.t1())
	defer cancel()
	_, _ = other.Request(ctx, sip.BYE, nil)
}

// sendAck sends an ACK (not a transaction) with a fresh Via.
func (l *Leg) sendAck(ack *sip.Request) {
	if !ack.Has("Via") {
		dst, err := l.dst()
		if err != nil {
			return
		}
		host, port, ok := l.st.TP.ViaHost(dst.Transport)
		if !ok {
			return
		}
		ack.Prepend("Via", "SIP/2.0/"+dst.Transport+" "+host+":"+strconv.Itoa(port)+";branch="+transaction.NewBranch()+";rport")
		ack.Add("Max-Forwards", "70")
	}
	dst, err := l.dst()
	if err != nil {
		return
	}
	if err := l.st.TP.SendRequest(ack, dst); err != nil && l.st.Log != nil {
		l.st.Log.Debug("leg: ACK not sent", "call-id", ack.CallID(), "err", err)
	}
}

// Cancel cancels the outbound leg's INVITE (§9.1); after a final response
// it does nothing.
func (l *Leg) Cancel() {
	l.mu.Lock()
	tx := l.ctx
	l.mu.Unlock()
	if tx != nil {
		_ = tx.Cancel()
	}
}

// Answered reports whether the leg's INVITE got (outbound) or was given
// (inbound) a 2xx.
func (l *Leg) Answered() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.final >= 200 && l.final < 300
}

// dst is where in-dialog requests go: the flow while the route set is
// empty, else the first route (or the remote target).
func (l *Leg) dst() (transport.Addr, error) {
	l.mu.Lock()
	d := l.dlg
	l.mu.Unlock()
	if d == nil {
		return transport.Addr{}, ErrNotConfirmed
	}
	u, viaRoute := d.NextHop()
	if !viaRoute && l.flow.AddrPort.IsValid() {
		return l.flow, nil
	}
	return ResolveURI(&u)
}

// Request sends a request in the leg's dialog (BYE, re-INVITE, UPDATE,
// INFO, ...) with body (application/sdp unless extra names a Content-Type)
// and extra header lines, and
// returns its final response. The 2xx of a re-INVITE is ACKed here.
func (l *Leg) Request(ctx context.Context, method string, body []byte, extra ...string) (*sip.Response, error) {
	d := l.Dialog()
	if d == nil {
		return nil, ErrNotConfirmed
	}
	req, err := d.NewRequest(method)
	if err != nil {
		return nil, err
	}
	dst, err := l.dst()
	if err != nil {
		return nil, err
	}
	host, port, ok := l.st.TP.ViaHost(dst.Transport)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoListener, dst.Transport)
	}
	req.Prepend("Via", "SIP/2.0/"+dst.Transport+" "+host+":"+strconv.Itoa(port)+";branch="+transaction.NewBranch()+";rport")
	req.Add("Max-Forwards", "70")
	if l.st.UserAgent != "" {
		req.Add("User-Agent", l.st.UserAgent)
	}
	for _, h := range extra {
		if name, value, ok := strings.Cut(h, ":"); ok {
			req.Add(strings.TrimSpace(name), strings.TrimSpace(value))
		}
	}
	if len(body) > 0 {
		if !req.Has("Content-Type") {
			req.Add("Content-Type", "application/sdp")
		}
		req.Body = body
	}
	if method == sip.BYE {
		d.Terminate()
	}
	// Responses are taken as they come (RequestFunc): a re-INVITE's 2xx
	// retransmitted because our ACK was lost, or reached its UA before
	// that UA was ready for it, is ACKed again for as long as the
	// transaction keeps matching them (RFC 6026 §7.2).
	finalC := make(chan *sip.Response, 1)
	var ack *sip.Request
	var once sync.Once
	cseq, _ := req.CSeq()
	_, err = l.st.Tx.RequestFunc(ctx, req, dst, func(resp *sip.Response) {
		if resp == nil {
			once.Do(func() { close(finalC) })
			return
		}
		if resp.StatusCode < 200 {
			return
		}
		if method == sip.INVITE && resp.StatusCode < 300 {
			if ack == nil {
				d.TargetRefresh(resp)
				ack = d.NewACK(cseq.Seq)
			}
			l.sendAck(ack)
		}
		once.Do(func() { finalC <- resp; close(finalC) })
	})
	if err != nil {
		return nil, err
	}
	var final *sip.Response
	select {
	case final = <-finalC:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if final == nil {
		return nil, errors.New("leg: no final response")
	}
	return final, nil
}

// Validate checks an in-dialog request from the far side (§12.2.2): an
// error is a *sip.StatusError to answer (500 CSeq out of order, 481 after
// the dialog ended). A target refresh request updates the remote target.
func (l *Leg) Validate(req *sip.Request) error {
	d := l.Dialog()
	if d == nil {
		return &sip.StatusError{Code: sip.StatusCallTransactionDoesNotExist, Reason: "Call/Transaction Does Not Exist", Err: dialog.ErrNoDialog}
	}
	if err := d.ValidateRequest(req); err != nil {
		return err
	}
	if req.Method == sip.INVITE || req.Method == sip.UPDATE {
		d.TargetRefresh(req)
	}
	return nil
}

// Reply answers an in-dialog request of the leg: body as application/sdp,
// our Contact on 2xx to INVITE and UPDATE.
func (l *Leg) Reply(tx *transaction.ServerTx, code int, reason string, body []byte, extra ...string) error {
	req := tx.Request()
	resp := sip.NewResponse(req, code, reason)
	if code > 100 {
		resp.SetToTag(l.tag)
	}
	if code >= 200 && code < 300 && (req.Method == sip.INVITE || req.Method == sip.UPDATE) {
		resp.Add("Contact", l.contact)
	}
	l.decorate(resp, body, extra)
	return tx.Respond(resp)
}

// Terminate marks the leg's dialog ended: later requests get 481.
func (l *Leg) Terminate() {
	if d := l.Dialog(); d != nil {
		d.Terminate()
	}
}

// ResolveURI turns a SIP URI into a next-hop address: maddr if present,
// else the host, with the port or the transport's default.
func ResolveURI(u *sip.URI) (transport.Addr, error) {
	if !u.IsSIP() || u.Host == "" {
		return transport.Addr{}, fmt.Errorf("%w: cannot route to %s", transport.ErrNoRoute, u.Scheme)
	}
	t := strings.ToUpper(u.Transport())
	switch {
	case u.IsSecure() && (t == transport.WS || t == transport.WSS):
		t = transport.WSS
	case u.IsSecure():
		t = transport.TLS
	case t == "":
		t = transport.UDP
	}
	host := u.Host
	if m, ok := u.Param("maddr"); ok && m != "" {
		host = m
	}
	ap, err := transport.Resolve(host, u.Port, t)
	if err != nil {
		return transport.Addr{}, err
	}
	return transport.Addr{Transport: t, AddrPort: ap, Host: strings.Trim(u.Host, "[]")}, nil
}

// nextHop is where Dial sends: the flow (no Path), else the first Path
// value, else the Request-URI (§8.1.2).
func nextHop(inv Invite) (transport.Addr, error) {
	if inv.Flow.AddrPort.IsValid() && len(inv.Path) == 0 {
		f := inv.Flow
		f.Transport = strings.ToUpper(f.Transport)
		if f.Transport == "" {
			f.Transport = transport.UDP
		}
		return f, nil
	}
	if len(inv.Path) > 0 {
		a, err := sip.ParseAddress(inv.Path[0])
		if err != nil {
			return transport.Addr{}, err
		}
		return ResolveURI(&a.URI)
	}
	return ResolveURI(&inv.Target)
}

// MediaAddr returns the address a leg's far side sent its INVITE from, for
// logs.
func (l *Leg) MediaAddr() netip.AddrPort { return l.flow.AddrPort }
