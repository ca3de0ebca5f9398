// Command enricher geolocates raw events and emits enriched ones.
//
//	enricher [flags]          run the consume-enrich-produce loop
//	enricher replay [flags]   re-enrich history with a new enrichment version
//
// Configuration: flags or ENRICHER_* environment variables; see -help.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"github.com/eventtarget/eventtarget/enricher/internal/app"
	"github.com/eventtarget/eventtarget/enricher/internal/config"
	"github.com/eventtarget/eventtarget/enricher/internal/replay"
	"github.com/eventtarget/eventtarget/platform/cli"
	"github.com/eventtarget/eventtarget/platform/logging"
)

func main() { cli.Main("enricher", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "replay" {
		return runReplay(ctx, args[1:], getenv, stdout, stderr)
	}
	cfg, err := config.Load("enricher", args, getenv, stderr, nil)
	if err != nil {
		return err
	}
	if getenv("GOGC") == "" {
		debug.SetGCPercent(cfg.GCPercent)
	}
	return app.Run(ctx, cfg, logging.New(cfg.Log, "enricher", stdout), nil)
}

// runReplay prints the report as one JSON line on stdout; logs go to stderr.
func runReplay(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var from, to string
	var opts replay.Options
	var version uint
	cfg, err := config.Load("enricher replay", args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&from, "from", "earliest", "first event time to replay: RFC 3339 or earliest")
		fs.StringVar(&to, "to", "", "last event time to replay: RFC 3339 (default: up to now)")
		fs.BoolVar(&opts.OnlyUnresolved, "only-unresolved", false, "only events whose newest enrichment is unresolved")
		fs.UintVar(&version, "version", 0, "enrichment version to write (default: the current Unix time, above all earlier ones)")
		fs.DurationVar(&opts.Idle, "idle", 3*time.Second, "end once no record arrived for this long")
	})
	if err != nil {
		return err
	}
	if opts.From, err = parseTime("-from", from); err != nil {
		return err
	}
	if opts.To, err = parseTime("-to", to); err != nil {
		return err
	}
	if !opts.From.IsZero() && !opts.To.IsZero() && opts.To.Before(opts.From) {
		return fmt.Errorf("-to %s is before -from %s", to, from)
	}
	if version > 1<<32-1 {
		return fmt.Errorf("-version %d: want at most 4294967295", version)
	}
	opts.Version = uint32(version)
	log := logging.New(cfg.Log, "enricher-replay", stderr)
	rep, err := app.Replay(ctx, cfg, opts, log)
	if err != nil {
		return err
	}
	log.Info(rep.String())
	return json.NewEncoder(stdout).Encode(rep)
}

func parseTime(flagName, s string) (time.Time, error) {
	if s == "" || s == "earliest" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: want RFC 3339 (2026-12-03T10:00:00Z) or earliest", flagName, s)
	}
	return t, nil
}
