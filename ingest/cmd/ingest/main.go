// Command ingest accepts events over HTTP and appends them to Kafka.
// Configuration: flags or INGEST_* environment variables; see -help.
package main

import (
	"context"
	"io"

	"github.com/eventtarget/eventtarget/ingest/internal/app"
	"github.com/eventtarget/eventtarget/ingest/internal/config"
	"github.com/eventtarget/eventtarget/platform/cli"
	"github.com/eventtarget/eventtarget/platform/logging"
)

func main() { cli.Main("ingest", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.Load(args, getenv, stderr)
	if err != nil {
		return err
	}
	return app.Run(ctx, cfg, logging.New(cfg.Log, "ingest", stdout), nil)
}
