package kafka_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventtarget/eventtarget/platform/kafka"
)

func TestIntegrationEnsureTopicsIsIdempotent(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	spec := kafka.TopicSpec{Name: "events.raw", Partitions: 4, ReplicationFactor: 1}
	if err := kafka.EnsureTopics(ctx, adm, log, spec); err != nil {
		t.Fatal(err)
	}
	// A second call, with another partition count, leaves the topic alone.
	spec.Partitions = 9
	if err := kafka.EnsureTopics(ctx, adm, log, spec); err != nil {
		t.Fatal(err)
	}
	td, err := adm.ListTopics(ctx, "events.raw")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(td["events.raw"].Partitions); n != 4 {
		t.Errorf("topic has %d partitions, want the 4 it was created with", n)
	}
}

func TestTopicSpecValidate(t *testing.T) {
	for _, s := range []kafka.TopicSpec{
		{Name: "", Partitions: 1, ReplicationFactor: 1},
		{Name: "t", Partitions: 0, ReplicationFactor: 1},
		{Name: "t", Partitions: 1, ReplicationFactor: 0},
		{Name: "t", Partitions: 1, ReplicationFactor: -2},
	} {
		if s.Validate() == nil {
			t.Errorf("%+v accepted", s)
		}
	}
}
