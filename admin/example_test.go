package admin_test

import (
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/parley-sip/parley/admin"
	"github.com/parley-sip/parley/transport"
)

// A password_hash for admin.users.
func ExampleHashPassword() {
	h, err := admin.HashPassword("correct horse battery staple")
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.SplitN(h, "$", 3)[:2])
	// Output: [pbkdf2-sha256 600000]
}

// The capture keeps messages per Call-ID; a call comes out as pcap.
func ExampleCapture() {
	c := admin.NewCapture(100, 1<<20)
	local, remote := netip.MustParseAddrPort("127.0.0.1:5060"), netip.MustParseAddrPort("127.0.0.1:5070")
	c.Tap(transport.Received, "UDP", local, remote, []byte("OPTIONS sip:example.test SIP/2.0\r\nCall-ID: abc\r\nCSeq: 1 OPTIONS\r\n\r\n"))
	c.Tap(transport.Sent, "UDP", local, remote, []byte("SIP/2.0 200 OK\r\nCall-ID: abc\r\nCSeq: 1 OPTIONS\r\n\r\n"))
	msgs, _ := c.Messages("abc")
	for _, m := range msgs {
		fmt.Println(m.Dir, strings.SplitN(string(m.Raw), "\r\n", 2)[0])
	}
	f, _ := os.CreateTemp("", "call-*.pcap")
	defer os.Remove(f.Name())
	_ = admin.WritePcap(f, msgs)
	f.Close()
	// Output:
	// received OPTIONS sip:example.test SIP/2.0
	// sent SIP/2.0 200 OK
}
