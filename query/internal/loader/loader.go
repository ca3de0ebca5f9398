// Package loader copies the raw and enriched topics into ClickHouse. It reads
// committed records only, inserts them in batches, and commits the consumer
// offsets only after ClickHouse accepted the batch. While ClickHouse is down
// it stops fetching and retries the same batch with backoff: nothing is
// dropped, and a batch inserted twice (a crash between insert and commit, a
// rebalance) collapses in the ReplacingMergeTree table.
package loader

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
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
	BatchRows   int
	BatchLinger time.Duration
	// CatchUpRows lets a full batch take more records, up to this many,
	// when they are already fetched (a loader catching up): fewer, larger
	// inserts, so fewer parts for ClickHouse to merge while it is behind.
	// Batches of a loader keeping up still close at BatchRows. Equal to
	// BatchRows, it is off.
	CatchUpRows    int
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	SessionTimeout time.Duration
	// FetchMaxBytes bounds one fetch (kafka.FetchMaxBytes): what the loader
	// buffers while it catches up. 0 keeps the Kafka client's default.
	FetchMaxBytes int
}

// DefaultConfig suits one loader on a small cluster.
func DefaultConfig() Config {
	return Config{
		Brokers:        []string{"127.0.0.1:9092"},
		RawTopic:       "events.raw",
		EnrichedTopic:  "events.enriched",
		Group:          "event-target-loader",
		BatchRows:      10_000,
		CatchUpRows:    25_000,
		BatchLinger:    500 * time.Millisecond,
		InitialBackoff: 200 * time.Millisecond,
		MaxBackoff:     10 * time.Second,
		SessionTimeout: 10 * time.Second,
		FetchMaxBytes:  kafka.DefaultFetchMaxBytes,
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
	case c.CatchUpRows < c.BatchRows:
		return fmt.Errorf("-catch-up-rows %d: want at least -batch-rows (%d)", c.CatchUpRows, c.BatchRows)
	case c.BatchLinger <= 0:
		return fmt.Errorf("-batch-linger %v: want more than 0", c.BatchLinger)
	case c.InitialBackoff <= 0 || c.MaxBackoff < c.InitialBackoff:
		return fmt.Errorf("-initial-backoff %v, -max-backoff %v: want 0 < initial ≤ max", c.InitialBackoff, c.MaxBackoff)
	case c.SessionTimeout < time.Second:
		return fmt.Errorf("-session-timeout %v: want at least 1s", c.SessionTimeout)
	}
	return kafka.ValidateFetchMaxBytes(c.FetchMaxBytes)
}

// Inserter is where batches go (the store, in production).
type Inserter interface {
	Insert(ctx context.Context, rows []store.Row) error
}

// Stats counts what the loader did.
type Stats struct {
	Rows, Batches, Skipped, Retries atomic.Int64
	// Superseded counts rows not inserted because a newer version of the
	// same event was in the same batch.
	Superseded atomic.Int64
}

// Loader runs the copy loop.
type Loader struct {
	cfg  Config
	cl   *kgo.Client
	dest Inserter
	log  *slog.Logger
	// rebalanceWanted is set when a rebalance waits for Run to release the
	// records it holds (kgo.OnPartitionsCallbackBlocked).
	rebalanceWanted atomic.Bool
	// Stats is safe to read while Run runs.
	Stats Stats
}

// New connects the consumer.
func New(cfg Config, dest Inserter, log *slog.Logger) (*Loader, error) {
	l := &Loader{cfg: cfg, dest: dest, log: log}
	opts := []kgo.Opt{
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
		// Run may hold records across two batches (see Run): this tells
		// it that a rebalance waits for them.
		kgo.OnPartitionsCallbackBlocked(func(context.Context, *kgo.Client) { l.rebalanceWanted.Store(true) }),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kafka.Logger(log),
	}
	cl, err := kgo.NewClient(append(opts, kafka.FetchMaxBytes(cfg.FetchMaxBytes)...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka consumer: %w", err)
	}
	l.cl = cl
	return l, nil
}

// Client is the consumer's client (readiness checks).
func (l *Loader) Client() *kgo.Client { return l.cl }

// Run loads until ctx is done. A batch being inserted when ctx ends is
// abandoned uncommitted; it is read again on restart.
//
// Batches are pipelined, one deep: while ClickHouse inserts one batch, the
// next is fetched and decoded. ClickHouse is another process, so the two
// run in parallel; done one after the other, the loader's decoding and
// ClickHouse's insert each waited for the other, and their sum set the
// batch rate. Every batch is still committed only after its insert
// succeeded, and in order: a batch is committed before the next one's
// insert starts.
//
// Rebalances stay blocked while Run holds polled records (see
// BlockRebalanceOnPoll in New), which with the pipeline can be for more
// than one batch. When a rebalance is waiting (rebalanceWanted), Run drains
// the pipeline first: it finishes and commits the batch in flight and lets
// the rebalance go ahead before it polls again.
func (l *Loader) Run(ctx context.Context) error {
	var prev *flight // the batch being inserted, or nil
	defer func() {
		if prev != nil {
			<-prev.done // it ends with ctx; its records stay uncommitted
		}
		l.allowRebalance()
	}()
	for {
		if prev != nil && l.rebalanceWanted.Load() {
			err := l.finish(ctx, prev)
			prev = nil
			if err != nil || ctx.Err() != nil {
				return err
			}
			l.allowRebalance()
		}
		var inserted <-chan struct{}
		if prev != nil {
			inserted = prev.done
		}
		recs, err := l.collect(ctx, inserted)
		if err != nil || ctx.Err() != nil {
			return err
		}
		rows := l.toRows(recs) // while prev is being inserted
		if prev != nil {
			err := l.finish(ctx, prev)
			prev = nil
			if err != nil || ctx.Err() != nil {
				return err
			}
		}
		if len(recs) == 0 {
			// The insert in flight ended before a record arrived: nothing
			// is held now.
			l.allowRebalance()
			continue
		}
		prev = l.start(ctx, recs, rows)
	}
}

// flight is a batch whose insert runs in its own goroutine.
type flight struct {
	recs []*kgo.Record
	rows int
	done chan struct{} // closed once err is set
	err  error
}

// start inserts rows in the background; finish waits for that and commits.
func (l *Loader) start(ctx context.Context, recs []*kgo.Record, rows []store.Row) *flight {
	f := &flight{recs: recs, rows: len(rows), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		f.err = l.insert(ctx, rows)
	}()
	return f
}

// finish waits for the batch's insert, then commits its offsets. The insert
// fails only when ctx ends (it retries until then); the records are then
// left uncommitted, to be read again, and finish returns nil.
func (l *Loader) finish(ctx context.Context, f *flight) error {
	<-f.done
	if f.err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return f.err
	}
	if err := l.cl.CommitRecords(context.WithoutCancel(ctx), f.recs...); err != nil {
		// The rows are in ClickHouse; a failed commit only means they
		// will be inserted again, and deduplicated.
		l.log.Warn("offset commit failed; batch will be re-read", "records", len(f.recs), "error", err)
	}
	l.Stats.Batches.Add(1)
	l.Stats.Rows.Add(int64(f.rows))
	return nil
}

// allowRebalance lets a waiting rebalance run; call it only while holding
// no polled records. The flag is cleared first, so that a signal arriving
// during the call is kept rather than lost.
func (l *Loader) allowRebalance() {
	l.rebalanceWanted.Store(false)
	l.cl.AllowRebalance()
}

// collect polls until the batch is full or BatchLinger has passed since its
// first record. While the previous batch is being inserted (inserted is
// closed when that ends), it also returns, empty, when that insert ends
// before any record arrived: the batch is then committed at once rather
// than when records come.
func (l *Loader) collect(ctx context.Context, inserted <-chan struct{}) ([]*kgo.Record, error) {
	var recs []*kgo.Record
	pollCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	// firstCtx bounds the polls made while recs is empty.
	firstCtx := pollCtx
	if inserted != nil {
		var cancelFirst context.CancelFunc
		firstCtx, cancelFirst = context.WithCancel(pollCtx)
		defer cancelFirst()
		go func() {
			select {
			case <-inserted:
				cancelFirst()
			case <-firstCtx.Done():
			}
		}()
	}
	for len(recs) < l.cfg.BatchRows {
		pc := pollCtx
		if len(recs) == 0 {
			pc = firstCtx
		}
		fs := l.cl.PollRecords(pc, l.cfg.BatchRows-len(recs))
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
			if inserted != nil {
				if firstCtx.Err() != nil {
					return nil, nil // the insert in flight ended: commit it first
				}
				continue // still holding that batch: no rebalance now
			}
			// Holding nothing: let a pending rebalance (a rejoin after a
			// broker restart, say) go ahead before polling again, or it
			// would wait for us while we wait for records.
			l.allowRebalance()
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
	// A full batch takes what is already fetched too, up to CatchUpRows,
	// without waiting: those records would otherwise make the next batches
	// at once. Only this loop takes buffered records, so the polls return
	// at once.
	for len(recs) >= l.cfg.BatchRows && len(recs) < l.cfg.CatchUpRows && l.cl.BufferedFetchRecords() > 0 {
		got := l.cl.PollRecords(ctx, l.cfg.CatchUpRows-len(recs)).Records()
		if len(got) == 0 {
			break
		}
		recs = append(recs, got...)
	}
	return recs, nil
}

// toRows decodes records; a record that is not an envelope is skipped (the
// enricher dead-letters raw ones; nothing else writes these topics).
func (l *Loader) toRows(recs []*kgo.Record) []store.Row {
	rows := make([]store.Row, 0, len(recs))
	at := make(map[uuid.UUID]int, len(recs)) // event id → its row in rows
	// Keep one row per event, its newest version: the table keeps only that
	// one anyway (ReplacingMergeTree(version); of equal versions the last
	// inserted), and under load an event's raw and enriched records mostly
	// arrive in the same batch, so ClickHouse is spared up to half the rows.
	keep := func(row store.Row) {
		if i, seen := at[row.ID]; seen {
			l.Stats.Superseded.Add(1)
			if row.Version >= rows[i].Version {
				rows[i] = row
			}
			return
		}
		at[row.ID] = len(rows)
		rows = append(rows, row)
	}
	// Enriched records first, so that a raw record whose event already has
	// an enriched row (version 1 or more, above the raw 0) need not be
	// decoded at all: decoding is most of the loader's work.
	raws := make([]*kgo.Record, 0, len(recs))
	for _, r := range recs {
		switch r.Topic {
		case l.cfg.EnrichedTopic:
			e, err := event.DecodeEnriched(r.Value)
			if err != nil {
				l.skip(r, err)
				continue
			}
			keep(store.EnrichedRow(&e))
		case l.cfg.RawTopic:
			raws = append(raws, r)
		}
	}
	for _, r := range raws {
		if supersededRaw(r, at, rows) {
			l.Stats.Superseded.Add(1)
			continue
		}
		e, err := event.DecodeRaw(r.Value)
		if err != nil {
			l.skip(r, err)
			continue
		}
		keep(store.RawRow(&e))
	}
	return rows
}

// supersededRaw tells, without decoding it, whether raw record r is of an
// event that has a newer row in rows already. Ingest keys each raw record by
// its event's id; the id field in the value is checked too, so a record
// keyed otherwise is decoded as usual.
func supersededRaw(r *kgo.Record, at map[uuid.UUID]int, rows []store.Row) bool {
	if len(r.Key) != 36 {
		return false
	}
	id, err := uuid.ParseBytes(r.Key)
	if err != nil {
		return false
	}
	i, seen := at[id]
	if !seen || rows[i].Version == 0 {
		return false
	}
	var field [len(`"id":""`) + 36]byte
	n := copy(field[:], `"id":"`)
	n += copy(field[n:], r.Key)
	field[n] = '"'
	return bytes.Contains(r.Value, field[:])
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
