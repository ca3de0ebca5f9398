// Package config holds the settings of the query service (QUERY_…) and the
// loader (LOADER_…): defaults, flags and environment variables, validated
// before anything starts. Both share the ClickHouse settings.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	pconfig "github.com/eventtarget/eventtarget/platform/config"
	"github.com/eventtarget/eventtarget/platform/logging"
	"github.com/eventtarget/eventtarget/query/internal/chstore"
	"github.com/eventtarget/eventtarget/query/internal/loader"
)

// Query is the query service's configuration.
type Query struct {
	ListenAddr      string
	PprofAddr       string // a private net/http/pprof listener; "" is off
	ClickHouse      chstore.Config
	Migrate         bool
	DefaultPageSize int
	MaxPageSize     int
	QueryTimeout    time.Duration
	StartupTimeout  time.Duration
	ShutdownTimeout time.Duration
	Log             logging.Config
}

// DefaultQuery is the query service of a fresh install.
func DefaultQuery() Query {
	return Query{
		ListenAddr:      ":8002",
		ClickHouse:      chstore.DefaultConfig(),
		Migrate:         true,
		DefaultPageSize: 10,
		MaxPageSize:     1000,
		QueryTimeout:    10 * time.Second,
		StartupTimeout:  2 * time.Minute,
		ShutdownTimeout: 20 * time.Second,
		Log:             logging.Default(),
	}
}

// Validate names the bad setting.
func (c Query) Validate() error {
	switch {
	case c.ListenAddr == "":
		return errors.New("-listen-addr: must not be empty")
	case c.MaxPageSize < 1:
		return fmt.Errorf("-max-page-size %d: want at least 1", c.MaxPageSize)
	case c.DefaultPageSize < 1 || c.DefaultPageSize > c.MaxPageSize:
		return fmt.Errorf("-page-size %d: want 1 to max-page-size (%d)", c.DefaultPageSize, c.MaxPageSize)
	case c.QueryTimeout <= 0:
		return fmt.Errorf("-query-timeout %v: want more than 0", c.QueryTimeout)
	case c.StartupTimeout <= 0 || c.ShutdownTimeout <= 0:
		return errors.New("-startup-timeout, -shutdown-timeout: want more than 0")
	}
	if err := c.ClickHouse.Validate(); err != nil {
		return fmt.Errorf("clickhouse settings (-clickhouse-…): %w", err)
	}
	return c.Log.Validate()
}

// LoadQuery reads the query service's configuration.
func LoadQuery(args []string, getenv func(string) string, usage io.Writer) (Query, error) {
	c := DefaultQuery()
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.StringVar(&c.ListenAddr, "listen-addr", c.ListenAddr, "HTTP listen address")
	fs.StringVar(&c.PprofAddr, "pprof-addr", c.PprofAddr, "address of a private net/http/pprof listener (empty: off)")
	registerClickHouse(fs, &c.ClickHouse, &c.Migrate)
	fs.IntVar(&c.DefaultPageSize, "page-size", c.DefaultPageSize, "events per page when the client does not say")
	fs.IntVar(&c.MaxPageSize, "max-page-size", c.MaxPageSize, "largest page_size a client may ask for")
	fs.DurationVar(&c.QueryTimeout, "query-timeout", c.QueryTimeout, "longest a ClickHouse query may run before 503")
	fs.DurationVar(&c.StartupTimeout, "startup-timeout", c.StartupTimeout, "how long to wait for ClickHouse at start-up")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "grace for in-flight requests")
	registerLog(fs, &c.Log)
	if err := parse(fs, "QUERY", args, getenv); err != nil {
		return Query{}, err
	}
	if err := c.Validate(); err != nil {
		return Query{}, fmt.Errorf("invalid configuration: %w", err)
	}
	return c, nil
}

// Loader is the loader's configuration.
type Loader struct {
	HealthAddr      string
	PprofAddr       string // a private net/http/pprof listener; "" is off
	Kafka           loader.Config
	ClickHouse      chstore.Config
	Migrate         bool
	StartupTimeout  time.Duration
	ShutdownTimeout time.Duration
	// MemoryLimitMiB is the Go runtime's soft memory limit for the loader
	// (the GOMEMLIMIT environment variable wins); 0 is none. Near it the
	// collector runs more often, so a loader catching up (two large batches
	// held, fetches buffered) stays under it instead of letting garbage
	// grow as large as its live heap (bench/PROFILE.md entry 13). Raise it
	// with -catch-up-rows, -fetch-max-bytes or much larger events: above
	// the live heap it costs little, at it the collector takes up to half
	// the CPU.
	MemoryLimitMiB int
	Log            logging.Config
}

// DefaultLoader is the loader of a fresh install.
func DefaultLoader() Loader {
	return Loader{
		HealthAddr:      ":8004",
		Kafka:           loader.DefaultConfig(),
		ClickHouse:      chstore.DefaultConfig(),
		Migrate:         true,
		StartupTimeout:  2 * time.Minute,
		ShutdownTimeout: 20 * time.Second,
		MemoryLimitMiB:  200,
		Log:             logging.Default(),
	}
}

// Validate names the bad setting.
func (c Loader) Validate() error {
	if c.HealthAddr == "" {
		return errors.New("-health-addr: must not be empty")
	}
	if c.MemoryLimitMiB < 0 {
		return fmt.Errorf("-memory-limit-mib %d: want 0 (none) or more", c.MemoryLimitMiB)
	}
	if c.StartupTimeout <= 0 || c.ShutdownTimeout <= 0 {
		return errors.New("-startup-timeout, -shutdown-timeout: want more than 0")
	}
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	if err := c.ClickHouse.Validate(); err != nil {
		return fmt.Errorf("clickhouse settings (-clickhouse-…): %w", err)
	}
	return c.Log.Validate()
}

// LoadLoader reads the loader's configuration.
func LoadLoader(args []string, getenv func(string) string, usage io.Writer) (Loader, error) {
	c := DefaultLoader()
	fs := flag.NewFlagSet("loader", flag.ContinueOnError)
	fs.SetOutput(usage)
	k := &c.Kafka
	fs.StringVar(&c.HealthAddr, "health-addr", c.HealthAddr, "HTTP address of /healthz and /readyz")
	fs.StringVar(&c.PprofAddr, "pprof-addr", c.PprofAddr, "address of a private net/http/pprof listener (empty: off)")
	fs.Var((*pconfig.StringList)(&k.Brokers), "kafka-brokers", "comma-separated Kafka seed brokers")
	fs.StringVar(&k.RawTopic, "raw-topic", k.RawTopic, "raw events topic")
	fs.StringVar(&k.EnrichedTopic, "enriched-topic", k.EnrichedTopic, "enriched events topic")
	fs.StringVar(&k.Group, "group", k.Group, "consumer group")
	fs.IntVar(&k.BatchRows, "batch-rows", k.BatchRows, "rows per ClickHouse insert")
	fs.DurationVar(&k.BatchLinger, "batch-linger", k.BatchLinger, "longest a row waits for its batch to fill")
	fs.IntVar(&k.CatchUpRows, "catch-up-rows", k.CatchUpRows, "most rows of a full batch that takes records already fetched (a loader catching up); equal to -batch-rows, it is off")
	fs.DurationVar(&k.InitialBackoff, "initial-backoff", k.InitialBackoff, "first retry delay of a failed insert")
	fs.DurationVar(&k.MaxBackoff, "max-backoff", k.MaxBackoff, "longest retry delay of a failed insert")
	fs.DurationVar(&k.SessionTimeout, "session-timeout", k.SessionTimeout, "consumer group session timeout")
	fs.IntVar(&k.FetchMaxBytes, "fetch-max-bytes", k.FetchMaxBytes, "most bytes of one Kafka fetch (what the loader buffers while catching up)")
	registerClickHouse(fs, &c.ClickHouse, &c.Migrate)
	fs.DurationVar(&c.StartupTimeout, "startup-timeout", c.StartupTimeout, "how long to wait for ClickHouse at start-up")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "grace at shutdown")
	fs.IntVar(&c.MemoryLimitMiB, "memory-limit-mib", c.MemoryLimitMiB, "the Go runtime's soft memory limit in MiB, 0 for none (the GOMEMLIMIT environment variable wins)")
	registerLog(fs, &c.Log)
	if err := parse(fs, "LOADER", args, getenv); err != nil {
		return Loader{}, err
	}
	if err := c.Validate(); err != nil {
		return Loader{}, fmt.Errorf("invalid configuration: %w", err)
	}
	return c, nil
}

func registerClickHouse(fs *flag.FlagSet, c *chstore.Config, migrate *bool) {
	fs.StringVar(&c.NativeAddr, "clickhouse-native-addr", c.NativeAddr, "ClickHouse native protocol host:port")
	fs.StringVar(&c.HTTPAddr, "clickhouse-http-addr", c.HTTPAddr, "ClickHouse HTTP host:port")
	fs.StringVar(&c.Database, "clickhouse-database", c.Database, "database holding the events table")
	fs.StringVar(&c.User, "clickhouse-user", c.User, "ClickHouse user")
	fs.StringVar(&c.Password, "clickhouse-password", c.Password, "ClickHouse password")
	fs.StringVar(&c.Protocol, "clickhouse-protocol", c.Protocol, "auto, native or http (auto: native, or HTTP with the compatibility shim for ClickHouse before 20)")
	fs.DurationVar(&c.DialTimeout, "clickhouse-dial-timeout", c.DialTimeout, "connect timeout")
	fs.DurationVar(&c.ReadTimeout, "clickhouse-read-timeout", c.ReadTimeout, "read timeout")
	fs.BoolVar(migrate, "migrate", *migrate, "apply schema migrations at start")
}

func registerLog(fs *flag.FlagSet, c *logging.Config) {
	fs.StringVar(&c.Format, "log-format", c.Format, "log format: json or text")
	fs.StringVar(&c.Level, "log-level", c.Level, "log level: debug, info, warn, error")
}

func parse(fs *flag.FlagSet, prefix string, args []string, getenv func(string) string) error {
	if err := pconfig.Parse(fs, prefix, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return nil
}
