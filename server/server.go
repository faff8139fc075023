// Package server builds a running Parley server from its configuration:
// the transport layer with its listeners and abuse filter (package guard),
// the transaction layer, and the chain of stages every new request walks
// (stage.go): the checks of RFC 3261 §8.2 and §16.3, source policy, the
// abuse filter, digest authentication (§22), the relay policy (§26.3.2.4,
// policy.go), then the registrar (§10), the server itself (OPTIONS, §11) or
// the proxy (§16). Messages that start no transaction — the ACK of a 2xx,
// stray responses — go through one dispatcher (policy.go). A request no
// stage may block on runs on the transport's reader goroutine; others go to
// the transaction layer's bounded worker pool.
//
// Its lifecycle follows net/http: Start, then Shutdown(ctx), which stops
// listening, answers new requests with 503, gives up outgoing requests at
// once (so what waits for them is answered) and lets the server's own
// transactions finish until the deadline.
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/guard"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/media"
	"github.com/parley-sip/parley/media/ng"
	"github.com/parley-sip/parley/pbx/bridge"
	"github.com/parley-sip/parley/pbx/cdr"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/registrar"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
	"github.com/parley-sip/parley/transport"
)

// Server is one running Parley node.
type Server struct {
	cfg       *config.Config
	log       *slog.Logger
	tp        *transport.Layer
	tx        *transaction.Layer
	caps      Capabilities
	store     location.Store
	registrar *registrar.Registrar
	verifier  *auth.Verifier    // nil with auth: none
	creds     *auth.StaticStore // the verifier's store, replaced whole by SetUsers
	// users is the set of user names, swapped whole by SetUsers while
	// readers consult it.
	users   atomic.Pointer[map[string]bool]
	started time.Time
	router  Router
	proxy   *proxy.Proxy
	chain   *chain
	guard   *guard.Guard // nil with abuse.off
	// bridge is the PBX (nil unless pbx.enabled), with its relay and its
	// call records. The relay also serves media.ng_listen.
	bridge *bridge.Bridge
	relay  *media.Relay
	cdr    *cdr.Async
	// trusted are the relay.trusted prefixes, inbound relay.inbound.
	trusted, inbound []netip.Prefix

	relayRefused, acksDropped atomic.Uint64

	// secret is the node's (or cluster's) key, see loadSecret; each use
	// takes a key of its own from it (deriveKey).
	secret []byte

	// ng serves media.ng_listen over the relay (media.go); nil without it.
	ng *ng.Server
	// ourHosts is the set of hosts that name this server (domain,
	// localhost, listener addresses), swapped whole once the listeners are
	// bound: reader goroutines consult it while Start is still running.
	ourHosts atomic.Pointer[map[string]bool]

	shutdownOnce sync.Once
	shutdownErr  error
}

// The defaults of limits.max_transactions and
// limits.max_transactions_per_source: far above what an office (50 phones
// behind one address make a few hundred transactions at a busy moment) or
// a busy node needs, low enough that a flood cannot hold more than about
// 100 MB of transactions.
const (
	defaultMaxTransactions          = 100000
	defaultMaxTransactionsPerSource = 2000
)

func orDefault(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

// registerTimeout bounds one REGISTER's store update.
const registerTimeout = 5 * time.Second

// timerC is the proxy's INVITE timer C (§16.6 step 11: more than 3 minutes).
const timerC = 3*time.Minute + 10*time.Second

// New builds a server from a validated config. Nothing listens until Start.
func New(cfg *config.Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tlsConf, err := loadTLS(cfg.TLS)
	if err != nil {
		return nil, err
	}
	readers := cfg.Limits.UDPReaders
	if readers == 0 {
		readers = runtime.GOMAXPROCS(0)
	}
	s := &Server{
		cfg: cfg,
		log: log,
		caps: Capabilities{
			Allow: []string{sip.INVITE, sip.ACK, sip.CANCEL, sip.BYE, sip.OPTIONS, sip.REGISTER,
				sip.MESSAGE, sip.INFO, sip.UPDATE, sip.PRACK, sip.REFER, sip.SUBSCRIBE, sip.NOTIFY},
			Accept:    []string{"application/sdp"},
			Supported: []string{"path"},
		},
		started: time.Now(),
	}
	s.caps.prepare()
	initial := map[string]bool{strings.ToLower(cfg.Domain): true, "localhost": true}
	s.ourHosts.Store(&initial)
	names := make(map[string]bool, len(cfg.Users))
	for _, u := range cfg.Users {
		names[u.Name] = true
	}
	s.users.Store(&names)
	if s.secret, err = loadSecret(cfg); err != nil {
		return nil, err
	}
	if err := s.openAccounts(); err != nil {
		return nil, err
	}
	s.trusted = config.ParsePrefixes(cfg.Relay.Trusted)
	s.inbound = config.ParsePrefixes(cfg.Relay.Inbound)
	if s.guard, err = newGuard(cfg, s.trusted, log); err != nil {
		s.store.Close()
		return nil, err
	}
	var filter transport.SourceFilter
	if s.guard != nil {
		filter = s.guard
	}
	s.tp = transport.New(transport.Config{
		Limits: sip.Limits{
			MaxMessageSize: cfg.Limits.MaxMessageSize,
			MaxHeaders:     cfg.Limits.MaxHeaders,
			MaxLineLength:  cfg.Limits.MaxLineLength,
		},
		TLS:               tlsConf,
		IdleTimeout:       cfg.Limits.IdleTimeout.D(),
		MaxConnsPerSource: cfg.Limits.MaxConnsPerSource,
		MaxConns:          cfg.Limits.MaxConns,
		UDPReaders:        readers,
		Filter:            filter,
		Logger:            log,
		Trace:             cfg.Trace,
	})
	workers := cfg.Limits.Workers
	if workers == 0 {
		// Handlers block on the store (a REGISTER waits for its fsync):
		// many cheap goroutines keep the CPUs busy meanwhile.
		workers = 64 * runtime.GOMAXPROCS(0)
	}
	s.tx = transaction.New(transaction.Config{
		T1:          cfg.Timers.T1.D(),
		T2:          cfg.Timers.T2.D(),
		T4:          cfg.Timers.T4.D(),
		TryingDelay: cfg.Timers.Trying.D(),
		Workers:     workers,
		QueueSize:   cfg.Limits.Queue,
		RetryAfter:  cfg.Limits.RetryAfter,
		Inline:      s.inline,
		// §16.6 step 11: a proxy's INVITE branches give up 3 minutes
		// after the last provisional response.
		TimerC:                timerC,
		MaxServerTransactions: orDefault(cfg.Limits.MaxTransactions, defaultMaxTransactions),
		MaxPerSource:          orDefault(cfg.Limits.MaxTransactionsPerSource, defaultMaxTransactionsPerSource),
		Logger:                log,
		// Messages that start no transaction find their owner through
		// the dispatcher.
		OnAck:           dispatcher{s}.HandleAck,
		OnStrayResponse: dispatcher{s}.HandleStrayResponse,
	}, s.tp, transaction.HandlerFunc(s.serveSIP))
	s.tp.SetHandler(s.tx)
	var userExists func(string) bool
	if cfg.Auth == "digest" {
		userExists = s.userExists
	}
	resolver, err := newResolver(cfg.DNS)
	if err != nil {
		s.store.Close()
		return nil, err
	}
	locator := &proxy.LocationLocator{Store: s.store, UserExists: userExists, Domain: cfg.Domain, Aliases: s.isOurs}
	s.proxy, err = proxy.New(proxy.Config{
		Transactions: s.tx,
		Transport:    s.tp,
		Domains:      []string{cfg.Domain},
		Locator:      locator,
		RecordRoute:  true,
		RouteKey:     deriveKey(s.secret, "record-route"),
		RetryAfter:   cfg.Limits.RetryAfter,
		Logger:       log,

		// Next hops by name: RFC 3263 (the dns section).
		Resolver:       resolver,
		ResolveTimeout: cfg.DNS.Timeout.D(),
	})
	if err != nil {
		s.store.Close()
		return nil, err
	}
	s.router = s.proxy
	if err := s.newPBX(locator); err != nil {
		s.store.Close()
		return nil, err
	}
	s.chain = s.buildChain()
	return s, nil
}

func loadTLS(c config.TLSConfig) (*tls.Config, error) {
	if c.Cert == "" && c.Key == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.Cert, c.Key)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.ClientCA != "" {
		pem, err := os.ReadFile(c.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("tls.client_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("tls.client_ca: no certificates found")
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// openAccounts opens the location store (the data directory's or a shared one) and builds
// the digest verifier and the registrar.
func (s *Server) openAccounts() error {
	cfg := s.cfg
	store, err := openStore(cfg) // store.go: file, Redis or PostgreSQL
	if err != nil {
		return err
	}
	s.store = store
	var userExists func(string) bool
	if cfg.Auth == "digest" {
		users := make([]auth.User, 0, len(cfg.Users))
		for _, u := range cfg.Users {
			users = append(users, auth.User{Name: u.Name, Realm: cfg.Domain, Password: u.Password, HA1: u.HA1, HA1SHA256: u.HA1SHA256})
		}
		st, err := auth.NewStaticStore(users)
		if err != nil {
			store.Close()
			return fmt.Errorf("users: %w", err)
		}
		if s.verifier, err = auth.NewVerifier(auth.Config{Realm: cfg.Domain, Store: st, Algorithms: cfg.DigestAlgorithms,
			// Nonces outlive a restart, and nodes that share the
			// secret accept each other's.
			Key: deriveKey(s.secret, "digest-nonce")}); err != nil {
			store.Close()
			return err
		}
		s.creds = st
		userExists = s.userExists
	} else {
		s.log.Warn("auth: none — anyone may register and call as any user of the domain; use only in a lab", "domain", cfg.Domain)
	}
	s.registrar, err = registrar.New(registrar.Config{
		Domains:        []string{cfg.Domain},
		Aliases:        s.isOurs,
		MinExpires:     cfg.Registrar.MinExpires,
		MaxExpires:     cfg.Registrar.MaxExpires,
		DefaultExpires: cfg.Registrar.DefaultExpires,
		Store:          store,
		UserExists:     userExists,
		RetryAfter:     cfg.Limits.RetryAfter,
	})
	if err != nil {
		store.Close()
		return err
	}
	return nil
}

// Store returns the location store (registrations).
func (s *Server) Store() location.Store { return s.store }

// Start opens every listener. On error the ones already open are closed.
func (s *Server) Start() error {
	for _, l := range s.cfg.Listen {
		spec, err := transport.ParseListen(l)
		if err != nil {
			return err
		}
		if err := s.tp.Listen(spec); err != nil {
			s.tp.Shutdown(context.Background())
			return fmt.Errorf("listen %s: %w", l, err)
		}
	}
	if err := s.startMedia(); err != nil {
		s.tp.Shutdown(context.Background())
		return err
	}
	hosts := map[string]bool{strings.ToLower(s.cfg.Domain): true, "localhost": true}
	for _, a := range s.tp.LocalAddrs() {
		hosts[a.AddrPort.Addr().String()] = true
	}
	s.ourHosts.Store(&hosts)
	return nil
}

// Addrs returns the bound listener addresses (useful with port 0).
func (s *Server) Addrs() []transport.Addr { return s.tp.LocalAddrs() }

// Transport returns the transport layer (for stats and tests).
func (s *Server) Transport() *transport.Layer { return s.tp }

// Transactions returns the transaction layer (for stats and tests).
func (s *Server) Transactions() *transaction.Layer { return s.tx }

// Shutdown stops the server: new requests get 503 while transactions in
// progress finish, until ctx ends; then listeners and connections close.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() {
		errMedia := s.stopMedia()
		errPBX := s.closePBX(ctx) // the relay too
		errTx := s.tx.Shutdown(ctx)
		errTp := s.tp.Shutdown(ctx)
		errStore := s.store.Close()
		s.shutdownErr = errors.Join(errMedia, errPBX, errTx, errTp, errStore)
	})
	return s.shutdownErr
}
