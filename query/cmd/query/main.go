// Command query serves events from ClickHouse over HTTP: GET by uuid and
// filtered, paginated lists, with the OpenAPI spec and docs.
// Configuration: flags or QUERY_* environment variables; see -help.
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
		fmt.Fprintln(os.Stderr, "query:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.LoadQuery(args, getenv, stderr)
	if err != nil {
		return err
	}
	return app.RunQuery(ctx, cfg, logging.New(cfg.Log, "query", stdout), nil)
}
