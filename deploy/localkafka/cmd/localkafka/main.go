// Command localkafka runs the embedded Kafka broker of the local run (kfake
// with on-disk persistence). Configuration: flags or LOCALKAFKA_* variables.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/eventtarget/eventtarget/deploy/localkafka/internal/broker"
	"github.com/eventtarget/eventtarget/platform/cli"
	pconfig "github.com/eventtarget/eventtarget/platform/config"
	"github.com/eventtarget/eventtarget/platform/logging"
)

func main() { cli.Main("localkafka", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, logCfg := broker.DefaultConfig(), logging.Default()
	fs := flag.NewFlagSet("localkafka", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.Port, "port", cfg.Port, "port on 127.0.0.1")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "folder persisting topics, segments and group offsets")
	fs.BoolVar(&cfg.SyncWrites, "sync-writes", cfg.SyncWrites, "fsync every produced batch")
	fs.IntVar(&cfg.DefaultPartitions, "default-partitions", cfg.DefaultPartitions, "partitions of topics created without a count")
	fs.StringVar(&logCfg.Format, "log-format", logCfg.Format, "log format: json or text")
	fs.StringVar(&logCfg.Level, "log-level", logCfg.Level, "log level: debug, info, warn, error")
	if err := pconfig.Parse(fs, "LOCALKAFKA", args, getenv); err != nil {
		return err
	}
	if err := errors.Join(cfg.Validate(), logCfg.Validate()); err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	return broker.Run(ctx, cfg, logging.New(logCfg, "localkafka", stdout), nil)
}
