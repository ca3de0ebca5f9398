// Package broker runs franz-go's kfake as the embedded Kafka of the local
// run: one broker speaking the real wire protocol on 127.0.0.1, persisting
// segments, topics and group offsets under a data folder so that events
// survive restarts. It is not a production broker: it has no replication.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Config is the embedded broker's configuration.
type Config struct {
	Port    int
	DataDir string
	// SyncWrites fsyncs every batch. Off, the page cache holds the newest
	// writes, as with Kafka's own default; an OS crash may lose them, a
	// process crash does not.
	SyncWrites        bool
	DefaultPartitions int
}

// DefaultConfig is the local run's broker: 127.0.0.1:9092, data in .data/kafka.
func DefaultConfig() Config {
	return Config{Port: 9092, DataDir: ".data/kafka", DefaultPartitions: 6}
}

// Validate names the bad setting.
func (c Config) Validate() error {
	switch {
	case c.Port < 1 || c.Port > 65535:
		return fmt.Errorf("-port %d: want 1-65535", c.Port)
	case c.DataDir == "":
		return errors.New("-data-dir: must not be empty (the local broker always persists)")
	case c.DefaultPartitions < 1:
		return fmt.Errorf("-default-partitions %d: want at least 1", c.DefaultPartitions)
	}
	return nil
}

// Run serves until ctx is done, then closes the cluster, which writes its
// state to DataDir. ready, if set, gets the listen address.
func Run(ctx context.Context, cfg Config, log *slog.Logger, ready func(addr string)) error {
	opts := []kfake.Opt{
		kfake.Ports(cfg.Port),
		kfake.DataDir(cfg.DataDir),
		kfake.DefaultNumPartitions(cfg.DefaultPartitions),
		kfake.WithLogger(slogAdapter{log}),
		// Consumers of the local run restart often; the Kafka default floor
		// would make each restart's rebalance wait longer than needed.
		kfake.GroupMinSessionTimeout(time.Second),
	}
	if cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("start embedded kafka on port %d: %w", cfg.Port, err)
	}
	addrs := cluster.ListenAddrs()
	log.Info("embedded kafka ready", "addrs", addrs, "data_dir", cfg.DataDir, "sync_writes", cfg.SyncWrites)
	if ready != nil && len(addrs) > 0 {
		ready(addrs[0])
	}
	<-ctx.Done()
	log.Info("embedded kafka stopping, persisting state")
	cluster.Close()
	log.Info("embedded kafka stopped")
	return nil
}

// slogAdapter forwards kfake's warnings and errors; its info level logs every
// request, which is noise for a local run.
type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Logf(level kfake.LogLevel, format string, args ...any) {
	switch level {
	case kfake.LogLevelError:
		a.log.Error(fmt.Sprintf(format, args...))
	case kfake.LogLevelWarn:
		a.log.Warn(fmt.Sprintf(format, args...))
	}
}
