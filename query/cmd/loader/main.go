// Command loader copies the raw and enriched topics into ClickHouse.
// Configuration: flags or LOADER_* environment variables; see -help.
package main

import (
	"context"
	"io"

	"github.com/eventtarget/eventtarget/platform/cli"
	"github.com/eventtarget/eventtarget/platform/logging"
	"github.com/eventtarget/eventtarget/query/internal/app"
	"github.com/eventtarget/eventtarget/query/internal/config"
)

func main() { cli.Main("loader", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.LoadLoader(args, getenv, stderr)
	if err != nil {
		return err
	}
	cli.SetMemoryLimit(getenv, cfg.MemoryLimitMiB)
	return app.RunLoader(ctx, cfg, logging.New(cfg.Log, "loader", stdout), nil)
}
