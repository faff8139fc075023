package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/parley-sip/parley/admin"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/internal/gctune"
	"github.com/parley-sip/parley/server"
)

// serve runs the server until SIGINT or SIGTERM.
func serve(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serveContext(ctx, args, stdout, stderr, nil)
}

// serveContext runs the server until ctx ends. ready, when not nil, gets the
// running server once it listens (tests use it).
func serveContext(ctx context.Context, args []string, stdout, stderr io.Writer, ready func(*server.Server)) int {
	fs := flag.NewFlagSet("parley serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (YAML); without it DATA/parley.yaml is used, written with two demo users on the first start")
	dataDir := fs.String("data", "", "data directory (the embedded store), overriding the config's data (default ./parley-data)")
	listen := fs.String("listen", "", "comma-separated listen addresses, overriding the config: udp:127.0.0.1:5060,tcp:127.0.0.1:5060 (also tls:, ws:, wss:)")
	logLevel := fs.String("log-level", "", "log level: debug, info, warn, error (overrides the config's log)")
	trace := fs.Bool("trace", false, "log every SIP message sent and received (implies -log-level debug)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file until shutdown (for diagnosis)")
	grace := fs.Duration("shutdown-grace", 10*time.Second, "how long Shutdown lets transactions finish")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: parley serve [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var cfg *config.Config
	var err error
	var starterPath string // set when the starter config was written now
	if *configPath != "" {
		if cfg, err = config.Load(*configPath); err != nil {
			fmt.Fprintln(stderr, "parley serve:", err)
			return 2
		}
	} else {
		dir := *dataDir
		if dir == "" {
			dir = config.Default().Data
		}
		var path string
		var created bool
		if cfg, path, created, err = config.LoadOrCreateStarter(dir); err != nil {
			fmt.Fprintln(stderr, "parley serve:", err)
			return 2
		}
		if created {
			starterPath = path
		} else {
			fmt.Fprintf(stdout, "parley: using %s\n", path)
		}
	}
	if *dataDir != "" {
		cfg.Data = *dataDir
	}
	if *listen != "" {
		cfg.Listen = strings.Split(*listen, ",")
	}
	if *logLevel != "" {
		cfg.Log = *logLevel
	}
	if *trace {
		cfg.Trace = true
		cfg.Log = "debug"
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, "parley serve:", err)
		return 2
	}
	if starterPath != "" {
		printWelcome(stdout, cfg, starterPath)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "parley serve:", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "parley serve:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	if os.Getenv("GOGC") == "" {
		// GOGC 400 while the live heap is small (a quarter of the
		// collections of the default 100, for a few MB), then falling so
		// that the heap grows at most 64 MiB beyond its live size (100
		// at 64 MiB live, the floor 50 from 128 MiB): a registrar with
		// many contacts should not hold five times its heap. GOGC
		// overrides.
		defer gctune.Start(gctune.Config{}).Stop()
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: parseLevel(cfg.Log)}))
	srv, err := server.New(cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "parley serve:", err)
		return 1
	}
	var adm *admin.Server
	if cfg.Admin.Listen != "" {
		// Before the SIP listeners open, so that capture misses nothing.
		if adm, err = admin.New(srv, admin.Options{Logger: log, Version: versionString()}); err != nil {
			fmt.Fprintln(stderr, "parley serve:", err)
			srv.Shutdown(context.Background())
			return 1
		}
	}
	if adm == nil && cfg.Capture.HEP != "" {
		// HEP export without the admin server.
		hep, err := admin.NewHEPExporter(cfg.Capture.HEP, uint32(cfg.Capture.HEPID), log)
		if err != nil {
			fmt.Fprintln(stderr, "parley serve: capture.hep:", err)
			srv.Shutdown(context.Background())
			return 1
		}
		defer hep.Close()
		srv.Transport().SetTap(hep)
	}
	if err := srv.Start(); err != nil {
		fmt.Fprintln(stderr, "parley serve:", err)
		return 1
	}
	for _, a := range srv.Addrs() {
		fmt.Fprintf(stdout, "parley: listening on %s\n", a)
	}
	if adm != nil {
		if err := adm.Start(); err != nil {
			fmt.Fprintln(stderr, "parley serve:", err)
			srv.Shutdown(context.Background())
			return 1
		}
		scheme := "http"
		if cfg.Admin.TLSCert != "" {
			scheme = "https"
		}
		fmt.Fprintf(stdout, "parley: admin console on %s://%s/\n", scheme, adm.Addr())
	}
	if ready != nil {
		ready(srv)
	}
	<-ctx.Done()
	fmt.Fprintln(stdout, "parley: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	if adm != nil {
		if err := adm.Shutdown(sctx); err != nil {
			fmt.Fprintln(stderr, "parley serve: admin shutdown:", err)
		}
	}
	if err := srv.Shutdown(sctx); err != nil {
		fmt.Fprintln(stderr, "parley serve: shutdown:", err)
		return 1
	}
	return 0
}

// printWelcome tells a newcomer how to register two phones with the demo
// users of the starter config it just wrote.
func printWelcome(w io.Writer, cfg *config.Config, path string) {
	proxy := strings.TrimPrefix(cfg.Listen[0], "udp:")
	fmt.Fprintf(w, "parley: first start: wrote %s with two demo users.\n", path)
	fmt.Fprintln(w, "Register two softphones and call from one to the other:")
	for _, u := range cfg.Users {
		fmt.Fprintf(w, "  user sip:%s@%s  password %s  (outbound proxy / registrar %s, UDP or TCP)\n", u.Name, cfg.Domain, u.Password, proxy)
	}
	if len(cfg.Users) > 1 {
		fmt.Fprintf(w, "  e.g. parley phone answer --server %s --domain %s --user %s --password %s\n", proxy, cfg.Domain, cfg.Users[1].Name, cfg.Users[1].Password)
		fmt.Fprintf(w, "       parley phone call sip:%s@%s --server %s --user %s --password %s\n", cfg.Users[1].Name, cfg.Domain, proxy, cfg.Users[0].Name, cfg.Users[0].Password)
	}
}

func parseLevel(s string) slog.Level {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug
	case "info":
		return slog.LevelInfo
	case "error":
		return slog.LevelError
	}
	return slog.LevelWarn
}
