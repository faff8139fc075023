package server

import (
	"fmt"
	"net"

	"github.com/parley-sip/parley/media"
	"github.com/parley-sip/parley/media/ng"
)

// startMedia serves, with media.ng_listen, rtpengine's ng control protocol
// over the media relay — the PBX's when it runs, one of its own otherwise —
// so that a Kamailio or OpenSIPS that drives rtpengine can use Parley's
// relay instead.
func (s *Server) startMedia() error {
	if s.cfg.Media.NGListen == "" {
		return nil
	}
	if s.relay == nil {
		ports, err := media.NewPortAllocator(s.cfg.Media.RTPPorts.Lo, s.cfg.Media.RTPPorts.Hi)
		if err != nil {
			return fmt.Errorf("media.rtp_ports: %w", err)
		}
		bind, advertise := mediaAddrs(s.cfg)
		if s.relay, err = media.NewRelay(media.RelayConfig{LocalAddr: bind, AdvertiseAddr: advertise, Ports: ports}); err != nil {
			return fmt.Errorf("media relay: %w", err)
		}
	}
	pc, err := net.ListenPacket("udp", s.cfg.Media.NGListen)
	if err != nil {
		return fmt.Errorf("media.ng_listen: %w", err)
	}
	s.ng = ng.NewServer(ng.Config{Relay: s.relay, Logger: s.log})
	go s.ng.Serve(pc)
	s.log.Info("ng control listening", "addr", pc.LocalAddr().String(), "relay", s.relay.Addr().String())
	return nil
}

// stopMedia ends the ng server; closePBX closes the relay.
func (s *Server) stopMedia() error {
	if s.ng == nil {
		return nil
	}
	return s.ng.Close()
}
