// Package kafkatest gives integration tests the Kafka brokers to run against:
// franz-go's kfake in-process, always, and the real Apache Kafka broker that
// the test command starts (ET_TEST_KAFKA_BROKERS). ET_TEST_REQUIRE_REAL_KAFKA=1
// turns a missing real broker into a failure instead of a quieter test run.
package kafkatest

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

// Backend is one Kafka to test against.
type Backend struct {
	Name    string // "kfake" or "apache-kafka": subtests carry it
	Brokers []string
	// Fake is the in-process cluster (nil for the real broker), for tests
	// that inject faults.
	Fake *kfake.Cluster
}

// NewFake starts a one-broker kfake cluster closed at the end of the test.
func NewFake(t testing.TB) Backend {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return Backend{Name: "kfake", Brokers: c.ListenAddrs(), Fake: c}
}

// Run runs fn as a subtest against kfake and, when configured, the real broker.
func Run(t *testing.T, fn func(t *testing.T, b Backend)) {
	t.Helper()
	t.Run("kfake", func(t *testing.T) { fn(t, NewFake(t)) })
	addr := os.Getenv("ET_TEST_KAFKA_BROKERS")
	switch {
	case addr != "":
		t.Run("apache-kafka", func(t *testing.T) {
			fn(t, Backend{Name: "apache-kafka", Brokers: strings.Split(addr, ",")})
		})
	case os.Getenv("ET_TEST_REQUIRE_REAL_KAFKA") == "1":
		t.Fatal("ET_TEST_REQUIRE_REAL_KAFKA=1 but ET_TEST_KAFKA_BROKERS is not set")
	default:
		t.Log("ET_TEST_KAFKA_BROKERS not set: running against kfake only")
	}
}

var unsafeChars = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// UniqueName is a topic- and group-safe name unique to this test run, so
// tests sharing the real broker never see each other's records.
func UniqueName(t testing.TB) string {
	var r [4]byte
	_, _ = rand.Read(r[:])
	name := unsafeChars.ReplaceAllString(t.Name(), "_")
	if len(name) > 150 {
		name = name[:150]
	}
	return name + "." + hex.EncodeToString(r[:])
}

// Client connects a plain client, closed at the end of the test.
func (b Backend) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Brokers...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// CreateTopics creates topics with replication factor 1.
func (b Backend) CreateTopics(t testing.TB, partitions int32, topics ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(b.Client(t)).CreateTopics(ctx, partitions, 1, nil, topics...)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
}

// Produce writes records synchronously.
func (b Backend) Produce(t testing.TB, recs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Client(t).ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// ReadCommitted reads a topic from the start as a read_committed consumer
// until want records arrived or wait passed, then half a second more, so
// that records which should not be there are caught too.
func (b Backend) ReadCommitted(t testing.TB, topic string, want int, wait time.Duration) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var out []*kgo.Record
	for len(out) < want && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(topic string, p int32, err error) {
			if ctx.Err() == nil {
				t.Errorf("fetch %s/%d: %v", topic, p, err)
			}
		})
		out = append(out, fs.Records()...)
	}
	extra, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	return append(out, cl.PollFetches(extra).Records()...)
}
