// Command query serves events from ClickHouse over HTTP: GET by uuid and
// filtered, paginated lists, with the OpenAPI spec and docs.
// Configuration: flags or QUERY_* environment variables; see -help.
package main

import (
	"context"
	"io"

	"github.com/eventtarget/eventtarget/platform/cli"
	"github.com/eventtarget/eventtarget/platform/logging"
	"github.com/eventtarget/eventtarget/query/internal/app"
	"github.com/eventtarget/eventtarget/query/internal/config"
)

func main() { cli.Main("query", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.LoadQuery(args, getenv, stderr)
	if err != nil {
		return err
	}
	return app.RunQuery(ctx, cfg, logging.New(cfg.Log, "query", stdout), nil)
}
