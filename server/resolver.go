package server

import (
	"fmt"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/transport/locate"
)

// newResolver is the RFC 3263 resolver of the config's dns section: the
// full one (NAPTR, SRV, A/AAAA, TTL cache) on the listed nameservers, else
// the system resolver (SRV and A/AAAA, /etc/hosts included).
func newResolver(c config.DNS) (locate.Resolver, error) {
	if len(c.Servers) == 0 {
		return locate.NewSystem(locate.SystemConfig{}), nil
	}
	r, err := locate.NewDNS(locate.DNSConfig{Servers: c.Servers})
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	return r, nil
}
