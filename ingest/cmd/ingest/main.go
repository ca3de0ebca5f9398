// Command ingest accepts events over HTTP and appends them to Kafka.
// Configuration: flags or INGEST_* environment variables; see -help.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/eventtarget/eventtarget/ingest/internal/app"
	"github.com/eventtarget/eventtarget/ingest/internal/config"
	"github.com/eventtarget/eventtarget/platform/logging"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "ingest:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.Load(args, getenv, stderr)
	if err != nil {
		return err
	}
	return app.Run(ctx, cfg, logging.New(cfg.Log, "ingest", stdout), nil)
}
