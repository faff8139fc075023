package ua

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
)

// Registration is the outcome of a REGISTER (§10.2.4).
type Registration struct {
	// Expires is the lifetime the registrar granted our binding.
	Expires time.Duration
	// Bindings are the Contact values of the 200: every binding the
	// registrar holds for our address of record.
	Bindings []sip.Address
	// Response is the 200 itself.
	Response *sip.Response
}

// registration is the state of our binding: one Call-ID for all its
// REGISTERs (§10.2.4: the same Call-ID, increasing CSeq), and the refresh
// timer.
type registration struct {
	callID  string
	fromTag string

	mu      sync.Mutex
	seq     uint32
	stop    chan struct{}
	stopped bool
	done    chan struct{}
}

func (r *registration) nextSeq() uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	return r.seq
}

// Register binds our Contact to our address of record at the registrar
// (Config.Server, else the domain) and keeps it refreshed at half the
// granted lifetime until Unregister or Close. It returns the first
// registration's outcome.
func (u *UA) Register(ctx context.Context) (*Registration, error) {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil, ErrClosed
	}
	if u.reg != nil {
		u.mu.Unlock()
		return nil, errors.New("ua: already registered")
	}
	reg := &registration{
		callID:  transaction.NewTag() + transaction.NewTag() + "@" + u.host,
		fromTag: transaction.NewTag(),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	u.reg = reg
	u.mu.Unlock()

	res, err := u.register(ctx, reg, u.cfg.Expires)
	if err != nil {
		u.mu.Lock()
		u.reg = nil
		u.mu.Unlock()
		return res, err
	}
	go u.refresh(reg, res.Expires)
	return res, nil
}

// RegisterOnce sends one REGISTER asking for expires (0 removes our
// binding) and neither refreshes it nor removes it on Close: for a command
// that registers a phone and exits.
func (u *UA) RegisterOnce(ctx context.Context, expires time.Duration) (*Registration, error) {
	if u.isClosed() {
		return nil, ErrClosed
	}
	reg := &registration{
		callID:  transaction.NewTag() + transaction.NewTag() + "@" + u.host,
		fromTag: transaction.NewTag(),
	}
	return u.register(ctx, reg, expires)
}

// refresh re-registers before the binding expires: at half its lifetime,
// so that one lost attempt still leaves time for another.
func (u *UA) refresh(reg *registration, granted time.Duration) {
	defer close(reg.done)
	wait := max(granted/2, time.Second)
	for {
		t := time.NewTimer(wait)
		select {
		case <-reg.stop:
			t.Stop()
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		res, err := u.register(ctx, reg, u.cfg.Expires)
		cancel()
		if err != nil {
			u.log.Warn("registration refresh failed", "err", err)
			wait = min(granted/4, 30*time.Second)
			if wait < time.Second {
				wait = time.Second
			}
			continue
		}
		wait = max(res.Expires/2, time.Second)
	}
}

// Unregister removes our binding (Expires 0) and stops refreshing it.
func (u *UA) Unregister(ctx context.Context) error {
	u.mu.Lock()
	reg := u.reg
	u.mu.Unlock()
	if reg == nil {
		return nil
	}
	return u.unregister(ctx, reg)
}

func (u *UA) unregister(ctx context.Context, reg *registration) error {
	reg.mu.Lock()
	if !reg.stopped {
		reg.stopped = true
		close(reg.stop)
	}
	reg.mu.Unlock()
	<-reg.done
	_, err := u.register(ctx, reg, 0)
	u.mu.Lock()
	if u.reg == reg {
		u.reg = nil
	}
	u.mu.Unlock()
	return err
}

// register sends one REGISTER asking for expires, answering challenges and
// a 423 (§10.2.8: retry with the Min-Expires the registrar names).
func (u *UA) register(ctx context.Context, reg *registration, expires time.Duration) (*Registration, error) {
	secs := int(expires / time.Second)
	for attempt := 0; ; attempt++ {
		req := u.registerRequest(reg, secs)
		resp, err := u.do(ctx, req, reg.nextSeq)
		if resp != nil && resp.StatusCode == sip.StatusIntervalTooBrief && attempt == 0 {
			if m, ok := resp.MinExpires(); ok && m > secs {
				secs = m
				continue
			}
		}
		if err != nil {
			return nil, err
		}
		return u.registration(resp, secs), nil
	}
}

func (u *UA) registerRequest(reg *registration, secs int) *sip.Request {
	ruri := sip.URI{Scheme: "sip", Host: u.aor.URI.Host, Port: u.aor.URI.Port}
	req := sip.NewRequest(sip.REGISTER, ruri)
	// A pre-loaded Route only when the registrar is not the proxy itself;
	// many registrars refuse a Route naming themselves.
	if u.proxy != nil && u.proxy.Host != ruri.Host {
		req.Add("Route", "<"+u.proxy.String()+">")
	}
	from := u.aor
	from.Params = from.Params.With("tag", reg.fromTag)
	to := u.aor
	req.Add("From", from.String())
	req.Add("To", to.String())
	req.Add("Call-ID", reg.callID)
	req.Add("CSeq", sip.CSeq{Seq: reg.nextSeq(), Method: sip.REGISTER}.String())
	req.Add("Contact", u.contactValue())
	req.Add("Expires", strconv.Itoa(secs))
	u.addCommon(req)
	// Answer the challenge we already know, saving a round trip on refresh.
	if u.cfg.Password != "" {
		u.auth.Apply(req)
	}
	return req
}

// registration reads the bindings and our granted lifetime from a 200
// (§10.2.4: our Contact's expires parameter, else the Expires header).
func (u *UA) registration(resp *sip.Response, asked int) *Registration {
	res := &Registration{Response: resp, Expires: time.Duration(asked) * time.Second}
	if e, ok := resp.Expires(); ok {
		res.Expires = time.Duration(e) * time.Second
	}
	me := u.Contact()
	for a, err := range resp.Contacts() {
		if err != nil {
			continue
		}
		res.Bindings = append(res.Bindings, a)
		if a.URI.Equal(&me) {
			if e, ok := a.Param("expires"); ok {
				if n, err := strconv.Atoi(e); err == nil {
					res.Expires = time.Duration(n) * time.Second
				}
			}
		}
	}
	return res
}
