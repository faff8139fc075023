package location

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net/netip"
	"time"
)

// The journal and the snapshot are sequences of framed records:
//
//	length  uint32 little-endian, of the payload
//	crc     uint32 little-endian, CRC-32C (Castagnoli) of the payload
//	payload length bytes: an op byte and its fields
//
// A record is whole only when its length fits the file and its CRC matches,
// so a write torn by a crash shows up as a short or mismatching last record
// and is dropped: its Put had not returned, nobody was told it was durable.
//
// Fields are uvarint-length-prefixed strings and (u)varint numbers; an
// AddrPort is its MarshalBinary form with a length prefix. A put record
// ends with the binding's Node when it has one: records written before
// bindings had a node end before it, and still read. A binary format
// rather than JSON lines because a snapshot of 100,000 bindings is written
// and read at every start and compaction, and should cost milliseconds.

const (
	opPut       byte = 1 // a Binding: add or refresh (or remove, when expired)
	opRemove    byte = 2 // AOR and contact URI
	opRemoveAll byte = 3 // AOR
	opEnd       byte = 4 // snapshot trailer: the number of put records before it
	opSet       byte = 5 // AOR and its whole binding set (Update)
)

const (
	frameHeaderLen = 8
	// maxRecordLen bounds one record, far above any valid binding (see
	// MaxFieldLen, MaxPath) and above a set of MaxBindings bindings of
	// realistic size (an Update whose record would be larger fails).
	maxRecordLen = 16 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	errTorn     = errors.New("torn record")
	errChecksum = errors.New("record checksum mismatch")
)

// entry is one decoded record.
type entry struct {
	op    byte
	b     Binding   // opPut: the binding; opRemove: AOR and Contact; opRemoveAll, opSet: AOR
	set   []Binding // opSet
	count uint64    // opEnd
}

// beginFrame reserves a frame header; endFrame fills it in once the payload
// has been appended after it.
func beginFrame(dst []byte) ([]byte, int) {
	return append(dst, make([]byte, frameHeaderLen)...), len(dst)
}

func endFrame(dst []byte, start int) []byte {
	payload := dst[start+frameHeaderLen:]
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(payload, castagnoli))
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendAddrPort(dst []byte, ap netip.AddrPort) []byte {
	if !ap.IsValid() {
		return append(dst, 0)
	}
	var tmp [64]byte
	bin, _ := ap.AppendBinary(tmp[:0]) // never fails
	dst = binary.AppendUvarint(dst, uint64(len(bin)))
	return append(dst, bin...)
}

// encodePut appends a framed put record for b.
func encodePut(dst []byte, b *Binding) []byte {
	dst, start := beginFrame(dst)
	dst = append(dst, opPut)
	dst = appendString(dst, b.AOR)
	dst = appendFields(dst, b)
	if b.Node != "" {
		dst = appendString(dst, b.Node)
	}
	return endFrame(dst, start)
}

// appendFields appends every field of b but its AOR and Node.
func appendFields(dst []byte, b *Binding) []byte {
	dst = appendString(dst, b.Contact)
	dst = appendString(dst, b.Params)
	dst = appendString(dst, b.CallID)
	dst = appendString(dst, b.InstanceID)
	dst = appendString(dst, b.UserAgent)
	dst = appendString(dst, b.Transport)
	dst = binary.AppendUvarint(dst, uint64(b.CSeq))
	dst = binary.AppendUvarint(dst, uint64(b.RegID))
	dst = binary.AppendUvarint(dst, uint64(b.Q))
	dst = binary.AppendVarint(dst, unixNano(b.Expires))
	dst = binary.AppendVarint(dst, unixNano(b.Updated))
	dst = appendAddrPort(dst, b.Source)
	dst = appendAddrPort(dst, b.Local)
	dst = binary.AppendUvarint(dst, uint64(len(b.Path)))
	for _, p := range b.Path {
		dst = appendString(dst, p)
	}
	return dst
}

// appendSet appends a binding set: its count, then each binding's fields
// and node.
func appendSet(dst []byte, bs []Binding) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(bs)))
	for i := range bs {
		dst = appendFields(dst, &bs[i])
		dst = appendString(dst, bs[i].Node)
	}
	return dst
}

// encodeSet appends a framed record that sets the bindings of aor to bs.
func encodeSet(dst []byte, aor string, bs []Binding) []byte {
	dst, start := beginFrame(dst)
	dst = append(dst, opSet)
	dst = appendString(dst, aor)
	dst = appendSet(dst, bs)
	return endFrame(dst, start)
}

// setFormat is the first byte of AppendBindings' output, so that a stored
// set written by a later version can be told apart.
const setFormat byte = 1

// AppendBindings appends the binary form of the binding set of one AOR,
// as the shared stores keep it (one value per AOR): a format byte, then
// the bindings in the journal's field encoding. The AOR is left out: it is
// the key the set is stored under.
func AppendBindings(dst []byte, bs []Binding) []byte {
	dst = append(dst, setFormat)
	return appendSet(dst, bs)
}

// ParseBindings decodes what AppendBindings wrote, setting each binding's
// AOR to aor. Bad data is an ErrCorrupt error, never a panic.
func ParseBindings(aor string, data []byte) ([]Binding, error) {
	if len(data) == 0 || data[0] != setFormat {
		return nil, fmt.Errorf("%w: binding set: unknown format", ErrCorrupt)
	}
	d := decoder{p: data[1:]}
	bs := d.set(aor)
	if d.err == nil && len(d.p) != 0 {
		d.fail("binding set: trailing bytes")
	}
	return bs, d.err
}

func encodeRemove(dst []byte, aor, contact string) []byte {
	dst, start := beginFrame(dst)
	dst = append(dst, opRemove)
	dst = appendString(dst, aor)
	dst = appendString(dst, contact)
	return endFrame(dst, start)
}

func encodeRemoveAll(dst []byte, aor string) []byte {
	dst, start := beginFrame(dst)
	dst = append(dst, opRemoveAll)
	dst = appendString(dst, aor)
	return endFrame(dst, start)
}

func encodeEnd(dst []byte, count uint64) []byte {
	dst, start := beginFrame(dst)
	dst = append(dst, opEnd)
	dst = binary.AppendUvarint(dst, count)
	return endFrame(dst, start)
}

// nextFrame splits the first record off data and checks it. n is the bytes
// it took; at the end of data it returns n == 0 and no error.
func nextFrame(data []byte) (payload []byte, n int, err error) {
	if len(data) == 0 {
		return nil, 0, nil
	}
	if len(data) < frameHeaderLen {
		return nil, 0, errTorn
	}
	size := binary.LittleEndian.Uint32(data)
	sum := binary.LittleEndian.Uint32(data[4:])
	if size == 0 || size > maxRecordLen {
		return nil, 0, errChecksum
	}
	if uint64(len(data)-frameHeaderLen) < uint64(size) {
		return nil, 0, errTorn
	}
	payload = data[frameHeaderLen : frameHeaderLen+int(size)]
	if crc32.Checksum(payload, castagnoli) != sum {
		return nil, 0, errChecksum
	}
	return payload, frameHeaderLen + int(size), nil
}

// decoder reads fields off a payload; the first failure sticks.
type decoder struct {
	p   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", ErrCorrupt, what)
	}
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.p)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.p)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *decoder) bytes(what string) []byte {
	n := d.uvarint(what)
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.p)) {
		d.fail(what)
		return nil
	}
	b := d.p[:n]
	d.p = d.p[n:]
	return b
}

func (d *decoder) string(what string) string { return string(d.bytes(what)) }

func (d *decoder) bounded(what string, max uint64) uint64 {
	v := d.uvarint(what)
	if v > max {
		d.fail(what)
		return 0
	}
	return v
}

func (d *decoder) addrPort(what string) netip.AddrPort {
	b := d.bytes(what)
	var ap netip.AddrPort
	if d.err != nil || len(b) == 0 {
		return ap
	}
	if err := ap.UnmarshalBinary(b); err != nil {
		d.fail(what)
	}
	if !ap.Addr().IsValid() {
		return netip.AddrPort{} // a port without an address is no address
	}
	return ap
}

func timeOf(n int64) time.Time { return fromUnixNano(n) }

// fields decodes what appendFields wrote.
func (d *decoder) fields(b *Binding) {
	b.Contact = d.string("contact")
	b.Params = d.string("params")
	b.CallID = d.string("Call-ID")
	b.InstanceID = d.string("instance")
	b.UserAgent = d.string("User-Agent")
	b.Transport = d.string("transport")
	b.CSeq = uint32(d.bounded("CSeq", 1<<32-1))
	b.RegID = uint32(d.bounded("reg-id", 1<<32-1))
	b.Q = int(d.bounded("q", QMax))
	b.Expires = timeOf(d.varint("expires"))
	b.Updated = timeOf(d.varint("updated"))
	b.Source = d.addrPort("source")
	b.Local = d.addrPort("local")
	n := d.bounded("path count", MaxPath)
	for range n {
		b.Path = append(b.Path, d.string("path"))
	}
}

// set decodes what appendSet wrote.
func (d *decoder) set(aor string) []Binding {
	n := d.bounded("binding count", MaxBindings)
	if d.err != nil || n == 0 {
		return nil
	}
	bs := make([]Binding, 0, min(n, uint64(len(d.p))/8+1)) // no trust in n before the bytes are there
	for range n {
		b := Binding{AOR: aor}
		d.fields(&b)
		b.Node = d.string("node")
		if d.err != nil {
			return nil
		}
		bs = append(bs, b)
	}
	return bs
}

// decodePayload decodes one record payload. It never panics, whatever the
// bytes (FuzzDecodeJournal checks that).
func decodePayload(p []byte) (entry, error) {
	var e entry
	if len(p) == 0 {
		return e, fmt.Errorf("%w: empty record", ErrCorrupt)
	}
	e.op = p[0]
	d := decoder{p: p[1:]}
	switch e.op {
	case opPut:
		e.b.AOR = d.string("AOR")
		d.fields(&e.b)
		if len(d.p) > 0 {
			e.b.Node = d.string("node")
		}
	case opSet:
		e.b.AOR = d.string("AOR")
		e.set = d.set(e.b.AOR)
	case opRemove:
		e.b.AOR = d.string("AOR")
		e.b.Contact = d.string("contact")
	case opRemoveAll:
		e.b.AOR = d.string("AOR")
	case opEnd:
		e.count = d.uvarint("count")
	default:
		return e, fmt.Errorf("%w: unknown op %d", ErrCorrupt, e.op)
	}
	if d.err == nil && len(d.p) != 0 {
		d.fail("record: trailing bytes")
	}
	return e, d.err
}
