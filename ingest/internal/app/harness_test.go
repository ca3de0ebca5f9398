package app_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/eventtarget/eventtarget/ingest/internal/app"
	"github.com/eventtarget/eventtarget/ingest/internal/config"
	"github.com/eventtarget/eventtarget/platform/kafkatest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// kfake and franz-go close their goroutines asynchronously after Close.
		goleak.IgnoreTopFunction("github.com/twmb/franz-go/pkg/kgo.(*Client).updateMetadataLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

func uniqueTopic(t *testing.T) string { return "it." + kafkatest.UniqueName(t) }

type ingest struct {
	url   string
	topic string
	stop  func() error
}

func testConfig(b kafkatest.Backend, topic string) config.Config {
	cfg := config.Default()
	cfg.ListenAddr = "127.0.0.1:0"
	cfg.Kafka.Brokers = b.Brokers
	cfg.Kafka.Topic = topic
	cfg.Kafka.Partitions = 3
	// Generous: these tests assert durability, not latency, and a loaded CI
	// machine can slow the JVM broker; the fault tests set their own deadlines.
	cfg.Kafka.Timeout = 10 * time.Second
	// lz4 under the race detector costs ~200 ms per batch; TestIntegrationKafkaSingleEvent
	// keeps the default codec so that compressed production stays tested.
	cfg.Kafka.Compression = "none"
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

// readTopic reads the topic from the start until want records arrived.
func readTopic(t *testing.T, b kafkatest.Backend, topic string, want int) []*kgo.Record {
	t.Helper()
	return b.ReadCommitted(t, topic, want, 30*time.Second)
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
