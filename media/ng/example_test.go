package ng_test

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/parley-sip/parley/media"
	"github.com/parley-sip/parley/media/ng"
)

// Serving the ng protocol on loopback over a relay, as `parley serve` does
// with media.ng_listen set.
func Example() {
	ports, _ := media.NewPortAllocator(46000, 46099)
	relay, err := media.NewRelay(media.RelayConfig{LocalAddr: netip.MustParseAddr("127.0.0.1"), Ports: ports})
	if err != nil {
		panic(err)
	}
	defer relay.Close()
	srv := ng.NewServer(ng.Config{Relay: relay})
	defer srv.Close()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(pc)

	reply := srv.Handle([]byte("cookie1 d7:command4:pinge"))
	fmt.Println(string(reply))
	// Output: cookie1 d6:result4:ponge
}
