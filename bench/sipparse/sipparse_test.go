package sipparse

import (
	"bytes"
	"strings"
	"testing"

	sipgo "github.com/emiago/sipgo/sip"
	"github.com/parley-sip/parley/bench"
	"github.com/parley-sip/parley/sip"
)

// TestSameWork checks that both stacks parse every fixture and that their
// accesses read the same values, so the benchmarks compare equal work and
// never time an error path.
func TestSameWork(t *testing.T) {
	p := sipgo.NewParser()
	for _, m := range bench.Messages() {
		t.Run(m.Name, func(t *testing.T) {
			pm, err := sip.Parse(m.Data)
			if err != nil {
				t.Fatal(err)
			}
			gm, err := p.ParseSIP(m.Data)
			if err != nil {
				t.Fatal(err)
			}
			var pv, gv View
			if err := AccessParley(pm, &pv); err != nil {
				t.Fatal(err)
			}
			if err := AccessSipgo(gm, &gv); err != nil {
				t.Fatal(err)
			}
			if pv != gv {
				t.Errorf("views differ:\nparley %+v\nsipgo  %+v", pv, gv)
			}
			if pv.CallID == "" || pv.Branch == "" || pv.FromTag == "" || pv.Contacts == 0 {
				t.Errorf("empty view: %+v", pv)
			}
			if out := pm.AppendTo(nil); !bytes.Equal(out, m.Data) {
				t.Errorf("parley round trip:\n%q\n%q", out, m.Data)
			}
			// sipgo re-writes what it parsed; it need not be byte-identical
			// (it drops or reorders nothing here, but may re-space), so
			// only check it parses again to the same view.
			var sb strings.Builder
			gm.StringWrite(&sb)
			gm2, err := p.ParseSIP([]byte(sb.String()))
			if err != nil {
				t.Fatalf("sipgo output does not parse: %v\n%s", err, sb.String())
			}
			var gv2 View
			if err := AccessSipgo(gm2, &gv2); err != nil || gv2 != gv {
				t.Errorf("sipgo round trip: %+v %v", gv2, err)
			}
		})
	}
}

// BenchmarkCompare runs every case on both stacks as sub-benchmarks
// named case/stack, e.g. invite/parse+access/parley.
func BenchmarkCompare(b *testing.B) {
	for _, c := range Cases() {
		b.Run(c.Name+"/parley", c.Parley)
		b.Run(c.Name+"/sipgo", c.Sipgo)
	}
}
