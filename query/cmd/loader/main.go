// Command loader copies the raw and enriched topics into ClickHouse.
// Configuration: flags or LOADER_* environment variables; see -help.
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

	"github.com/eventtarget/eventtarget/platform/logging"
	"github.com/eventtarget/eventtarget/query/internal/app"
	"github.com/eventtarget/eventtarget/query/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "loader:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.LoadLoader(args, getenv, stderr)
	if err != nil {
		return err
	}
	return app.RunLoader(ctx, cfg, logging.New(cfg.Log, "loader", stdout), nil)
}
