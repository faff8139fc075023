package admin

import (
	"encoding/binary"
	"io"
	"net/netip"

	"github.com/parley-sip/parley/transport"
)

// pcap file format (libpcap classic): a 24-byte global header, then per
// packet a 16-byte record header and the packet. LINKTYPE_RAW (101): the
// packets start with their IPv4 or IPv6 header, which is synthesized here
// with a UDP header around each SIP message (whatever transport carried
// it, so that Wireshark's SIP dissector reads every message on its own).
const (
	pcapMagic     = 0xa1b2c3d4
	linktypeRaw   = 101
	pcapSnapLen   = 65535
	maxPcapPacket = 65535 - 48
)

// WritePcap writes msgs as a pcap file to w. Messages too large for one
// UDP datagram are cut (the record says how long the message was).
func WritePcap(w io.Writer, msgs []Message) error {
	var hdr [24]byte
	binary.LittleEndian.PutUint32(hdr[0:], pcapMagic)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], pcapSnapLen)
	binary.LittleEndian.PutUint32(hdr[20:], linktypeRaw)
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	var pkt []byte
	for _, m := range msgs {
		src, dst := m.Remote, m.Local
		if m.Dir == transport.Sent {
			src, dst = m.Local, m.Remote
		}
		payload := m.Raw
		if len(payload) > maxPcapPacket {
			payload = payload[:maxPcapPacket]
		}
		pkt = appendUDPPacket(pkt[:0], src, dst, payload)
		var rec [16]byte
		us := m.At.UnixMicro()
		binary.LittleEndian.PutUint32(rec[0:], uint32(us/1e6))
		binary.LittleEndian.PutUint32(rec[4:], uint32(us%1e6))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(pkt)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(pkt)))
		if _, err := w.Write(rec[:]); err != nil {
			return err
		}
		if _, err := w.Write(pkt); err != nil {
			return err
		}
	}
	return nil
}

// appendUDPPacket appends an IPv4 (or, when either address is IPv6, IPv6)
// packet holding one UDP datagram with payload.
func appendUDPPacket(b []byte, src, dst netip.AddrPort, payload []byte) []byte {
	sa, da := src.Addr().Unmap(), dst.Addr().Unmap()
	if !sa.IsValid() {
		sa = netip.IPv4Unspecified()
	}
	if !da.IsValid() {
		da = netip.IPv4Unspecified()
	}
	v6 := sa.Is6() || da.Is6()
	if v6 {
		sa, da = netip.AddrFrom16(sa.As16()), netip.AddrFrom16(da.As16())
	}
	udpLen := 8 + len(payload)
	if v6 {
		b = append(b, 0x60, 0, 0, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(udpLen))
		b = append(b, 17, 64)
		s16, d16 := sa.As16(), da.As16()
		b = append(b, s16[:]...)
		b = append(b, d16[:]...)
	} else {
		start := len(b)
		b = append(b, 0x45, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(20+udpLen))
		b = append(b, 0, 0, 0x40, 0, 64, 17, 0, 0) // id, DF, TTL, UDP, checksum
		s4, d4 := sa.As4(), da.As4()
		b = append(b, s4[:]...)
		b = append(b, d4[:]...)
		binary.BigEndian.PutUint16(b[start+10:], ^fold(sum(0, b[start:start+20])))
	}
	u := len(b)
	b = binary.BigEndian.AppendUint16(b, src.Port())
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	b = binary.BigEndian.AppendUint16(b, uint16(udpLen))
	b = append(b, 0, 0)
	b = append(b, payload...)
	// The UDP checksum over the pseudo-header (RFC 768; RFC 8200 §8.1
	// makes it mandatory over IPv6).
	var s uint32
	if v6 {
		s16, d16 := sa.As16(), da.As16()
		s = sum(sum(0, s16[:]), d16[:])
	} else {
		s4, d4 := sa.As4(), da.As4()
		s = sum(sum(0, s4[:]), d4[:])
	}
	s += 17 + uint32(udpLen)
	s = sum(s, b[u:])
	c := ^fold(s)
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(b[u+6:], c)
	return b
}

// sum adds b as big-endian 16-bit words to s (the Internet checksum,
// RFC 1071).
func sum(s uint32, b []byte) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}
