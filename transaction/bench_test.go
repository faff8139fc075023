package transaction

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/parley-sip/parley/internal/cputime"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// nopSender is a transport that sends nothing, so that benchmarks measure
// the layer alone.
type nopSender struct{}

func (nopSender) SendRequest(*sip.Request, transport.Addr) error { return nil }
func (nopSender) SendResponse(*sip.Response) error               { return nil }

// measureCPU reports the process CPU time per operation at the end of the
// benchmark (see cpuTime). Call it after the set-up.
func measureCPU(b *testing.B) {
	start := cputime.Process()
	b.Cleanup(func() {
		if start != 0 && b.N > 0 {
			b.ReportMetric(float64(cputime.Process()-start)/float64(b.N), "cpu-ns/op")
		}
	})
}

func shutdownNow(l *Layer) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = l.Shutdown(ctx)
}

// liveServers fills a layer with n non-INVITE server transactions in the
// Completed state (waiting for timer J) and returns their requests.
func liveServers(b *testing.B, n int) (*Layer, []*sip.Request) {
	l := New(Config{}, nopSender{}, HandlerFunc(func(tx *ServerTx) {
		_ = tx.Respond(sip.NewResponse(tx.Request(), 200, ""))
	}))
	b.Cleanup(func() { shutdownNow(l) })
	reqs := make([]*sip.Request, n)
	for i := range reqs {
		reqs[i] = msg{method: sip.OPTIONS, branch: fmt.Sprintf("%s-%d-bench", sip.MagicCookie, i), callID: fmt.Sprint(i)}.build(udpOrigin)
		l.HandleMessage(reqs[i])
	}
	for l.servers.len() != n || l.Stats().Live != int64(n) {
		runtime.Gosched() // the workers are answering
	}
	return l, reqs
}

// BenchmarkServerLookupHit: a retransmitted request finds its transaction
// among 10k live ones and the last response goes out again.
func BenchmarkServerLookupHit(b *testing.B) {
	l, reqs := liveServers(b, 10000)
	b.ReportAllocs()
	measureCPU(b)
	i := 0
	for b.Loop() {
		l.HandleMessage(reqs[i%len(reqs)])
		i++
	}
}

// BenchmarkServerLookupHitParallel is the same from many reader goroutines.
func BenchmarkServerLookupHitParallel(b *testing.B) {
	l, reqs := liveServers(b, 10000)
	b.ReportAllocs()
	measureCPU(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.HandleMessage(reqs[i%len(reqs)])
			i += 7
		}
	})
}

// BenchmarkServerKeyLookup is the table lookup alone: key and find.
func BenchmarkServerKeyLookup(b *testing.B) {
	l, reqs := liveServers(b, 10000)
	b.ReportAllocs()
	measureCPU(b)
	i := 0
	for b.Loop() {
		r := reqs[i%len(reqs)]
		k, _ := serverKeyOf(r)
		if l.findServer(k, r) == nil {
			b.Fatal("miss")
		}
		i++
	}
}

// BenchmarkNewRequestRespond is the full path of a new non-INVITE request:
// HandleMessage → worker → handler → Respond (200, built with
// sip.NewResponse) → Sender, one at a time. Over TCP timer J is zero, so the
// transaction ends on Respond and the requests can be replayed.
func BenchmarkNewRequestRespond(b *testing.B) {
	done := make(chan struct{}, 1)
	l := New(Config{}, nopSender{}, HandlerFunc(func(tx *ServerTx) {
		_ = tx.Respond(sip.NewResponse(tx.Request(), 200, ""))
		done <- struct{}{}
	}))
	b.Cleanup(func() { shutdownNow(l) })
	reqs := make([]*sip.Request, 1024)
	for i := range reqs {
		reqs[i] = msg{method: sip.OPTIONS, via: "TCP", branch: fmt.Sprintf("%s-%d-bench", sip.MagicCookie, i)}.build(tcpOrigin)
	}
	b.ReportAllocs()
	measureCPU(b)
	i := 0
	for b.Loop() {
		l.HandleMessage(reqs[i%len(reqs)])
		<-done
		i++
	}
	if st := l.Stats(); st.Rejected != 0 || st.Retransmissions != 0 {
		b.Fatalf("%+v", st)
	}
}

// BenchmarkNewRequestRespondUDP: the same over UDP, where the transaction
// then waits for timer J (so each iteration adds a live transaction).
func BenchmarkNewRequestRespondUDP(b *testing.B) {
	done := make(chan struct{}, 1)
	l := New(Config{}, nopSender{}, HandlerFunc(func(tx *ServerTx) {
		_ = tx.Respond(sip.NewResponse(tx.Request(), 200, ""))
		done <- struct{}{}
	}))
	b.Cleanup(func() { shutdownNow(l) })
	reqs := make([]*sip.Request, 1<<16)
	for i := range reqs {
		reqs[i] = msg{method: sip.OPTIONS, branch: fmt.Sprintf("%s-%d-bench", sip.MagicCookie, i)}.build(udpOrigin)
	}
	b.ReportAllocs()
	measureCPU(b)
	i := 0
	for b.Loop() {
		if i == len(reqs) {
			b.StopTimer()
			for _, tx := range l.servers.all() {
				tx.abort(nil)
			}
			i = 0
			b.StartTimer()
		}
		l.HandleMessage(reqs[i])
		<-done
		i++
	}
}
