package registrar

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/sip"
)

// BenchmarkRegisterFileStore is BenchmarkRegister over the embedded file
// store as `parley serve` opens it by default (data_sync: periodic: each
// change written to the journal before the answer, fsync once a second).
func BenchmarkRegisterFileStore(b *testing.B) {
	fs, err := location.OpenFile(b.TempDir(), location.FileOptions{SyncPeriod: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { fs.Close() })
	e := newEnv(b, func(c *Config) { c.Store = fs; c.Clock = time.Now })
	reqs := make([]*sip.Request, 1000)
	for i := range reqs {
		reqs[i] = regTo(b, "sip:example.com", fmt.Sprintf("sip:user%d@example.com", i), fmt.Sprintf("call-%d", i), 1,
			fmt.Sprintf(`Contact: <sip:user%d@192.168.1.%d:5060;ob>;+sip.instance="<urn:uuid:%036d>";reg-id=1`, i, i%250, i),
			"Expires: 600")
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		req := reqs[i%len(reqs)]
		req.Set("CSeq", fmt.Sprintf("%d REGISTER", i/len(reqs)+1))
		if resp := e.r.Register(ctx, req); resp.StatusCode != 200 {
			b.Fatal(resp)
		}
	}
}
