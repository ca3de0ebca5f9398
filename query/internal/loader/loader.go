// Package loader copies the raw and enriched topics into ClickHouse. It reads
// committed records only, inserts them in batches, and commits the consumer
// offsets only after ClickHouse accepted the batch. While ClickHouse is down
// it stops fetching and retries the same batch with backoff: nothing is
// dropped, and a batch inserted twice (a crash between insert and commit, a
// rebalance) collapses in the ReplacingMergeTree table.
package loader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/sethvargo/go-retry"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventtarget/eventtarget/platform/kafka"
	"github.com/eventtarget/eventtarget/query/internal/store"
	"github.com/eventtarget/eventtarget/schemas/event"
)

// Config is the loader's configuration.
type Config struct {
	Brokers       []string
	RawTopic      string
	EnrichedTopic string
	Group         string
	// BatchRows and BatchLinger bound a batch: it is inserted when it holds
	// BatchRows rows or its first row waited BatchLinger.
	BatchRows      int
	BatchLinger    time.Duration
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	SessionTimeout time.Duration
}

// DefaultConfig suits one loader on a small cluster.
func DefaultConfig() Config {
	return Config{
		Brokers:        []string{"127.0.0.1:9092"},
		RawTopic:       "events.raw",
		EnrichedTopic:  "events.enriched",
		Group:          "event-target-loader",
		BatchRows:      10_000,
		BatchLinger:    500 * time.Millisecond,
		InitialBackoff: 200 * time.Millisecond,
		MaxBackoff:     10 * time.Second,
		SessionTimeout: 10 * time.Second,
	}
}

// Validate names the bad setting by its flag.
func (c Config) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("-kafka-brokers: want at least one host:port")
	case c.RawTopic == "" || c.EnrichedTopic == "" || c.RawTopic == c.EnrichedTopic:
		return errors.New("-raw-topic, -enriched-topic: want two different topics")
	case c.Group == "":
		return errors.New("-group: must not be empty")
	case c.BatchRows < 1:
		return fmt.Errorf("-batch-rows %d: want at least 1", c.BatchRows)
	case c.BatchLinger <= 0:
		return fmt.Errorf("-batch-linger %v: want more than 0", c.BatchLinger)
	case c.InitialBackoff <= 0 || c.MaxBackoff < c.InitialBackoff:
		return fmt.Errorf("-initial-backoff %v, -max-backoff %v: want 0 < initial ≤ max", c.InitialBackoff, c.MaxBackoff)
	case c.SessionTimeout < time.Second:
		return fmt.Errorf("-session-timeout %v: want at least 1s", c.SessionTimeout)
	}
	return nil
}

// Inserter is where batches go (the store, in production).
type Inserter interface {
	Insert(ctx context.Context, rows []store.Row) error
}

// Stats counts what the loader did.
type Stats struct {
	Rows, Batches, Skipped, Retries atomic.Int64
}

// Loader runs the copy loop.
type Loader struct {
	cfg  Config
	cl   *kgo.Client
	dest Inserter
	log  *slog.Logger
	// Stats is safe to read while Run runs.
	Stats Stats
}

// New connects the consumer.
func New(cfg Config, dest Inserter, log *slog.Logger) (*Loader, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("event-target-loader"),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.RawTopic, cfg.EnrichedTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DisableAutoCommit(),
		// Hold rebalances while a batch is between poll and commit, so its
		// partitions are not handed over with work in flight.
		kgo.BlockRebalanceOnPoll(),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kafka.Logger(log),
	)
	if err != nil {
		return nil, fmt.Errorf("kafka consumer: %w", err)
	}
	return &Loader{cfg: cfg, cl: cl, dest: dest, log: log}, nil
}

// Client is the consumer's client (readiness checks).
func (l *Loader) Client() *kgo.Client { return l.cl }

// Run loads until ctx is done. A batch being inserted when ctx ends is
// abandoned uncommitted; it is read again on restart.
func (l *Loader) Run(ctx context.Context) error {
	for {
		recs, err := l.collect(ctx)
		if err != nil || ctx.Err() != nil {
			l.cl.AllowRebalance()
			return err
		}
		if len(recs) == 0 {
			l.cl.AllowRebalance()
			continue
		}
		rows := l.toRows(recs)
		if err := l.insert(ctx, rows); err != nil {
			l.cl.AllowRebalance()
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err := l.cl.CommitRecords(context.WithoutCancel(ctx), recs...); err != nil {
			// The rows are in ClickHouse; a failed commit only means they
			// will be inserted again, and deduplicated.
			l.log.Warn("offset commit failed; batch will be re-read", "records", len(recs), "error", err)
		}
		l.cl.AllowRebalance()
		l.Stats.Batches.Add(1)
		l.Stats.Rows.Add(int64(len(rows)))
	}
}

// collect polls until the batch is full or BatchLinger has passed since its
// first record.
func (l *Loader) collect(ctx context.Context) ([]*kgo.Record, error) {
	var recs []*kgo.Record
	pollCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	for len(recs) < l.cfg.BatchRows {
		fs := l.cl.PollRecords(pollCtx, l.cfg.BatchRows-len(recs))
		if fs.IsClientClosed() || ctx.Err() != nil {
			return nil, nil
		}
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				l.log.Warn("fetch error", "topic", t, "partition", p, "error", err)
			}
		})
		got := fs.Records()
		if len(got) == 0 && len(recs) == 0 {
			// Holding nothing: let a pending rebalance (a rejoin after a
			// broker restart, say) go ahead before polling again, or it
			// would wait for us while we wait for records.
			l.cl.AllowRebalance()
			continue
		}
		if len(got) > 0 && len(recs) == 0 {
			linger := time.AfterFunc(l.cfg.BatchLinger, cancel)
			defer linger.Stop()
		}
		recs = append(recs, got...)
		if len(recs) > 0 && pollCtx.Err() != nil {
			break
		}
	}
	return recs, nil
}

// toRows decodes records; a record that is not an envelope is skipped (the
// enricher dead-letters raw ones; nothing else writes these topics).
func (l *Loader) toRows(recs []*kgo.Record) []store.Row {
	rows := make([]store.Row, 0, len(recs))
	for _, r := range recs {
		switch r.Topic {
		case l.cfg.RawTopic:
			e, err := event.DecodeRaw(r.Value)
			if err != nil {
				l.skip(r, err)
				continue
			}
			rows = append(rows, store.RawRow(&e))
		case l.cfg.EnrichedTopic:
			e, err := event.DecodeEnriched(r.Value)
			if err != nil {
				l.skip(r, err)
				continue
			}
			rows = append(rows, store.EnrichedRow(&e))
		}
	}
	return rows
}

func (l *Loader) skip(r *kgo.Record, err error) {
	l.Stats.Skipped.Add(1)
	l.log.Warn("record skipped: not an envelope", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "error", err)
}

// insert retries the batch with capped exponential backoff until ClickHouse
// takes it or ctx ends: during an outage the loader waits here, fetching
// nothing, and Kafka holds the backlog.
func (l *Loader) insert(ctx context.Context, rows []store.Row) error {
	if len(rows) == 0 {
		return nil
	}
	backoff := retry.WithCappedDuration(l.cfg.MaxBackoff, retry.WithJitterPercent(20, retry.NewExponential(l.cfg.InitialBackoff)))
	attempt := 0
	return retry.Do(ctx, backoff, func(ctx context.Context) error {
		attempt++
		ictx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		if err := l.dest.Insert(ictx, rows); err != nil {
			l.Stats.Retries.Add(1)
			if attempt == 1 || attempt%10 == 0 {
				l.log.Warn("insert failed, retrying", "rows", len(rows), "attempt", attempt, "error", err)
			}
			return retry.RetryableError(err)
		}
		if attempt > 1 {
			l.log.Info("insert succeeded after retries", "rows", len(rows), "attempts", attempt)
		}
		return nil
	})
}

// Close leaves the group and closes the client.
func (l *Loader) Close() { l.cl.Close() }
