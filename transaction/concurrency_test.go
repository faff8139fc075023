package transaction

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// lossyLink connects a client layer to a server layer through goroutines,
// like a network: it copies each message (the peer parses its own) and
// drops some, so that retransmission timers, absorbed retransmissions and
// the CANCEL race all run at once under the race detector.
type lossyLink struct {
	to   func() *Layer
	loss float64
	wg   *sync.WaitGroup
	// origin stamps requests as the server's transport would.
	origin sip.Origin
}

func (k *lossyLink) deliver(m sip.Message) {
	if rand.Float64() < k.loss {
		return
	}
	parsed, err := sip.Parse([]byte(m.String()))
	if err != nil {
		panic(err)
	}
	if req, ok := parsed.(*sip.Request); ok {
		req.Origin = k.origin
	}
	k.wg.Go(func() { k.to().HandleMessage(parsed) })
}

func (k *lossyLink) SendRequest(req *sip.Request, _ transport.Addr) error {
	k.deliver(req)
	return nil
}

func (k *lossyLink) SendResponse(resp *sip.Response) error {
	k.deliver(resp)
	return nil
}

func TestConcurrentTransactions(t *testing.T) {
	const (
		clients = 16
		perG    = 150
	)
	cfg := Config{T1: 5 * time.Millisecond, T2: 40 * time.Millisecond, T4: 50 * time.Millisecond, TimerD: 50 * time.Millisecond, TryingDelay: 2 * time.Millisecond, Workers: 8}
	var wg sync.WaitGroup
	var client, server *Layer
	toServer := &lossyLink{to: func() *Layer { return server }, loss: 0.05, wg: &wg,
		origin: sip.Origin{Source: netip.MustParseAddrPort("192.0.2.1:5060"), Transport: "UDP"}}
	toClient := &lossyLink{to: func() *Layer { return client }, loss: 0.05, wg: &wg}
	var served atomic.Int64
	server = New(cfg, toClient, HandlerFunc(func(tx *ServerTx) {
		served.Add(1)
		req := tx.Request()
		switch req.Method {
		case sip.INVITE:
			// Answer some at once, some later, some never (the client
			// cancels those).
			go func() {
				_ = tx.Respond(sip.NewResponse(req, 180, ""))
				switch n := rand.IntN(3); n {
				case 0:
					r := sip.NewResponse(req, 200, "")
					r.SetToTag("uas")
					_ = tx.Respond(r)
				case 1:
					r := sip.NewResponse(req, 486, "")
					r.SetToTag("uas")
					_ = tx.Respond(r)
				default:
					// A server INVITE transaction has no timer in
					// Proceeding: the TU must answer, CANCEL or not
					// (the client may have timed out before the 180).
					select {
					case <-tx.Cancelled():
						_ = tx.RespondRequestTerminated()
					case <-time.After(200 * time.Millisecond):
						r := sip.NewResponse(req, 480, "")
						r.SetToTag("uas")
						_ = tx.Respond(r)
					}
				}
			}()
		default:
			_ = tx.Respond(sip.NewResponse(req, 200, ""))
		}
	}))
	client = New(cfg, toServer, HandlerFunc(func(*ServerTx) {}))

	var finals, timeouts atomic.Int64
	var g sync.WaitGroup
	for c := range clients {
		g.Go(func() {
			for i := range perG {
				method := sip.OPTIONS
				if i%3 == 0 {
					method = sip.INVITE
				}
				req := msg{method: method, callID: fmt.Sprintf("c%d-%d", c, i)}.build(sip.Origin{})
				ctx, cancel := context.WithCancel(context.Background())
				tx, err := client.Request(ctx, req, udpDst)
				if err != nil {
					t.Error(err)
					cancel()
					return
				}
				gotFinal := false
				timer := time.AfterFunc(30*time.Millisecond, cancel) // CANCELs the slow INVITEs
				for resp := range tx.Responses() {
					if resp.StatusCode >= 200 {
						gotFinal = true
						if method == sip.INVITE {
							break // stop listening after the first final (Accepted lasts 64*T1)
						}
					}
				}
				timer.Stop()
				cancel()
				if gotFinal {
					finals.Add(1)
				} else if tx.Err() != nil {
					timeouts.Add(1)
				}
			}
		})
	}
	g.Wait()
	if finals.Load()+timeouts.Load() != clients*perG {
		t.Errorf("finals %d + failures %d != %d", finals.Load(), timeouts.Load(), clients*perG)
	}
	// With 5% loss each way and 11 tries, a timeout is rare but possible.
	// The machine may be loaded (race detector, parallel packages), and
	// T1 is 5 ms here, so allow a few.
	if timeouts.Load() > clients*perG/20 {
		t.Errorf("%d timeouts", timeouts.Load())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := client.Shutdown(ctx); err != nil {
		t.Error("client shutdown:", err, client.Stats())
	}
	if err := server.Shutdown(ctx); err != nil {
		t.Error("server shutdown:", err, server.Stats())
	}
	wg.Wait()
	cs, ss := client.Stats(), server.Stats()
	t.Logf("client %+v", cs)
	t.Logf("server %+v", ss)
	if cs.Live != 0 || ss.Live != 0 {
		t.Error("transactions left")
	}
	if ss.Retransmissions == 0 || cs.ClientTransactions < clients*perG {
		t.Error("the test did not exercise retransmissions")
	}
}
