package app_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/eventtarget/eventtarget/ingest/internal/app"
	"github.com/eventtarget/eventtarget/ingest/internal/config"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// kfake and franz-go close their goroutines asynchronously after Close.
		goleak.IgnoreTopFunction("github.com/twmb/franz-go/pkg/kgo.(*Client).updateMetadataLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

// backend is a Kafka the tests run against: kfake in-process, or the real
// Apache Kafka broker the test command starts (ET_TEST_KAFKA_BROKERS).
type backend struct {
	name    string
	brokers []string
	fake    *kfake.Cluster // nil for the real broker
}

func newFake(t *testing.T) backend {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return backend{name: "kfake", brokers: c.ListenAddrs(), fake: c}
}

// backends returns kfake and, when configured, the real broker. The test
// command sets ET_TEST_REQUIRE_REAL_KAFKA=1 so that a missing broker fails
// the run instead of silently testing less.
func backends(t *testing.T) []func(*testing.T) backend {
	t.Helper()
	out := []func(*testing.T) backend{newFake}
	if addr := os.Getenv("ET_TEST_KAFKA_BROKERS"); addr != "" {
		out = append(out, func(*testing.T) backend {
			return backend{name: "apache-kafka", brokers: strings.Split(addr, ",")}
		})
	} else if os.Getenv("ET_TEST_REQUIRE_REAL_KAFKA") == "1" {
		t.Fatal("ET_TEST_REQUIRE_REAL_KAFKA=1 but ET_TEST_KAFKA_BROKERS is not set")
	} else {
		t.Log("ET_TEST_KAFKA_BROKERS not set: running against kfake only")
	}
	return out
}

func forEachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, mk := range backends(t) {
		b := mk(t)
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

var unsafeTopicChars = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// uniqueTopic keeps tests on the shared real broker apart.
func uniqueTopic(t *testing.T) string {
	var r [4]byte
	_, _ = rand.Read(r[:])
	name := unsafeTopicChars.ReplaceAllString(t.Name(), "_")
	if len(name) > 180 {
		name = name[:180]
	}
	return "it." + name + "." + hex.EncodeToString(r[:])
}

type ingest struct {
	url   string
	topic string
	stop  func() error
}

func testConfig(b backend, topic string) config.Config {
	cfg := config.Default()
	cfg.ListenAddr = "127.0.0.1:0"
	cfg.Kafka.Brokers = b.brokers
	cfg.Kafka.Topic = topic
	cfg.Kafka.Partitions = 3
	cfg.Kafka.Timeout = 3 * time.Second
	cfg.StartupTimeout = 30 * time.Second
	cfg.ShutdownTimeout = 10 * time.Second
	return cfg
}

// startIngest runs the service as main would, on a random port.
func startIngest(t *testing.T, cfg config.Config) *ingest {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	errc := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	go func() { errc <- app.Run(ctx, cfg, log, func(a string) { addrc <- a }) }()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-errc:
		cancel()
		t.Fatalf("ingest did not start: %v", err)
	case <-time.After(40 * time.Second):
		cancel()
		t.Fatal("ingest did not start in 40s")
	}
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-errc
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("ingest shutdown: %v", err)
		}
		http.DefaultClient.CloseIdleConnections()
	})
	return &ingest{url: "http://" + addr, topic: cfg.Kafka.Topic, stop: stop}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// readTopic consumes the topic from the start until want records arrived or
// the deadline passed, and returns what it read.
func readTopic(t *testing.T, b backend, topic string, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(b.brokers...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < want && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(_ string, _ int32, err error) {
			if ctx.Err() == nil {
				t.Errorf("fetch: %v", err)
			}
		})
		recs = append(recs, fs.Records()...)
	}
	// Read a little longer to catch records that should not be there.
	extra, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	recs = append(recs, cl.PollFetches(extra).Records()...)
	return recs
}

func post(t *testing.T, url, contentType string, body io.Reader, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}
