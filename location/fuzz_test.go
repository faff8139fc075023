package location

import (
	"bytes"
	"testing"
	"time"
)

// FuzzDecodeJournal feeds arbitrary bytes to the journal reader. Whatever
// the input it must not panic, and every record it decodes must re-encode
// to the same bytes (the round-trip property of DESIGN.md: what parses,
// marshals back to itself).
func FuzzDecodeJournal(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	b := testBinding(now, 1, 2)
	b.Path = []string{"<sip:edge.example.com;lr>"}
	var seed []byte
	seed = encodePut(seed, &b)
	seed = encodeRemove(seed, b.AOR, b.Contact)
	seed = encodeRemoveAll(seed, b.AOR)
	b2 := testBinding(now, 1, 3)
	b2.Node = "node-2"
	seed = encodeSet(seed, b.AOR, []Binding{b, b2})
	f.Add(seed)
	f.Add(seed[:len(seed)-3])
	f.Add(encodeEnd(nil, 1))
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		fs := &FileStore{MemoryStore: newMemory(Options{Clock: func() time.Time { return now }})}
		n := fs.replay(data)
		if n < 0 || n > len(data) {
			t.Fatalf("replay consumed %d of %d", n, len(data))
		}
		for off := 0; off < len(data); {
			payload, size, err := nextFrame(data[off:])
			if err != nil || size == 0 {
				break
			}
			off += size
			e, err := decodePayload(payload)
			if err != nil {
				continue
			}
			var again []byte
			switch e.op {
			case opPut:
				again = encodePut(nil, &e.b)
			case opRemove:
				again = encodeRemove(nil, e.b.AOR, e.b.Contact)
			case opRemoveAll:
				again = encodeRemoveAll(nil, e.b.AOR)
			case opEnd:
				again = encodeEnd(nil, e.count)
			case opSet:
				again = encodeSet(nil, e.b.AOR, e.set)
			}
			e2, err := decodePayload(again[frameHeaderLen:])
			if err != nil {
				t.Fatalf("re-encoded record does not decode: %v", err)
			}
			if e2.op != e.op || e2.count != e.count || !same(e2.b, e.b) || !sameSet(e2.set, e.set) {
				t.Fatalf("round trip:\n%+v\n%+v", e, e2)
			}
			if e.op != opPut && !bytes.Equal(again[frameHeaderLen:], payload) {
				t.Fatalf("re-encoding differs")
			}
		}
		// Reading must also survive being handed to the snapshot loader.
		_, _ = fs.loadSnapshot(append(fileHeader(snapshotMagic, 1), data...))
	})
}

// FuzzDecodeRecord goes past the CRC: it decodes arbitrary payloads and
// applies them to a store. No panic; a decoded record round-trips.
func FuzzDecodeRecord(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	b := testBinding(now, 1, 2)
	b.Path = []string{"<sip:edge.example.com;lr>", "<sip:core.example.com;lr>"}
	for _, rec := range [][]byte{
		encodePut(nil, &b),
		encodePut(nil, &Binding{AOR: "sip:a@b", Contact: "sip:a@[2001:db8::1]:5070", Expires: now}),
		encodeRemove(nil, b.AOR, b.Contact),
		encodeRemoveAll(nil, b.AOR),
		encodeEnd(nil, 42),
		encodeSet(nil, b.AOR, []Binding{b, nodeBinding(testBinding(now, 1, 3), "node-1")}),
		encodeSet(nil, b.AOR, nil),
		encodePut(nil, &Binding{AOR: "sip:a@b", Contact: "sip:a@b", Expires: now, Node: "node-3"}),
	} {
		f.Add(rec[frameHeaderLen:])
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		e, err := decodePayload(payload)
		if err != nil {
			return
		}
		fs := &FileStore{MemoryStore: newMemory(Options{Clock: func() time.Time { return now }})}
		fs.apply(&e)
		var again []byte
		switch e.op {
		case opPut:
			again = encodePut(nil, &e.b)
		case opRemove:
			again = encodeRemove(nil, e.b.AOR, e.b.Contact)
		case opRemoveAll:
			again = encodeRemoveAll(nil, e.b.AOR)
		case opEnd:
			again = encodeEnd(nil, e.count)
		case opSet:
			again = encodeSet(nil, e.b.AOR, e.set)
		}
		e2, err := decodePayload(again[frameHeaderLen:])
		if err != nil || e2.op != e.op || e2.count != e.count || !same(e2.b, e.b) || !sameSet(e2.set, e.set) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, e, e2)
		}
	})
}

func nodeBinding(b Binding, node string) Binding { b.Node = node; return b }

// FuzzParseBindings feeds arbitrary bytes to the decoder of the binding
// sets that the shared stores keep (one value per AOR): no panic, and what
// decodes re-encodes to bytes that decode to the same bindings.
func FuzzParseBindings(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	b := testBinding(now, 1, 2)
	b.Path = []string{"<sip:edge.example.com;lr>"}
	f.Add(AppendBindings(nil, []Binding{b, nodeBinding(testBinding(now, 1, 3), "node-1")}))
	f.Add(AppendBindings(nil, nil))
	f.Add([]byte{setFormat, 200, 1})
	f.Add([]byte{9})
	f.Fuzz(func(t *testing.T, data []byte) {
		bs, err := ParseBindings(b.AOR, data)
		if err != nil {
			return
		}
		again, err := ParseBindings(b.AOR, AppendBindings(nil, bs))
		if err != nil || !sameSet(again, bs) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, bs, again)
		}
	})
}
