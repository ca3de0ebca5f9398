// Package kafka holds the Kafka plumbing shared by the services: explicit
// topic creation and client logging.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sethvargo/go-retry"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"
)

// TopicSpec describes a topic a service needs.
type TopicSpec struct {
	Name       string
	Partitions int32
	// ReplicationFactor -1 takes the broker's default.replication.factor.
	ReplicationFactor int16
	Configs           map[string]*string
}

// Validate names the bad field.
func (s TopicSpec) Validate() error {
	switch {
	case s.Name == "":
		return errors.New("topic name is empty")
	case s.Partitions < 1:
		return fmt.Errorf("topic %s: partitions %d: want at least 1", s.Name, s.Partitions)
	case s.ReplicationFactor == 0 || s.ReplicationFactor < -1:
		return fmt.Errorf("topic %s: replication factor %d: want -1 (broker default) or at least 1", s.Name, s.ReplicationFactor)
	}
	return nil
}

// EnsureTopics creates each topic that does not exist yet and leaves existing
// ones untouched (their partition count is not changed). Auto-creation is never
// relied on: an auto-created topic gets the broker's defaults, and kfake does
// not persist it. Broker errors are retried with backoff until ctx ends, so a
// service may start before its broker.
func EnsureTopics(ctx context.Context, adm *kadm.Client, log *slog.Logger, specs ...TopicSpec) error {
	backoff := retry.WithCappedDuration(5*time.Second, retry.NewExponential(200*time.Millisecond))
	for _, spec := range specs {
		if err := spec.Validate(); err != nil {
			return err
		}
		err := retry.Do(ctx, backoff, func(ctx context.Context) error {
			err := createTopic(ctx, adm, spec)
			if err != nil {
				log.WarnContext(ctx, "topic not ready, retrying", "topic", spec.Name, "error", err)
				return retry.RetryableError(err)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("ensure topic %s: %w", spec.Name, err)
		}
	}
	return nil
}

func createTopic(ctx context.Context, adm *kadm.Client, spec TopicSpec) error {
	resp, err := adm.CreateTopic(ctx, spec.Partitions, spec.ReplicationFactor, spec.Configs, spec.Name)
	switch {
	case errors.Is(err, kerr.TopicAlreadyExists) || errors.Is(resp.Err, kerr.TopicAlreadyExists):
	case err != nil:
		return err
	case resp.Err != nil:
		return resp.Err
	}
	// A topic exists for us only once metadata lists its leaders.
	topics, err := adm.ListTopics(ctx, spec.Name)
	if err != nil {
		return err
	}
	d, ok := topics[spec.Name]
	if !ok || d.Err != nil || len(d.Partitions) == 0 {
		return fmt.Errorf("topic %s not in metadata yet", spec.Name)
	}
	for _, p := range d.Partitions {
		if p.Err != nil || p.Leader < 0 {
			return fmt.Errorf("topic %s partition %d has no leader yet", spec.Name, p.Partition)
		}
	}
	return nil
}

// Logger adapts slog for franz-go clients at warn level and above: broker
// trouble is visible, routine metadata and connection chatter is not.
func Logger(log *slog.Logger) kgo.Opt {
	h := minLevel{Handler: log.Handler(), min: slog.LevelWarn}
	return kgo.WithLogger(kslog.New(slog.New(h).With("component", "kafka-client")))
}

type minLevel struct {
	slog.Handler
	min slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.Handler.Enabled(ctx, l)
}

func (m minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{Handler: m.Handler.WithAttrs(as), min: m.min}
}

func (m minLevel) WithGroup(name string) slog.Handler {
	return minLevel{Handler: m.Handler.WithGroup(name), min: m.min}
}
