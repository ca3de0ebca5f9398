package loader_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventtarget/eventtarget/platform/kafkatest"
	"github.com/eventtarget/eventtarget/query/internal/chstore"
	"github.com/eventtarget/eventtarget/query/internal/chtest"
	"github.com/eventtarget/eventtarget/query/internal/loader"
	"github.com/eventtarget/eventtarget/query/internal/store"
	"github.com/eventtarget/eventtarget/schemas/event"
)

func rawEvent(i int) event.RawEvent {
	return event.RawEvent{SchemaVersion: 1, ID: uuid.Must(uuid.NewV7()), Name: "load", Data: json.RawMessage(`{"i":` + itoa(i) + `}`),
		ReceivedAt: event.NewTimestamp(time.Now()), SourceIP: "81.2.69.142", UserAgent: "test"}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func enrichedOf(r event.RawEvent) event.EnrichedEvent {
	city := "London"
	return event.EnrichedEvent{RawEvent: r, City: &city, GeoSource: event.GeoSourceMMDB, GeoStatus: event.GeoStatusResolved,
		EnrichedAt: event.NewTimestamp(time.Now()), EnrichmentVersion: 1}
}

type topics struct{ raw, enriched string }

func startLoader(t *testing.T, b kafkatest.Backend, tp topics, dest loader.Inserter) *loader.Loader {
	t.Helper()
	return startLoaderT(t, b, tp, dest, 500)
}

func startLoaderT(t testing.TB, b kafkatest.Backend, tp topics, dest loader.Inserter, batchRows int) *loader.Loader {
	t.Helper()
	return runLoader(t, testConfig(b, tp, "loader."+kafkatest.UniqueName(t), batchRows), dest)
}

func testConfig(b kafkatest.Backend, tp topics, group string, batchRows int) loader.Config {
	cfg := loader.DefaultConfig()
	cfg.Brokers, cfg.RawTopic, cfg.EnrichedTopic, cfg.Group = b.Brokers, tp.raw, tp.enriched, group
	cfg.BatchRows, cfg.BatchLinger = batchRows, 100*time.Millisecond
	cfg.InitialBackoff, cfg.MaxBackoff, cfg.SessionTimeout = 100*time.Millisecond, time.Second, 6*time.Second
	return cfg
}

// runLoader runs a loader until the end of the test.
func runLoader(t testing.TB, cfg loader.Config, dest loader.Inserter) *loader.Loader {
	t.Helper()
	l, err := loader.New(cfg, dest, chtest.Quiet())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("loader: %v", err)
		}
		l.Close()
	})
	return l
}

func newTopics(t *testing.T, b kafkatest.Backend) topics {
	n := kafkatest.UniqueName(t)
	tp := topics{raw: "load.raw." + n, enriched: "load.enriched." + n}
	b.CreateTopics(t, 3, tp.raw, tp.enriched)
	return tp
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

func TestIntegrationLoaderLoadsBothTopics(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, b kafkatest.Backend) {
		_, s, _ := chtest.Open(t)
		tp := newTopics(t, b)
		var recs []*kgo.Record
		const n = 1200
		enrichedIDs := map[uuid.UUID]bool{}
		for i := range n {
			r := rawEvent(i)
			recs = append(recs, &kgo.Record{Topic: tp.raw, Key: []byte(r.ID.String()), Value: r.AppendJSON(nil)})
			if i%2 == 0 {
				e := enrichedOf(r)
				recs = append(recs, &kgo.Record{Topic: tp.enriched, Key: []byte(r.ID.String()), Value: e.AppendJSON(nil)})
				enrichedIDs[r.ID] = true
			}
		}
		recs = append(recs, &kgo.Record{Topic: tp.raw, Value: []byte("not an envelope")})
		b.Produce(t, recs...)
		l := startLoader(t, b, tp, s)

		// At least every record: one read twice (a rebalance between insert
		// and commit) is inserted twice and collapses in the table, which
		// the listing below checks.
		waitFor(t, "every record loaded", 60*time.Second, func() bool {
			return l.Stats.Rows.Load()+l.Stats.Superseded.Load() >= int64(n+len(enrichedIDs))
		})
		rows, err := s.List(context.Background(), store.Filter{}, nil, 0, n+10)
		if err != nil || len(rows) != n {
			t.Fatalf("list: %d rows, %v", len(rows), err)
		}
		for _, r := range rows {
			if want := uint32(0); enrichedIDs[r.ID] {
				want = 1
				if r.Version != want || r.City == nil {
					t.Fatalf("%s: version %d, want the enriched one", r.ID, r.Version)
				}
			} else if r.Version != want {
				t.Fatalf("%s: version %d, want raw", r.ID, r.Version)
			}
		}
		waitFor(t, "the poison record counted", 10*time.Second, func() bool { return l.Stats.Skipped.Load() == 1 })
	})
}

// TestIntegrationLoaderSurvivesClickHouseOutage kills a private ClickHouse
// server in the middle of a stream, restarts it on the same data a few
// seconds later, and checks every event is stored exactly once.
func TestIntegrationLoaderSurvivesClickHouseOutage(t *testing.T) {
	srv := chtest.StartServer(t, "19100", "18200")
	cfg := srv.Config
	cfg.Database = "outage"
	ctx := context.Background()
	if err := chstore.EnsureDatabase(ctx, cfg, chtest.Quiet()); err != nil {
		t.Fatal(err)
	}
	ch, err := chstore.Open(ctx, cfg, chtest.Quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if err := store.Migrate(ctx, ch.Conn(), chtest.Quiet()); err != nil {
		t.Fatal(err)
	}
	s := store.New(ch.Conn())

	b := kafkatest.NewFake(t)
	tp := newTopics(t, b)
	l := startLoader(t, b, tp, s)
	prod := b.Client(t, kgo.DefaultProduceTopic(tp.raw))
	const n = 3000
	// One event first, so that the stream starts once the loader has joined
	// its group and most of it arrives during the outage.
	first := rawEvent(-1)
	b.Produce(t, &kgo.Record{Topic: tp.raw, Key: []byte(first.ID.String()), Value: first.AppendJSON(nil)})
	waitFor(t, "the loader to start", 30*time.Second, func() bool { return l.Stats.Rows.Load() == 1 })
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := range n - 1 {
			r := rawEvent(i)
			prod.Produce(ctx, &kgo.Record{Key: []byte(r.ID.String()), Value: r.AppendJSON(nil)}, nil)
			if i%100 == 99 {
				time.Sleep(300 * time.Millisecond) // a stream over ~9 s: most of it arrives during the outage
			}
		}
		_ = prod.Flush(ctx)
	}()

	waitFor(t, "some rows loaded", 30*time.Second, func() bool { return l.Stats.Rows.Load() > 300 })
	loadedAtStop := l.Stats.Rows.Load()
	stopAt := time.Now()
	srv.Kill(t)
	t.Logf("clickhouse killed in %v", time.Since(stopAt).Round(time.Millisecond))
	time.Sleep(4 * time.Second) // the stream goes on; inserts fail and are retried
	retries := l.Stats.Retries.Load()
	srv.Restart(t)
	<-sent

	waitFor(t, "every event stored", 90*time.Second, func() bool {
		c, err := s.Count(ctx, store.Filter{})
		return err == nil && c == n
	})
	var distinct, total uint64
	if err := ch.Conn().QueryRow(ctx, "SELECT uniqExact(id), count() FROM events FINAL").Scan(&distinct, &total); err != nil {
		t.Fatal(err)
	}
	t.Logf("sent %d; loaded %d before the stop; %d failed inserts retried during it; stored %d distinct, %d rows after FINAL",
		n, loadedAtStop, retries, distinct, total)
	if distinct != n || total != n {
		t.Fatalf("want %d events once each, got %d distinct in %d rows", n, distinct, total)
	}
	if retries == 0 {
		t.Error("no insert failed while ClickHouse was down: the outage was not exercised")
	}
}

// memInserter records the ids it is given, taking a while per batch as
// ClickHouse does.
type memInserter struct {
	delay time.Duration
	mu    sync.Mutex
	seen  map[uuid.UUID]int
	sizes []int // rows per batch, in order
}

func (m *memInserter) Insert(ctx context.Context, rows []store.Row) error {
	select {
	case <-time.After(m.delay):
	case <-ctx.Done():
		return ctx.Err()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range rows {
		m.seen[r.ID]++
	}
	m.sizes = append(m.sizes, len(rows))
	return nil
}

func (m *memInserter) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.seen)
}

// TestLoaderRebalancesWhileBusy checks that a loader whose pipeline is never
// empty (a steady stream, slow inserts) still lets a rebalance through: a
// second member joins and gets partitions long before the first would be
// kicked out of the group, and every event is loaded.
func TestLoaderRebalancesWhileBusy(t *testing.T) {
	b := kafkatest.NewFake(t)
	tp := newTopics(t, b)
	group := "loader." + kafkatest.UniqueName(t)
	dest := &memInserter{delay: 20 * time.Millisecond, seen: map[uuid.UUID]int{}}
	start := func() *loader.Loader { return runLoader(t, testConfig(b, tp, group, 200), dest) }

	ctx := context.Background()
	prod := b.Client(t, kgo.DefaultProduceTopic(tp.raw))
	stop := make(chan struct{})
	sent := make(chan int)
	go func() {
		n := 0
		defer func() { sent <- n }()
		for {
			select {
			case <-stop:
				_ = prod.Flush(ctx)
				return
			default:
			}
			for range 100 {
				r := rawEvent(n)
				prod.Produce(ctx, &kgo.Record{Key: []byte(r.ID.String()), Value: r.AppendJSON(nil)}, nil)
				n++
			}
			time.Sleep(5 * time.Millisecond) // ~20,000 events/s: more than one slow loader takes
		}
	}()

	first := start()
	waitFor(t, "the first loader to load", 30*time.Second, func() bool { return first.Stats.Rows.Load() > 0 })
	second := start()
	// A loader that never let the rebalance through would be dropped from
	// the group only after the rebalance timeout, 60 s by default.
	waitFor(t, "the second loader to get partitions", 20*time.Second, func() bool { return second.Stats.Rows.Load() > 0 })
	close(stop)
	n := <-sent
	waitFor(t, "every event loaded", 60*time.Second, func() bool { return dest.count() == n })
	t.Logf("%d events; first loader %d rows, second %d", n, first.Stats.Rows.Load(), second.Stats.Rows.Load())
}

// TestLoaderCatchesUpInLargerBatches checks that a loader with a backlog
// takes records already fetched into its full batches, up to CatchUpRows,
// and loads every event once.
func TestLoaderCatchesUpInLargerBatches(t *testing.T) {
	b := kafkatest.NewFake(t)
	tp := newTopics(t, b)
	const n, batchRows, catchUp = 5000, 200, 2000
	prod := b.Client(t, kgo.DefaultProduceTopic(tp.raw))
	for i := range n {
		r := rawEvent(i)
		prod.Produce(context.Background(), &kgo.Record{Key: []byte(r.ID.String()), Value: r.AppendJSON(nil)}, nil)
	}
	if err := prod.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	dest := &memInserter{delay: 20 * time.Millisecond, seen: map[uuid.UUID]int{}}
	cfg := testConfig(b, tp, "loader."+kafkatest.UniqueName(t), batchRows)
	cfg.CatchUpRows = catchUp
	runLoader(t, cfg, dest)
	waitFor(t, "every event loaded", 60*time.Second, func() bool { return dest.count() == n })
	dest.mu.Lock()
	defer dest.mu.Unlock()
	largest := slices.Max(dest.sizes)
	t.Logf("%d batches, largest %d rows", len(dest.sizes), largest)
	if largest <= batchRows || largest > catchUp {
		t.Errorf("largest batch %d rows; want more than %d (the backlog taken in) and at most %d", largest, batchRows, catchUp)
	}
	if len(dest.sizes) >= n/batchRows {
		t.Errorf("%d batches for %d events: the backlog went in batches of %d", len(dest.sizes), n, batchRows)
	}
	for id, times := range dest.seen {
		if times != 1 {
			t.Fatalf("event %s loaded %d times", id, times)
		}
	}
}
