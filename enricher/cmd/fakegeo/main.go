// Command fakegeo serves a fake of the remote geolocation APIs (geoip-api
// and ip-api.com) for local runs and end-to-end tests, which steer it
// through its /control/ endpoints (see package fakegeo). Configuration:
// flags or FAKEGEO_* environment variables; see -help.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/eventtarget/eventtarget/enricher/internal/fakegeo"
	"github.com/eventtarget/eventtarget/platform/cli"
	pconfig "github.com/eventtarget/eventtarget/platform/config"
	"github.com/eventtarget/eventtarget/platform/httpserver"
	"github.com/eventtarget/eventtarget/platform/logging"
)

func main() { cli.Main("fakegeo", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	listen, tableFile, synthetic, logCfg := "127.0.0.1:8090", "", false, logging.Default()
	fs := flag.NewFlagSet("fakegeo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&listen, "listen-addr", listen, "HTTP listen address")
	fs.StringVar(&tableFile, "table", tableFile, "JSON file of entries to answer from instead of the built-in sample")
	fs.BoolVar(&synthetic, "synthetic", synthetic, "answer every public address missing from the table with a made-up place (for load tests)")
	fs.StringVar(&logCfg.Format, "log-format", logCfg.Format, "log format: json or text")
	fs.StringVar(&logCfg.Level, "log-level", logCfg.Level, "log level: debug, info, warn, error")
	if err := pconfig.Parse(fs, "FAKEGEO", args, getenv); err != nil {
		return err
	}
	if err := logCfg.Validate(); err != nil {
		return err
	}
	log := logging.New(logCfg, "fakegeo", stdout)

	table := fakegeo.SampleTable()
	if tableFile != "" {
		f, err := os.Open(tableFile)
		if err != nil {
			return fmt.Errorf("-table: %w", err)
		}
		table, err = fakegeo.ReadTable(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("-table %s: %w", tableFile, err)
		}
	}

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("-listen-addr: %w", err)
	}
	log.Info("fake geolocation API", "entries", len(table), "synthetic", synthetic)
	fake := fakegeo.New(table)
	fake.Synthesize(synthetic)
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 5 * time.Second}
	return httpserver.Serve(ctx, srv, ln, 5*time.Second, log)
}
