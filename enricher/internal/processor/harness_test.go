package processor_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// backend is a Kafka the tests run against: kfake in-process, or the real
// Apache Kafka broker the test command starts (ET_TEST_KAFKA_BROKERS).
type backend struct {
	name    string
	brokers []string
}

func forEachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	t.Run("kfake", func(t *testing.T) {
		c, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		fn(t, backend{name: "kfake", brokers: c.ListenAddrs()})
	})
	addr := os.Getenv("ET_TEST_KAFKA_BROKERS")
	switch {
	case addr != "":
		t.Run("apache-kafka", func(t *testing.T) {
			fn(t, backend{name: "apache-kafka", brokers: strings.Split(addr, ",")})
		})
	case os.Getenv("ET_TEST_REQUIRE_REAL_KAFKA") == "1":
		t.Fatal("ET_TEST_REQUIRE_REAL_KAFKA=1 but ET_TEST_KAFKA_BROKERS is not set")
	default:
		t.Log("ET_TEST_KAFKA_BROKERS not set: running against kfake only")
	}
}

var unsafeChars = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// names gives each test its own topics and group on the shared real broker.
func names(t *testing.T) (raw, enriched, dlq, group string) {
	var r [4]byte
	_, _ = rand.Read(r[:])
	base := unsafeChars.ReplaceAllString(t.Name(), "_")
	if len(base) > 150 {
		base = base[:150]
	}
	base += "." + hex.EncodeToString(r[:])
	return "it.raw." + base, "it.enriched." + base, "it.dlq." + base, "it.group." + base
}

func createTopics(t *testing.T, b backend, partitions int32, topics ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, partitions, 1, nil, topics...)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
}

func produce(t *testing.T, b backend, recs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// readCommitted reads a topic as a read_committed consumer until want
// records arrived (or the deadline), then a little longer to catch extras.
func readCommitted(t *testing.T, b backend, topic string, want int, wait time.Duration) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var out []*kgo.Record
	for len(out) < want && ctx.Err() == nil {
		out = append(out, cl.PollFetches(ctx).Records()...)
	}
	extra, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	return append(out, cl.PollFetches(extra).Records()...)
}
