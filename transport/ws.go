package transport

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-sip/parley/sip"
)

// wsListener serves SIP over WebSocket (RFC 7118): an HTTP server whose
// upgrade requests must offer the "sip" subprotocol; each WebSocket message
// carries exactly one SIP message (§5.2), so no Content-Length framing.
type wsListener struct {
	proto string
	srv   *http.Server
	addr  netip.AddrPort
}

func (w *wsListener) transport() string     { return w.proto }
func (w *wsListener) local() netip.AddrPort { return w.addr }
func (w *wsListener) close()                { w.srv.Close() }

type wsConn struct {
	c  *websocket.Conn
	nc net.Conn // the connection under it (see connOf), for roomFor; may be nil
}

func (w *wsConn) roomFor(n int) bool {
	return w.nc == nil || socketRoom(w.nc, n+14) // + a frame header
}

// netConnKey is the request context key under which the HTTP server keeps
// the connection a request came on, for the WebSocket made from it.
type netConnKey struct{}

func connOf(r *http.Request) net.Conn {
	nc, _ := r.Context().Value(netConnKey{}).(net.Conn)
	return nc
}

func (w *wsConn) writeMessage(ctx context.Context, b []byte) error {
	return w.c.Write(ctx, websocket.MessageText, b)
}

func (w *wsConn) closeConn() error { return w.c.Close(websocket.StatusNormalClosure, "") }

func (l *Layer) listenWS(proto, addr string) error {
	if proto == WSS && (l.cfg.TLS == nil || len(l.cfg.TLS.Certificates) == 0 && l.cfg.TLS.GetCertificate == nil) {
		return errors.New("transport: wss listener needs a certificate and key")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	wl := &wsListener{proto: proto, addr: ln.Addr().(*net.TCPAddr).AddrPort()}
	wl.srv = &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { l.serveWS(wl, w, r) }),
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext: func(ctx context.Context, nc net.Conn) context.Context {
			return context.WithValue(ctx, netConnKey{}, nc)
		},
		TLSConfig: l.cfg.TLS,
		ErrorLog:  nil,
	}
	l.mu.Lock()
	l.streams = append(l.streams, wl)
	l.mu.Unlock()
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		if proto == WSS {
			wl.srv.ServeTLS(ln, "", "")
		} else {
			wl.srv.Serve(ln)
		}
	}()
	l.log.Info("listening", "transport", proto, "addr", wl.addr.String())
	return nil
}

func (l *Layer) serveWS(wl *wsListener, w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:       []string{"sip"},
		InsecureSkipVerify: true, // SIP clients come from any origin; auth is SIP digest
	})
	if err != nil {
		return
	}
	if c.Subprotocol() != "sip" {
		// RFC 7118 §4: the handshake must negotiate "sip".
		c.Close(websocket.StatusPolicyViolation, "subprotocol sip required")
		return
	}
	c.SetReadLimit(int64(l.cfg.Limits.MaxMessageSize))
	remote, _ := netip.ParseAddrPort(r.RemoteAddr)
	sc := l.register(wl.proto, remote, wl.addr, &wsConn{c: c, nc: connOf(r)})
	if sc == nil {
		c.Close(websocket.StatusTryAgainLater, "too many connections")
		return
	}
	l.wg.Add(1)
	defer l.wg.Done()
	defer sc.close()
	origin := sip.Origin{Source: remote, Local: wl.addr, Transport: wl.proto}
	reply := func(b []byte) error { return sc.send(b) }
	for {
		ctx, cancel := context.WithTimeout(context.Background(), l.cfg.IdleTimeout)
		_, data, err := c.Read(ctx)
		cancel()
		if err != nil {
			return
		}
		if len(data) == 0 || isKeepAlive(data) {
			l.stats.keepalives.Add(1)
			continue
		}
		if !l.admit(origin.Source.Addr()) {
			return // a banned or flooding source: close
		}
		l.deliver(data, origin, reply)
	}
}
