package admin

import (
	"bytes"
	"encoding/binary"
	"flag"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/parley-sip/parley/transport"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := "testdata/" + name
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (%d bytes, want %d); -update rewrites it", name, len(got), len(want))
	}
}

// TestGoldenPcapAndHEP pins the wire bytes of the pcap writer and the HEP
// encoder for fixed messages, times and addresses.
func TestGoldenPcapAndHEP(t *testing.T) {
	inv, err := os.ReadFile("testdata/invite.sip")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 678000, time.UTC)
	msgs := []Message{
		{Dir: transport.Received, Transport: "UDP", At: t0, Local: parley, Remote: alice, Raw: inv},
		{Dir: transport.Sent, Transport: "TCP", At: t0.Add(time.Millisecond), Local: netip.MustParseAddrPort("[::1]:5060"), Remote: netip.MustParseAddrPort("[::1]:5080"), Raw: inv},
	}
	var buf bytes.Buffer
	if err := WritePcap(&buf, msgs); err != nil {
		t.Fatal(err)
	}
	golden(t, "call.pcap", buf.Bytes())
	hep := AppendHEP(nil, 2001, "UDP", alice, parley, t0, inv)
	golden(t, "invite.hep", hep)
	if binary.BigEndian.Uint16(hep[4:]) != uint16(len(hep)) {
		t.Error("HEP length field")
	}
}

// FuzzInputs: what the API parses from clients — cursors, password
// hashes, request bodies — gives errors, never panics.
func FuzzInputs(f *testing.F) {
	f.Add("c2lwOmFAYgBzaXA6YUBjAAAw", "pbkdf2-sha256$1000$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", []byte(`{"name":"a","password":"12345678"}`))
	f.Add("", "", []byte(`{"name":1}`))
	f.Fuzz(func(t *testing.T, cursor, hash string, body []byte) {
		if k, err := decodeCursor(cursor); err == nil {
			if k2, err := decodeCursor(k.encode()); err != nil || k2 != k {
				t.Fatalf("cursor round trip: %+v → %+v, %v", k, k2, err)
			}
		}
		if h, err := parsePasswordHash(hash); err == nil && h.iter > 100000 {
			t.Skip("costly hash")
		}
		var nb newUserBody
		_ = decodeJSONBytes(body, &nb)
	})
}
