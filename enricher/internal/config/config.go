// Package config holds the enricher's settings: defaults, flags and
// environment variables (prefix ENRICHER_), validated before anything starts.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/eventtarget/eventtarget/enricher/internal/geo/mmdb"
	"github.com/eventtarget/eventtarget/enricher/internal/geo/remote"
	pconfig "github.com/eventtarget/eventtarget/platform/config"
	"github.com/eventtarget/eventtarget/platform/kafka"
	"github.com/eventtarget/eventtarget/platform/logging"
)

// EnvPrefix prefixes every environment variable of the service.
const EnvPrefix = "ENRICHER"

// APINone turns the remote API off: the local database answers alone.
const APINone = "none"

// Config is everything the enricher can be told.
type Config struct {
	HealthAddr string
	// PprofAddr, when set, serves net/http/pprof on its own listener (keep
	// it private).
	PprofAddr string

	Brokers           []string
	RawTopic          string
	EnrichedTopic     string
	DLQTopic          string
	TopicPartitions   int
	ReplicationFactor int

	Group              string
	TransactionalID    string
	InstanceID         string
	EnrichmentVersion  uint
	MaxBatch           int
	TransactionTimeout time.Duration
	SessionTimeout     time.Duration
	FetchMaxBytes      int // one Kafka fetch's bound: what is buffered while catching up

	CacheSize int
	CacheTTL  time.Duration

	// GCPercent is the Go collector's GOGC for the enricher (the GOGC
	// environment variable, when set, wins). The local databases are one
	// large block without pointers, held in memory: the collector need not
	// scan it, but at the default 100 it lets garbage grow as large as it
	// before collecting, which doubles the memory for nothing.
	GCPercent int

	APIFormat string // remote.FormatIPAPI, remote.FormatGeoIPAPI or APINone
	Remote    remote.Config
	MMDB      mmdb.Config

	StartupTimeout  time.Duration
	ShutdownTimeout time.Duration
	Log             logging.Config
}

// Default is the configuration of a fresh install.
func Default() Config {
	host, _ := os.Hostname()
	if host == "" {
		host = "local"
	}
	r := remote.DefaultConfig()
	return Config{
		HealthAddr:         ":8003",
		Brokers:            []string{"127.0.0.1:9092"},
		RawTopic:           "events.raw",
		EnrichedTopic:      "events.enriched",
		DLQTopic:           "events.dlq",
		TopicPartitions:    6,
		ReplicationFactor:  -1,
		Group:              "event-target-enricher",
		TransactionalID:    "event-target-enricher-" + host,
		InstanceID:         host,
		EnrichmentVersion:  1,
		MaxBatch:           1000,
		TransactionTimeout: 2 * time.Minute,
		SessionTimeout:     10 * time.Second,
		FetchMaxBytes:      kafka.DefaultFetchMaxBytes,
		CacheSize:          100_000,
		CacheTTL:           24 * time.Hour,
		GCPercent:          25,
		APIFormat:          r.Format,
		Remote:             r,
		MMDB:               mmdb.DefaultConfig(),
		StartupTimeout:     2 * time.Minute,
		ShutdownTimeout:    20 * time.Second,
		Log:                logging.Default(),
	}
}

// Validate names the first bad setting by its flag.
func (c Config) Validate() error {
	switch {
	case c.HealthAddr == "":
		return errors.New("-health-addr: must not be empty")
	case len(c.Brokers) == 0:
		return errors.New("-kafka-brokers: want at least one host:port")
	case c.RawTopic == "" || c.EnrichedTopic == "" || c.DLQTopic == "":
		return errors.New("-raw-topic, -enriched-topic, -dlq-topic: must not be empty")
	case c.RawTopic == c.EnrichedTopic || c.EnrichedTopic == c.DLQTopic || c.RawTopic == c.DLQTopic:
		return errors.New("-raw-topic, -enriched-topic, -dlq-topic: must differ")
	case c.TopicPartitions < 1:
		return fmt.Errorf("-topic-partitions %d: want at least 1", c.TopicPartitions)
	case c.ReplicationFactor == 0 || c.ReplicationFactor < -1:
		return fmt.Errorf("-topic-replication-factor %d: want -1 (broker default) or at least 1", c.ReplicationFactor)
	case c.Group == "":
		return errors.New("-group: must not be empty")
	case c.TransactionalID == "":
		return errors.New("-transactional-id: must not be empty (and unique per running enricher)")
	case c.EnrichmentVersion < 1 || c.EnrichmentVersion > 1<<32-1:
		return fmt.Errorf("-enrichment-version %d: want 1 to 4294967295", c.EnrichmentVersion)
	case c.MaxBatch < 1:
		return fmt.Errorf("-max-batch %d: want at least 1", c.MaxBatch)
	case c.SessionTimeout < time.Second:
		return fmt.Errorf("-session-timeout %v: want at least 1s", c.SessionTimeout)
	case c.CacheSize < 1:
		return fmt.Errorf("-cache-size %d: want at least 1", c.CacheSize)
	case c.GCPercent < 1:
		return fmt.Errorf("-gc-percent %d: want at least 1", c.GCPercent)
	case c.CacheTTL <= 0:
		return fmt.Errorf("-cache-ttl %v: want more than 0", c.CacheTTL)
	case c.StartupTimeout <= 0 || c.ShutdownTimeout <= 0:
		return errors.New("-startup-timeout, -shutdown-timeout: want more than 0")
	}
	if err := kafka.ValidateFetchMaxBytes(c.FetchMaxBytes); err != nil {
		return err
	}
	if c.APIFormat != APINone {
		r := c.Remote
		r.Format = c.APIFormat
		if err := r.Validate(); err != nil {
			return fmt.Errorf("geo API settings (-geo-api-…): %w", err)
		}
		// A batch's lookups run inside its transaction: the transaction
		// must outlive the longest lookup, rate-limit pauses included.
		if need := r.MaxElapsed + r.MaxRateLimitPause + 30*time.Second; c.TransactionTimeout < need {
			return fmt.Errorf("-transaction-timeout %v: want at least %v (geo-api-max-elapsed + geo-api-max-rate-limit-pause + 30s)", c.TransactionTimeout, need)
		}
	}
	if c.TransactionTimeout < 10*time.Second {
		return fmt.Errorf("-transaction-timeout %v: want at least 10s", c.TransactionTimeout)
	}
	if err := c.MMDB.Validate(); err != nil {
		return fmt.Errorf("local database settings (-mmdb-…): %w", err)
	}
	return c.Log.Validate()
}

// Load reads the configuration from args and the environment and validates
// it. register, if set, adds flags of a subcommand to the same set.
func Load(name string, args []string, getenv func(string) string, usage io.Writer, register func(*flag.FlagSet)) (Config, error) {
	c := Default()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(usage)
	c.register(fs)
	if register != nil {
		register(fs)
	}
	if err := pconfig.Parse(fs, EnvPrefix, args, getenv); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.InstanceID == "none" {
		c.InstanceID = ""
	}
	c.Remote.Format = c.APIFormat
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("invalid configuration: %w", err)
	}
	return c, nil
}

func (c *Config) register(fs *flag.FlagSet) {
	fs.StringVar(&c.HealthAddr, "health-addr", c.HealthAddr, "HTTP address of /healthz and /readyz")
	fs.StringVar(&c.PprofAddr, "pprof-addr", c.PprofAddr, "address of a private net/http/pprof listener (empty: off)")
	fs.Var((*pconfig.StringList)(&c.Brokers), "kafka-brokers", "comma-separated Kafka seed brokers")
	fs.StringVar(&c.RawTopic, "raw-topic", c.RawTopic, "topic of raw events (consumed)")
	fs.StringVar(&c.EnrichedTopic, "enriched-topic", c.EnrichedTopic, "topic of enriched events (produced)")
	fs.StringVar(&c.DLQTopic, "dlq-topic", c.DLQTopic, "dead-letter topic for records that are not raw envelopes")
	fs.IntVar(&c.TopicPartitions, "topic-partitions", c.TopicPartitions, "partitions when creating missing topics")
	fs.IntVar(&c.ReplicationFactor, "topic-replication-factor", c.ReplicationFactor, "replication factor when creating topics (-1: broker default)")
	fs.StringVar(&c.Group, "group", c.Group, "consumer group")
	fs.StringVar(&c.TransactionalID, "transactional-id", c.TransactionalID, "Kafka transactional id; unique per running enricher, stable across its restarts")
	fs.StringVar(&c.InstanceID, "instance-id", c.InstanceID, "static group member id (restarts keep their partitions), or none")
	fs.UintVar(&c.EnrichmentVersion, "enrichment-version", c.EnrichmentVersion, "version stamped on enriched events; downstream keeps the highest")
	fs.IntVar(&c.MaxBatch, "max-batch", c.MaxBatch, "most raw records per transaction")
	fs.DurationVar(&c.TransactionTimeout, "transaction-timeout", c.TransactionTimeout, "Kafka transaction timeout")
	fs.DurationVar(&c.SessionTimeout, "session-timeout", c.SessionTimeout, "consumer group session timeout")
	fs.IntVar(&c.FetchMaxBytes, "fetch-max-bytes", c.FetchMaxBytes, "most bytes of one Kafka fetch (what the enricher buffers while catching up)")
	fs.IntVar(&c.CacheSize, "cache-size", c.CacheSize, "addresses kept in the answer cache")
	fs.DurationVar(&c.CacheTTL, "cache-ttl", c.CacheTTL, "how long an API answer is reused")
	fs.IntVar(&c.GCPercent, "gc-percent", c.GCPercent, "the Go collector's GOGC (the GOGC environment variable wins)")
	fs.StringVar(&c.APIFormat, "geo-api", c.APIFormat, "remote API: ip-api, geoip-api or none")
	fs.StringVar(&c.Remote.BaseURL, "geo-api-url", c.Remote.BaseURL, "remote API base URL")
	fs.DurationVar(&c.Remote.Timeout, "geo-api-timeout", c.Remote.Timeout, "timeout of one API request")
	fs.DurationVar(&c.Remote.InitialBackoff, "geo-api-initial-backoff", c.Remote.InitialBackoff, "first retry delay")
	fs.DurationVar(&c.Remote.MaxBackoff, "geo-api-max-backoff", c.Remote.MaxBackoff, "longest retry delay")
	fs.IntVar(&c.Remote.MaxAttempts, "geo-api-max-attempts", c.Remote.MaxAttempts, "requests per lookup before giving up")
	fs.DurationVar(&c.Remote.MaxElapsed, "geo-api-max-elapsed", c.Remote.MaxElapsed, "retry budget of one lookup, pauses included")
	fs.Float64Var(&c.Remote.Jitter, "geo-api-jitter", c.Remote.Jitter, "retry delay jitter, a fraction")
	fs.IntVar(&c.Remote.Concurrency, "geo-api-concurrency", c.Remote.Concurrency, "API requests in flight")
	fs.IntVar(&c.Remote.BatchSize, "geo-api-batch-size", c.Remote.BatchSize, "addresses per ip-api /batch request (max 100)")
	fs.IntVar(&c.Remote.BreakerFailures, "geo-api-breaker-failures", c.Remote.BreakerFailures, "consecutive failed lookups that open the circuit breaker")
	fs.DurationVar(&c.Remote.BreakerOpenDuration, "geo-api-breaker-open", c.Remote.BreakerOpenDuration, "how long the open breaker skips the API")
	fs.DurationVar(&c.Remote.MaxRateLimitPause, "geo-api-max-rate-limit-pause", c.Remote.MaxRateLimitPause, "longest rate-limit pause sat out before using the local database")
	fs.Var((*pconfig.StringList)(&c.MMDB.Paths), "mmdb-paths", "comma-separated .mmdb files (GeoIP2/GeoLite2 City or DB-IP City Lite)")
	fs.DurationVar(&c.MMDB.ReloadInterval, "mmdb-reload-interval", c.MMDB.ReloadInterval, "how often the .mmdb files are checked for changes")
	fs.DurationVar(&c.StartupTimeout, "startup-timeout", c.StartupTimeout, "how long to wait for Kafka at start-up")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "grace for the batch in progress at shutdown")
	fs.StringVar(&c.Log.Format, "log-format", c.Log.Format, "log format: json or text")
	fs.StringVar(&c.Log.Level, "log-level", c.Log.Level, "log level: debug, info, warn, error")
}
