package location

import (
	"testing"
	"time"
)

// A put record without a node is byte for byte what versions before Node
// wrote, and still decodes; one with a node keeps it.
func TestPutRecordNode(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	b := testBinding(now, 1, 2)
	old := encodePut(nil, &b)
	e, err := decodePayload(old[frameHeaderLen:])
	if err != nil || e.b.Node != "" || !same(e.b, b) {
		t.Fatalf("record without node: %v %+v", err, e.b)
	}
	b.Node = "node-2"
	withNode := encodePut(nil, &b)
	if len(withNode) != len(old)+1+len(b.Node) {
		t.Fatalf("node costs %d bytes", len(withNode)-len(old))
	}
	e, err = decodePayload(withNode[frameHeaderLen:])
	if err != nil || !same(e.b, b) {
		t.Fatalf("record with node: %v %+v", err, e.b)
	}
}
