// Package publish appends raw events to the raw Kafka topic and reports, per
// event, whether the broker acknowledged it. A nil error from Publish means
// the record is durable (acks=all, idempotent producer); nothing else does.
package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventtarget/eventtarget/platform/kafka"
	"github.com/eventtarget/eventtarget/schemas/event"
)

// Config is the producer's configuration.
type Config struct {
	Brokers           []string
	Topic             string
	Partitions        int
	ReplicationFactor int
	// Linger is how long the producer waits to fill a batch. Every request
	// waits for its ack, so any linger is added to every request's latency;
	// 0 still batches whatever arrives while a produce request is in flight.
	Linger time.Duration
	// MaxBufferedRecords bounds the records waiting for an ack; beyond it
	// requests are refused at once (503) instead of queueing without limit.
	MaxBufferedRecords int
	Compression        string // none, gzip, snappy, lz4, zstd
	// Timeout bounds how long a request waits for its ack.
	Timeout time.Duration
}

// DefaultConfig suits the local run and a small cluster.
func DefaultConfig() Config {
	return Config{
		Brokers:            []string{"127.0.0.1:9092"},
		Topic:              "events.raw",
		Partitions:         6,
		ReplicationFactor:  -1,
		Linger:             0,
		MaxBufferedRecords: 100_000,
		Compression:        "lz4",
		Timeout:            5 * time.Second,
	}
}

var codecs = map[string]kgo.CompressionCodec{
	"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
	"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
}

// Validate names the bad setting.
func (c Config) Validate() error {
	switch {
	case c.Topic == "":
		return errors.New("raw-topic: must not be empty")
	case c.Partitions < 1:
		return fmt.Errorf("raw-topic-partitions %d: want at least 1", c.Partitions)
	case c.ReplicationFactor == 0 || c.ReplicationFactor < -1:
		return fmt.Errorf("raw-topic-replication-factor %d: want -1 (broker default) or at least 1", c.ReplicationFactor)
	case len(c.Brokers) == 0:
		return errors.New("kafka-brokers: want at least one host:port")
	case c.Linger < 0 || c.Linger > time.Second:
		return fmt.Errorf("producer-linger %v: want between 0 and 1s", c.Linger)
	case c.MaxBufferedRecords < 1:
		return fmt.Errorf("producer-max-buffered %d: want at least 1", c.MaxBufferedRecords)
	case c.Timeout < 100*time.Millisecond:
		return fmt.Errorf("produce-timeout %v: want at least 100ms", c.Timeout)
	}
	if _, ok := codecs[c.Compression]; !ok {
		return fmt.Errorf("producer-compression %q: want none, gzip, snappy, lz4 or zstd", c.Compression)
	}
	return nil
}

// The reasons an event was not acknowledged. All of them are the server's
// problem, not the client's: the client should retry with the same uuid.
var (
	ErrOverloaded  = errors.New("producer buffer is full")
	ErrTimeout     = errors.New("broker did not acknowledge in time")
	ErrUnavailable = errors.New("broker unavailable")
)

// Publisher produces raw events to the raw topic.
type Publisher struct {
	client *kgo.Client
	topic  string
	log    *slog.Logger
}

// New connects a producer. It does not wait for the broker; see EnsureTopic.
func New(cfg Config, log *slog.Logger) (*Publisher, error) {
	client, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("event-target-ingest"),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(cfg.Linger),
		kgo.MaxBufferedRecords(cfg.MaxBufferedRecords),
		kgo.ProducerBatchCompression(codecs[cfg.Compression]),
		// franz-go refuses delivery timeouts under 1s; requests still give
		// up at cfg.Timeout, this only bounds how long a record is retried.
		kgo.RecordDeliveryTimeout(max(cfg.Timeout, time.Second)),
		kafka.Logger(log),
	)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return &Publisher{client: client, topic: cfg.Topic, log: log}, nil
}

// EnsureTopic creates the raw topic if absent, retrying until ctx ends.
func (p *Publisher) EnsureTopic(ctx context.Context, cfg Config) error {
	spec := kafka.TopicSpec{Name: cfg.Topic, Partitions: int32(cfg.Partitions), ReplicationFactor: int16(cfg.ReplicationFactor)}
	return kafka.EnsureTopics(ctx, kadm.NewClient(p.client), p.log, spec)
}

// Ping checks that a broker answers.
func (p *Publisher) Ping(ctx context.Context) error { return p.client.Ping(ctx) }

// Record builds the Kafka record for ev: keyed by id so that every version
// of one event lands on one partition, in order.
func Record(ev *event.RawEvent, value []byte) *kgo.Record {
	key := event.AppendUUID(make([]byte, 0, 36), ev.ID)
	return &kgo.Record{
		Key:       key,
		Value:     value,
		Timestamp: ev.ReceivedAt.Time,
		Headers: []kgo.RecordHeader{
			{Key: event.HeaderSchema, Value: []byte(event.RawSchema)},
			{Key: event.HeaderContentType, Value: []byte(event.ContentTypeJSON)},
			{Key: event.HeaderEventName, Value: []byte(ev.Name)},
		},
	}
}

// Publish appends the events and waits until each is acknowledged or ctx
// ends. errs[i] is nil exactly when events[i] is durable in Kafka.
func (p *Publisher) Publish(ctx context.Context, events []*event.RawEvent) []error {
	errs := make([]error, len(events))
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, ev := range events {
		rec := Record(ev, ev.AppendJSON(make([]byte, 0, 256+len(ev.Data))))
		rec.Context = ctx
		wg.Add(1)
		p.client.TryProduce(ctx, rec, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				errs[i] = classify(ctx, err)
				mu.Unlock()
			}
			wg.Done()
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		// Records still in flight may yet be acknowledged; the caller
		// reports them as not acknowledged and the client retries with the
		// same uuid, which downstream deduplication collapses.
		mu.Lock()
		defer mu.Unlock()
		out := make([]error, len(errs))
		for i, err := range errs {
			out[i] = err
			if err == nil {
				out[i] = ErrTimeout
			}
		}
		return out
	}
	return errs
}

// PublishOne is Publish for a single event without the slice bookkeeping.
func (p *Publisher) PublishOne(ctx context.Context, ev *event.RawEvent) error {
	rec := Record(ev, ev.AppendJSON(make([]byte, 0, 256+len(ev.Data))))
	rec.Context = ctx
	res := make(chan error, 1)
	p.client.TryProduce(ctx, rec, func(_ *kgo.Record, err error) { res <- err })
	select {
	case err := <-res:
		if err != nil {
			return classify(ctx, err)
		}
		return nil
	case <-ctx.Done():
		return ErrTimeout
	}
}

func classify(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, kgo.ErrMaxBuffered):
		return ErrOverloaded
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, kgo.ErrRecordTimeout) || ctx.Err() != nil:
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	case errors.Is(err, kgo.ErrClientClosed):
		return fmt.Errorf("%w: shutting down", ErrUnavailable)
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// Close waits up to ctx for buffered records, then closes the client. Call it
// after the HTTP server stopped: every record still buffered then belongs to
// a request that already gave up and answered 503, so an error here means
// records that may or may not land, never an acknowledged event lost.
func (p *Publisher) Close(ctx context.Context) error {
	err := p.client.Flush(ctx)
	left := p.client.BufferedProduceRecords()
	p.client.Close()
	if err != nil {
		return fmt.Errorf("flush producer: %d unacknowledged records abandoned: %w", left, err)
	}
	return nil
}
