// Command gateway is the local run's single origin (127.0.0.1:8000): POST
// /api/events… goes to ingest, everything else to query. Configuration:
// flags or GATEWAY_* environment variables; see -help.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/eventtarget/eventtarget/deploy/gateway/internal/route"
	"github.com/eventtarget/eventtarget/platform/cli"
	pconfig "github.com/eventtarget/eventtarget/platform/config"
	"github.com/eventtarget/eventtarget/platform/httpserver"
	"github.com/eventtarget/eventtarget/platform/logging"
)

func main() { cli.Main("gateway", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, logCfg := route.DefaultConfig(), logging.Default()
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.ListenAddr, "listen-addr", cfg.ListenAddr, "HTTP listen address")
	fs.StringVar(&cfg.IngestURL, "ingest-url", cfg.IngestURL, "ingest base URL (POST /api/events…)")
	fs.StringVar(&cfg.QueryURL, "query-url", cfg.QueryURL, "query base URL (everything else)")
	fs.StringVar(&logCfg.Format, "log-format", logCfg.Format, "log format: json or text")
	fs.StringVar(&logCfg.Level, "log-level", logCfg.Level, "log level: debug, info, warn, error")
	if err := pconfig.Parse(fs, "GATEWAY", args, getenv); err != nil {
		return err
	}
	if err := logCfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	log := logging.New(logCfg, "gateway", stdout)
	h, err := route.Handler(cfg, log)
	if err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.ListenAddr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	log.Info("gateway started", "addr", ln.Addr().String(), "ingest", cfg.IngestURL, "query", cfg.QueryURL)
	return httpserver.Serve(ctx, srv, ln, 20*time.Second, log)
}
