package server

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/parley-sip/parley/media"
	"github.com/parley-sip/parley/media/ng"
	"github.com/parley-sip/parley/transport"
)

// startMedia opens the media relay and, with media.ng_listen, serves
// rtpengine's ng control protocol over it, so that a Kamailio or OpenSIPS
// that drives rtpengine can use Parley's relay instead. The relay's
// address is that of the first SIP listener (an unspecified one cannot be
// written into SDP).
func (s *Server) startMedia() error {
	if s.cfg.Media.NGListen == "" {
		return nil
	}
	var ip netip.Addr
	for _, l := range s.cfg.Listen {
		spec, err := transport.ParseListen(l)
		if err != nil {
			return err
		}
		host, _, _ := net.SplitHostPort(spec.Addr)
		if a, err := netip.ParseAddr(host); err == nil {
			ip = a.Unmap()
			break
		}
	}
	if !ip.IsValid() || ip.IsUnspecified() {
		return errors.New("media.ng_listen: the relay needs a specific address; give the first listen entry an IP address (not 0.0.0.0 or a name)")
	}
	ports, err := media.NewPortAllocator(s.cfg.Media.RTPPorts.Lo, s.cfg.Media.RTPPorts.Hi)
	if err != nil {
		return fmt.Errorf("media.rtp_ports: %w", err)
	}
	relay, err := media.NewRelay(media.RelayConfig{LocalAddr: ip, Ports: ports})
	if err != nil {
		return fmt.Errorf("media relay: %w", err)
	}
	pc, err := net.ListenPacket("udp", s.cfg.Media.NGListen)
	if err != nil {
		relay.Close()
		return fmt.Errorf("media.ng_listen: %w", err)
	}
	s.relay, s.ng = relay, ng.NewServer(ng.Config{Relay: relay, Logger: s.log})
	go s.ng.Serve(pc)
	s.log.Info("ng control listening", "addr", pc.LocalAddr().String(), "relay", ip.String())
	return nil
}

// stopMedia ends the ng server, then the relay and its calls.
func (s *Server) stopMedia() error {
	if s.ng == nil {
		return nil
	}
	return errors.Join(s.ng.Close(), s.relay.Close())
}
