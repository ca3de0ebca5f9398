package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventtarget/eventtarget/platform/kafkatest"
	"github.com/eventtarget/eventtarget/schemas/event"
)

// buildEnricher compiles the real command once per test binary.
var buildEnricher = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "enricher-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "enricher")
	out, err := exec.Command("go", "build", "-o", bin, "../../cmd/enricher").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// enricherProc is the enricher running as a separate process, as in production.
type enricherProc struct {
	cmd *exec.Cmd
	log *os.File
}

func startEnricher(t *testing.T, env []string, logPath string) *enricherProc {
	t.Helper()
	bin, err := buildEnricher()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &enricherProc{cmd: cmd, log: f}
	// A test that fails half-way must not leave an enricher running.
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	})
	return p
}

func (p *enricherProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	p.log.Close()
}

func (p *enricherProc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("enricher exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Error("enricher did not stop within 30s of SIGTERM")
	}
	p.log.Close()
}

// committedReader counts what a read_committed consumer sees, continuously.
type committedReader struct {
	mu     sync.Mutex
	counts map[string]int
	total  int
	latest []event.EnrichedEvent
}

func (r *committedReader) events() []event.EnrichedEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event.EnrichedEvent(nil), r.latest...)
}

func readContinuously(ctx context.Context, t *testing.T, b kafkatest.Backend, topic string) *committedReader {
	r := &committedReader{counts: map[string]int{}}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer cl.Close()
		for ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(rec *kgo.Record) {
				e, err := event.DecodeEnriched(rec.Value)
				r.mu.Lock()
				defer r.mu.Unlock()
				r.total++
				if err == nil {
					r.counts[e.ID.String()]++
					r.latest = append(r.latest, e)
				}
			})
		}
	}()
	return r
}

func (r *committedReader) snapshot() (distinct, total int, dupes []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, n := range r.counts {
		if n > 1 {
			dupes = append(dupes, id)
		}
	}
	return len(r.counts), r.total, dupes
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestIntegrationCrashExactlyOnce kills the enricher process with SIGKILL
// twice while a stream of events flows, restarts it each time, and checks
// that a read_committed reader of the enriched topic sees every event
// exactly once.
func TestIntegrationCrashExactlyOnce(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, b kafkatest.Backend) {
		const n = 3000
		name := kafkatest.UniqueName(t)
		raw, enriched, dlq := "crash.raw."+name, "crash.enriched."+name, "crash.dlq."+name
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Brokers...), kgo.DefaultProduceTopic(raw))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if _, err := kadm.NewClient(cl).CreateTopics(ctx, 3, 1, nil, raw, enriched, dlq); err != nil {
			t.Fatal(err)
		}

		env := []string{
			"ENRICHER_KAFKA_BROKERS=" + strings.Join(b.Brokers, ","),
			"ENRICHER_RAW_TOPIC=" + raw, "ENRICHER_ENRICHED_TOPIC=" + enriched, "ENRICHER_DLQ_TOPIC=" + dlq,
			"ENRICHER_GROUP=crash." + name, "ENRICHER_TRANSACTIONAL_ID=crash.txn." + name,
			"ENRICHER_INSTANCE_ID=crash.member." + name,
			"ENRICHER_GEO_API=none", "ENRICHER_HEALTH_ADDR=127.0.0.1:0",
			"ENRICHER_MAX_BATCH=50", "ENRICHER_SESSION_TIMEOUT=6s", "ENRICHER_LOG_LEVEL=info",
			"ENRICHER_TRANSACTION_TIMEOUT=15s",
		}
		logPath := filepath.Join(t.TempDir(), "enricher.log")
		defer func() {
			if t.Failed() {
				b, _ := os.ReadFile(logPath)
				t.Logf("enricher log:\n%s", b)
			}
		}()

		reader := readContinuously(ctx, t, b, enriched)
		// A steady stream: the enricher is always mid-transaction.
		produced := make(chan error, 1)
		go func() {
			for i := range n {
				ev := event.RawEvent{SchemaVersion: 1, ID: uuid.Must(uuid.NewV7()), Name: "crash",
					Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)), ReceivedAt: event.NewTimestamp(time.Now()),
					SourceIP: fmt.Sprintf("10.0.%d.%d", i/256%256, i%256), UserAgent: "crash-test"}
				cl.Produce(ctx, &kgo.Record{Key: []byte(ev.ID.String()), Value: ev.AppendJSON(nil)}, nil)
				if i%100 == 99 {
					time.Sleep(20 * time.Millisecond)
				}
			}
			produced <- cl.Flush(ctx)
		}()

		proc := startEnricher(t, env, logPath)
		for kill, at := range []int{n / 4, n / 2} {
			waitFor(t, fmt.Sprintf("%d enriched events before kill %d", at, kill+1), time.Minute, func() bool {
				d, _, _ := reader.snapshot()
				return d >= at
			})
			proc.kill(t)
			d, total, _ := reader.snapshot()
			t.Logf("SIGKILL %d with %d distinct / %d records committed", kill+1, d, total)
			proc = startEnricher(t, env, logPath)
		}
		if err := <-produced; err != nil {
			t.Fatal(err)
		}
		waitFor(t, fmt.Sprintf("all %d events enriched", n), 2*time.Minute, func() bool {
			d, _, _ := reader.snapshot()
			return d >= n
		})
		time.Sleep(time.Second) // anything doubled would arrive now
		proc.stop(t)

		distinct, total, dupes := reader.snapshot()
		t.Logf("%s: sent %d, enriched distinct %d, records %d, duplicates %d", b.Name, n, distinct, total, len(dupes))
		if distinct != n || total != n || len(dupes) != 0 {
			t.Fatalf("want exactly %d events once each; got %d distinct in %d records, duplicated: %v", n, distinct, total, dupes)
		}
	})
}
