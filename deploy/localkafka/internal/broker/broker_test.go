package broker_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventtarget/eventtarget/deploy/localkafka/internal/broker"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// start runs the broker and returns its address and a function that stops it
// the way SIGTERM would.
func start(t *testing.T, cfg broker.Config) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc, errc := make(chan string, 1), make(chan error, 1)
	go func() {
		errc <- broker.Run(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), func(a string) { addrc <- a })
	}()
	select {
	case a := <-addrc:
		return a, func() {
			cancel()
			if err := <-errc; err != nil {
				t.Errorf("broker stopped with %v", err)
			}
		}
	case err := <-errc:
		cancel()
		t.Fatalf("broker did not start: %v", err)
	}
	return "", nil
}

// TestIntegrationDataSurvivesRestart is why the local run can be stopped and
// started without losing events: topics, records and group offsets persist.
func TestIntegrationDataSurvivesRestart(t *testing.T) {
	cfg := broker.DefaultConfig()
	cfg.Port = freePort(t)
	cfg.DataDir = t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	addr, stop := start(t, cfg)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("events.raw"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 3, 1, nil, "events.raw"); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"a", "b", "c"} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(v), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl.Close()
	stop()

	addr, stop = start(t, cfg)
	defer stop()
	cl, err = kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("events.raw"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := map[string]bool{}
	for len(got) < 3 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got[string(r.Value)] = true })
	}
	if len(got) != 3 {
		t.Fatalf("after restart the topic holds %v, want a, b, c", got)
	}
}

func TestConfigValidate(t *testing.T) {
	for name, mutate := range map[string]func(*broker.Config){
		"port":       func(c *broker.Config) { c.Port = 0 },
		"data dir":   func(c *broker.Config) { c.DataDir = "" },
		"partitions": func(c *broker.Config) { c.DefaultPartitions = 0 },
	} {
		c := broker.DefaultConfig()
		mutate(&c)
		if c.Validate() == nil {
			t.Errorf("%s: invalid config accepted", name)
		}
	}
	if err := broker.DefaultConfig().Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}
}
