// Package processor is the enricher's consume-transform-produce loop. Each
// polled batch of raw records becomes one Kafka transaction holding the
// enriched records, the dead letters, and the consumer group's offsets, so a
// raw event yields exactly one committed enriched event per enrichment
// version, across crashes and rebalances (franz-go's GroupTransactSession).
package processor

import (
	"context"

	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventtarget/eventtarget/platform/kafka"
	"github.com/eventtarget/eventtarget/schemas/event"
)

// Config is the loop's Kafka configuration.
type Config struct {
	Brokers         []string
	RawTopic        string
	Topics          Topics
	Group           string
	TransactionalID string
	// InstanceID makes the member static: a restarted enricher takes its
	// partitions back at once instead of waiting out the session timeout.
	InstanceID         string
	EnrichmentVersion  uint32
	MaxBatch           int
	TransactionTimeout time.Duration
	SessionTimeout     time.Duration
	// StartOffset is where a group without committed offsets starts.
	StartOffset kgo.Offset
	// FetchMaxBytes bounds one fetch (kafka.FetchMaxBytes): what the
	// enricher buffers while it catches up. 0 keeps the client's default.
	FetchMaxBytes int
}

// Stats counts what the loop did; safe to read while it runs.
type Stats struct {
	Consumed, Enriched, DeadLettered, Aborted atomic.Int64
	BySource                                  [5]atomic.Int64 // indexed by sourceIndex
}

var sources = []event.GeoSource{event.GeoSourceAPI, event.GeoSourceMMDB, event.GeoSourceCache, event.GeoSourcePrivate, event.GeoSourceNone}

func sourceIndex(s event.GeoSource) int {
	for i, x := range sources {
		if x == s {
			return i
		}
	}
	return len(sources) - 1
}

// LogValue summarises the stats for a log line.
func (s *Stats) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.Int64("consumed", s.Consumed.Load()), slog.Int64("enriched", s.Enriched.Load()),
		slog.Int64("dead_lettered", s.DeadLettered.Load()), slog.Int64("aborted_batches", s.Aborted.Load()),
	}
	for i, src := range sources {
		attrs = append(attrs, slog.Int64("source_"+string(src), s.BySource[i].Load()))
	}
	return slog.GroupValue(attrs...)
}

// Processor runs the loop.
type Processor struct {
	cfg Config
	// sess is replaced when it fails (see restart); readiness checks read
	// it from other goroutines.
	sess    atomic.Pointer[kgo.GroupTransactSession]
	opts    []kgo.Opt
	resolve Resolver
	log     *slog.Logger
	// Keep, if set, filters raw events before enrichment (replay).
	Keep Keep
	// OnCommit, if set, is called after each committed transaction with its
	// outcomes, one per input record (replay builds its report from them).
	OnCommit func([]Outcome)
	Stats    Stats
}

// New connects the transactional session. extra options are appended (replay
// uses them to bound what it reads).
func New(cfg Config, resolve Resolver, log *slog.Logger, extra ...kgo.Opt) (*Processor, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("event-target-enricher"),
		kgo.TransactionalID(cfg.TransactionalID),
		kgo.TransactionTimeout(cfg.TransactionTimeout),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.RawTopic),
		kgo.ConsumeResetOffset(cfg.StartOffset),
		kgo.SessionTimeout(cfg.SessionTimeout),
		// Only committed raw records, and offsets that no open transaction
		// is about to move (KIP-447).
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		// End flushes the transaction at once; linger only helps batching
		// while records are produced.
		kgo.ProducerLinger(50 * time.Millisecond),
		kgo.ProducerBatchCompression(kgo.Lz4Compression()),
		kafka.Logger(log),
	}
	if cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(cfg.InstanceID))
	}
	opts = append(opts, kafka.FetchMaxBytes(cfg.FetchMaxBytes)...)
	opts = append(opts, extra...)
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka transactional session: %w", err)
	}
	p := &Processor{cfg: cfg, opts: opts, resolve: resolve, log: log}
	p.sess.Store(sess)
	return p, nil
}

// Client is the session's client, for admin calls and readiness checks.
func (p *Processor) Client() *kgo.Client { return p.sess.Load().Client() }

// Run processes batches until ctx is done. A batch in progress when ctx
// ends is finished if its lookups complete within grace, and aborted
// otherwise (the next run re-reads it). A failed transaction session (the
// broker gone too long) is replaced after a wait (see restart); Run returns
// an error only when a new session cannot be made, or when the last
// transaction could not be ended at shutdown.
func (p *Processor) Run(ctx context.Context, grace time.Duration) error {
	wait := minRestartWait
	for {
		fetches := p.sess.Load().PollRecords(ctx, p.cfg.MaxBatch)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			return nil
		}
		fetches.EachError(func(topic string, part int32, err error) {
			p.log.Warn("fetch error", "topic", topic, "partition", part, "error", err)
		})
		recs := fetches.Records()
		if len(recs) == 0 {
			continue
		}
		err := p.processBatch(ctx, recs, grace)
		switch {
		case err == nil:
			wait = minRestartWait
		case ctx.Err() != nil:
			return err
		default:
			if err := p.restart(ctx, err, wait); err != nil {
				return err
			}
			wait = min(2*wait, maxRestartWait)
		}
	}
}

// The waits before a new session after a failed one: doubling from the
// first to the last while failures follow one another.
const (
	minRestartWait = time.Second
	maxRestartWait = 30 * time.Second
)

// restart replaces a failed session. franz-go's word on a failed Begin or
// End is that the session should not go on (a broker gone for longer than
// the client's retries, say), and a process supervisor would restart the
// enricher; doing it here spares the restart and the database load. The new
// session has the same transactional id, so the broker fences the old one
// and aborts its open transaction; it rejoins the group and reads from the
// committed offsets, so the failed batch is read again: nothing lost, and
// nothing doubled in what read_committed consumers see.
func (p *Processor) restart(ctx context.Context, cause error, wait time.Duration) error {
	p.log.Warn("kafka transactional session failed; starting a new one", "error", cause, "after", wait.String())
	p.sess.Load().Close()
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(wait):
	}
	sess, err := kgo.NewGroupTransactSession(p.opts...)
	if err != nil {
		return fmt.Errorf("kafka transactional session: %w", err)
	}
	p.sess.Store(sess)
	return nil
}

func (p *Processor) processBatch(ctx context.Context, recs []*kgo.Record, grace time.Duration) error {
	sess := p.sess.Load()
	if err := sess.Begin(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	// Lookups outlive a shutdown request by at most grace; the transaction
	// end gets its own deadline, because a cancelled End leaves the
	// transactional producer in an unknown state.
	work, cancel := contextAfter(ctx, grace)
	defer cancel()
	outcomes := Transform(work, recs, p.resolve, p.cfg.Topics, p.cfg.EnrichmentVersion, time.Now(), p.Keep)

	endCtx, endCancel := context.WithTimeout(context.Background(), p.cfg.TransactionTimeout)
	defer endCancel()
	promise := kgo.AbortingFirstErrPromise(sess.Client())
	for _, o := range outcomes {
		if o.Record != nil {
			sess.Produce(endCtx, o.Record, promise.Promise())
		}
	}
	// Flush sends now rather than after the linger; Err waits for every ack.
	flushErr := sess.Client().Flush(endCtx)
	commit := flushErr == nil && promise.Err() == nil && work.Err() == nil
	committed, err := sess.End(endCtx, kgo.TransactionEndTry(commit))
	if err != nil {
		return fmt.Errorf("end transaction: %w", err)
	}
	if !committed {
		// The session rewound to the committed offsets: the batch is read
		// again, so nothing is lost and nothing was made visible.
		p.Stats.Aborted.Add(1)
		p.log.Warn("transaction aborted; batch will be retried", "records", len(recs),
			"produce_error", errString(promise.Err()), "interrupted", work.Err() != nil)
		return nil
	}
	p.Stats.Consumed.Add(int64(len(recs)))
	for _, o := range outcomes {
		switch {
		case o.Record == nil:
			continue
		case o.Enriched == nil:
			p.Stats.DeadLettered.Add(1)
			p.log.Warn("record dead-lettered", "topic", o.Input.Topic, "partition", o.Input.Partition,
				"offset", o.Input.Offset, "reason", headerValue(o.Record, HeaderDLQReason))
			continue
		}
		p.Stats.Enriched.Add(1)
		p.Stats.BySource[sourceIndex(o.Enriched.GeoSource)].Add(1)
	}
	if p.OnCommit != nil {
		p.OnCommit(outcomes)
	}
	return nil
}

// Close leaves the group and closes the client. An open transaction (none,
// between batches) would be aborted by the broker after its timeout.
func (p *Processor) Close() { p.sess.Load().Close() }

// contextAfter returns a context that ends grace after parent ends.
func contextAfter(parent context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	stop := context.AfterFunc(parent, func() {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-ctx.Done():
		}
	})
	return ctx, func() { stop(); cancel() }
}

func headerValue(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
