package server

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/media"
	"github.com/parley-sip/parley/pbx/bridge"
	"github.com/parley-sip/parley/pbx/cdr"
	"github.com/parley-sip/parley/pbx/leg"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// pbxStage hands the PBX (package pbx/bridge) what is its: the in-dialog
// requests of its dialogs, and initial INVITEs to our numbers that the dial
// plan routes to something other than the proxy. It stands after the relay
// policy, so an INVITE reaching it comes from one of our users or is
// addressed to one of our numbers; a number whose route leaves the domain
// is refused to strangers here. The PBX's in-dialog requests are addressed
// to its Contact (the server itself), which the relay policy lets in.
type pbxStage struct{ s *Server }

func (pbxStage) Name() string { return "pbx" }

// Blocks: the PBX looks the callee's devices up in the location store on
// the call's own goroutine; only answering the INVITE happens here.
func (pbxStage) Blocks(*sip.Request) bool { return false }

func (st pbxStage) Serve(r *Request) bool {
	s, req := st.s, r.Msg
	b := s.bridge
	if b == nil {
		return false
	}
	if req.ToTag() != "" {
		if b.ServeInDialog(r.Tx) {
			return true
		}
		if req.Method != sip.ACK && req.URI.User == "" && !req.URI.Params.Has("lr") && !req.Has("Route") && s.isOurs(req.URI.Host) {
			// Addressed to the PBX's Contact, for a dialog it no
			// longer has (the call ended): §12.2.2.
			s.respond(r.Tx, sip.NewResponse(req, sip.StatusCallTransactionDoesNotExist, ""))
			return true
		}
		return false
	}
	if req.Method != sip.INVITE || req.URI.User == "" || !s.localTarget(req) {
		return false
	}
	if p, ok := b.ProxyRoute(req, r.User); ok {
		// The dial plan's proxy action: the proxy serves the call, to
		// the user named (Request-URI rewritten) or the next hop named
		// (pushed as a loose Route). A next hop leaves the domain — a
		// gateway, a carrier: only our users and trusted peers may
		// take it, or a stranger dialling "9..." would call out on our
		// account (toll fraud). The relay stage let the request in
		// because its Request-URI is ours.
		if p.URI != "" && r.User == "" && !r.Trusted {
			s.refuseRelay(r, "Forbidden: Not relaying (the number leaves the domain)")
			return true
		}
		if p.User != "" {
			req.URI.User = p.User
		} else if p.URI != "" {
			req.Prepend("Route", "<"+p.URI+";lr>")
		}
		return false
	}
	b.ServeInvite(r.Tx, r.User)
	return true
}

// newPBX builds the B2BUA when the config enables it: the relay on
// media.rtp_ports at the address of the first listener, the call records in
// DATA/cdr.sqlite behind the asynchronous writer.
func (s *Server) newPBX(locator proxy.Locator) error {
	cfg := s.cfg
	if !cfg.PBXEnabled() {
		return nil
	}
	plan, err := cfg.DialPlan(nil)
	if err != nil {
		return fmt.Errorf("dialplan: %w", err)
	}
	ports, err := media.NewPortAllocator(cfg.Media.RTPPorts.Lo, cfg.Media.RTPPorts.Hi)
	if err != nil {
		return fmt.Errorf("media.rtp_ports: %w", err)
	}
	bind, advertise := mediaAddrs(cfg)
	relay, err := media.NewRelay(media.RelayConfig{LocalAddr: bind, AdvertiseAddr: advertise, Ports: ports})
	if err != nil {
		return err
	}
	var records cdr.Store
	if cfg.Data != "" {
		db, err := cdr.OpenSQLite(cdr.Path(cfg.Data), cdr.SQLiteOptions{})
		if err != nil {
			relay.Close()
			return fmt.Errorf("cdr: %w", err)
		}
		s.cdr = cdr.NewAsync(db, cdr.AsyncConfig{Log: s.log})
		records = s.cdr
	}
	s.relay = relay
	holdMusic, noMusic := cfg.PBX.HoldMusic, cfg.PBX.HoldMusic == "off"
	switch {
	case noMusic:
		holdMusic = ""
	case holdMusic != "" && !filepath.IsAbs(holdMusic):
		holdMusic = filepath.Join(cfg.Data, holdMusic)
	}
	s.bridge, err = bridge.New(bridge.Config{
		Stack:          &leg.Stack{Tx: s.tx, TP: s.tp, UserAgent: cfg.ServerHeader, Allow: s.caps.allow, Log: s.log},
		Plan:           plan,
		Locator:        locator,
		Domain:         cfg.Domain,
		AnyUser:        cfg.Auth != "digest",
		Relay:          relay,
		Ports:          ports,
		DataDir:        cfg.Data,
		HoldMusic:      holdMusic,
		NoHoldMusic:    noMusic,
		CDR:            records,
		RetryAfter:     cfg.Limits.RetryAfter,
		SessionExpires: cfg.PBX.SessionExpires.D(),
		Log:            s.log,
	})
	if err != nil {
		s.closePBX(context.Background())
	}
	return err
}

// mediaAddrs picks the relay's address from the first listener: its IP,
// or for an unspecified one (0.0.0.0) every interface, advertising the
// one that routes outwards.
func mediaAddrs(cfg *config.Config) (bind, advertise netip.Addr) {
	bind = netip.IPv4Unspecified()
	for _, l := range cfg.Listen {
		spec, err := transport.ParseListen(l)
		if err != nil {
			continue
		}
		ap, err := netip.ParseAddrPort(spec.Addr)
		if err != nil {
			continue
		}
		bind = ap.Addr().Unmap()
		break
	}
	if !bind.IsUnspecified() {
		return bind, bind
	}
	advertise = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	if c, err := net.Dial("udp", "192.0.2.1:9"); err == nil { // no packet is sent
		if a, ok := c.LocalAddr().(*net.UDPAddr); ok {
			if ip, ok := netip.AddrFromSlice(a.IP); ok {
				advertise = ip.Unmap()
			}
		}
		c.Close()
	}
	return bind, advertise
}

// closePBX hangs up the PBX's calls, then closes the relay and the call
// records (everything queued written).
func (s *Server) closePBX(ctx context.Context) error {
	var err error
	if s.bridge != nil {
		err = s.bridge.Close(ctx)
	}
	if s.relay != nil {
		s.relay.Close()
	}
	if s.cdr != nil {
		if e := s.cdr.Close(); e != nil && err == nil {
			err = e
		}
	}
	return err
}

// PBX returns the B2BUA, nil when the config does not enable it.
func (s *Server) PBX() *bridge.Bridge { return s.bridge }
