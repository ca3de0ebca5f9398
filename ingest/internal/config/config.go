// Package config holds the ingest service's settings: defaults, flags and
// environment variables (prefix INGEST_), and validation before anything starts.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/eventtarget/eventtarget/ingest/internal/intake"
	"github.com/eventtarget/eventtarget/ingest/internal/publish"
	pconfig "github.com/eventtarget/eventtarget/platform/config"
	"github.com/eventtarget/eventtarget/platform/logging"
)

// EnvPrefix prefixes every environment variable of the service.
const EnvPrefix = "INGEST"

// Config is everything the ingest service can be told.
type Config struct {
	ListenAddr string
	Kafka      publish.Config
	Limits     intake.Limits
	// TrustedProxies are the peers whose X-Forwarded-For / X-Real-IP headers
	// are believed. Anyone else's headers are ignored.
	TrustedProxies  []netip.Prefix
	RetryAfter      time.Duration
	StartupTimeout  time.Duration
	ShutdownTimeout time.Duration
	// PprofAddr, when set, serves net/http/pprof on its own listener (keep it
	// private: it exposes internals).
	PprofAddr string
	Log       logging.Config
}

// DefaultTrustedProxies are loopback and the private ranges: the usual places
// for a load balancer or sidecar in front of ingest.
var DefaultTrustedProxies = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("fc00::/7"),
}

// Default is the configuration of a fresh install.
func Default() Config {
	return Config{
		ListenAddr:      ":8001",
		Kafka:           publish.DefaultConfig(),
		Limits:          intake.DefaultLimits(),
		TrustedProxies:  DefaultTrustedProxies,
		RetryAfter:      time.Second,
		StartupTimeout:  2 * time.Minute,
		ShutdownTimeout: 20 * time.Second,
		Log:             logging.Default(),
	}
}

// Validate names the first bad setting by its flag.
func (c Config) Validate() error {
	if c.ListenAddr == "" {
		return errors.New("-listen-addr: must not be empty")
	}
	if err := c.Kafka.Validate(); err != nil {
		return fmt.Errorf("kafka settings: %w", err)
	}
	if err := c.Limits.Validate(); err != nil {
		return fmt.Errorf("limits: %w", err)
	}
	switch {
	case c.RetryAfter < time.Second:
		return fmt.Errorf("-retry-after %v: want at least 1s (Retry-After counts whole seconds)", c.RetryAfter)
	case c.StartupTimeout <= 0:
		return fmt.Errorf("-startup-timeout %v: want more than 0", c.StartupTimeout)
	case c.ShutdownTimeout <= 0:
		return fmt.Errorf("-shutdown-timeout %v: want more than 0", c.ShutdownTimeout)
	}
	return c.Log.Validate()
}

// Load reads the configuration from args and the environment and validates it.
func Load(args []string, getenv func(string) string, usage io.Writer) (Config, error) {
	c := Default()
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	fs.SetOutput(usage)
	c.register(fs)
	if err := pconfig.Parse(fs, EnvPrefix, args, getenv); err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("invalid configuration: %w", err)
	}
	return c, nil
}

func (c *Config) register(fs *flag.FlagSet) {
	fs.StringVar(&c.ListenAddr, "listen-addr", c.ListenAddr, "HTTP listen address")
	brokers := (*pconfig.StringList)(&c.Kafka.Brokers)
	fs.Var(brokers, "kafka-brokers", "comma-separated Kafka seed brokers")
	fs.StringVar(&c.Kafka.Topic, "raw-topic", c.Kafka.Topic, "topic raw events are appended to")
	fs.IntVar(&c.Kafka.Partitions, "raw-topic-partitions", c.Kafka.Partitions, "partitions when creating the raw topic")
	fs.IntVar(&c.Kafka.ReplicationFactor, "raw-topic-replication-factor", c.Kafka.ReplicationFactor, "replication factor when creating the raw topic (-1: broker default)")
	fs.DurationVar(&c.Kafka.Linger, "producer-linger", c.Kafka.Linger, "producer linger; adds to every request's latency")
	fs.IntVar(&c.Kafka.MaxBufferedRecords, "producer-max-buffered", c.Kafka.MaxBufferedRecords, "records awaiting ack before requests are refused with 503")
	fs.StringVar(&c.Kafka.Compression, "producer-compression", c.Kafka.Compression, "batch compression: none, gzip, snappy, lz4, zstd")
	fs.DurationVar(&c.Kafka.Timeout, "produce-timeout", c.Kafka.Timeout, "longest a request waits for the broker's ack before 503")
	fs.Int64Var(&c.Limits.MaxBodyBytes, "max-body-bytes", c.Limits.MaxBodyBytes, "largest single-event body, after decompression")
	fs.Int64Var(&c.Limits.MaxBatchBytes, "max-batch-bytes", c.Limits.MaxBatchBytes, "largest batch body, after decompression")
	fs.IntVar(&c.Limits.MaxBatchEvents, "max-batch-events", c.Limits.MaxBatchEvents, "most events in one batch")
	fs.IntVar(&c.Limits.MaxNameLength, "max-name-length", c.Limits.MaxNameLength, "longest event name, in characters")
	fs.IntVar(&c.Limits.MaxDataDepth, "max-data-depth", c.Limits.MaxDataDepth, "deepest nesting of arrays/objects in data")
	fs.IntVar(&c.Limits.MaxUserAgentBytes, "max-user-agent-bytes", c.Limits.MaxUserAgentBytes, "User-Agent headers are truncated to this many bytes")
	fs.Var((*pconfig.PrefixList)(&c.TrustedProxies), "trusted-proxies", "comma-separated CIDRs whose X-Forwarded-For/X-Real-IP are believed, or none")
	fs.DurationVar(&c.RetryAfter, "retry-after", c.RetryAfter, "Retry-After advertised with 503 answers")
	fs.DurationVar(&c.StartupTimeout, "startup-timeout", c.StartupTimeout, "how long to wait for Kafka at start-up")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "grace period for in-flight requests and the producer flush")
	fs.StringVar(&c.PprofAddr, "pprof-addr", c.PprofAddr, "address of a private net/http/pprof listener (empty: off)")
	fs.StringVar(&c.Log.Format, "log-format", c.Log.Format, "log format: json or text")
	fs.StringVar(&c.Log.Level, "log-level", c.Log.Level, "log level: debug, info, warn, error")
}
