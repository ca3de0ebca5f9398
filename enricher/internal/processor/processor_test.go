package processor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/eventtarget/eventtarget/enricher/internal/geo"
	"github.com/eventtarget/eventtarget/enricher/internal/processor"
	"github.com/eventtarget/eventtarget/platform/kafkatest"
	"github.com/eventtarget/eventtarget/schemas/event"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// table is a local database held in memory: the processor tests are about
// Kafka semantics; geo/mmdb tests the real database readers.
type table map[netip.Addr]geo.Location

func (t table) Lookup(ip netip.Addr) (geo.Location, bool, error) {
	loc, ok := t[ip]
	return loc, ok, nil
}
func (t table) Database() string { return "test-table" }

var london = geo.Location{City: "London", CountryISO: "GB", CountryName: "United Kingdom", Latitude: 51.5142, Longitude: -0.0931, HasCoordinates: true}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func rawRecord(t *testing.T, topic, ip string) (*kgo.Record, uuid.UUID) {
	t.Helper()
	ev := event.RawEvent{SchemaVersion: 1, ID: uuid.Must(uuid.NewV7()), Name: "visit", Data: json.RawMessage(`{"n": 1}`),
		ReceivedAt: event.NewTimestamp(time.Now()), SourceIP: ip, UserAgent: "test"}
	return &kgo.Record{Topic: topic, Key: []byte(ev.ID.String()), Value: ev.AppendJSON(nil), Timestamp: ev.ReceivedAt.Time}, ev.ID
}

func newProcessor(t *testing.T, b kafkatest.Backend, raw, enriched, dlq, group string, resolve processor.Resolver, version uint32) *processor.Processor {
	t.Helper()
	p, err := processor.New(processor.Config{
		Brokers: b.Brokers, RawTopic: raw, Topics: processor.Topics{Enriched: enriched, DLQ: dlq},
		Group: group, TransactionalID: group + ".txn", EnrichmentVersion: version, MaxBatch: 100,
		TransactionTimeout: 30 * time.Second, SessionTimeout: 6 * time.Second,
		StartOffset: kgo.NewOffset().AtStart(),
	}, resolve, quiet())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestIntegrationEnrichesEachEventOnceAndDeadLettersPoison(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, b kafkatest.Backend) {
		raw, enriched, dlq, group := names(t)
		b.CreateTopics(t, 3, raw, enriched, dlq)
		want := map[uuid.UUID]event.GeoStatus{}
		var recs []*kgo.Record
		for i := range 30 {
			ip, status := "81.2.69.142", event.GeoStatusResolved
			switch i % 3 {
			case 1:
				ip, status = "10.1.2.3", event.GeoStatusPrivate
			case 2:
				ip, status = "8.8.4.4", event.GeoStatusUnresolved // public, in no source
			}
			r, id := rawRecord(t, raw, ip)
			recs = append(recs, r)
			want[id] = status
		}
		poison := &kgo.Record{Topic: raw, Key: []byte("bad"), Value: []byte(`{"schema_version":1,"id":`),
			Headers: []kgo.RecordHeader{{Key: "origin", Value: []byte("fuzzer")}}}
		b.Produce(t, append(recs, poison)...)

		chain := geo.NewChain(geo.ChainConfig{CacheSize: 100, CacheTTL: time.Hour}, nil, table{netip.MustParseAddr("81.2.69.142"): london}, quiet())
		p := newProcessor(t, b, raw, enriched, dlq, group, chain, 1)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx, time.Second) }()

		got := b.ReadCommitted(t, enriched, len(want), 30*time.Second)
		dead := b.ReadCommitted(t, dlq, 1, 10*time.Second)
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		p.Close()

		seen := map[uuid.UUID]int{}
		for _, r := range got {
			e, err := event.DecodeEnriched(r.Value)
			if err != nil {
				t.Fatalf("enriched record does not decode: %v", err)
			}
			seen[e.ID]++
			if string(r.Key) != e.ID.String() || e.EnrichmentVersion != 1 || e.GeoStatus != want[e.ID] || string(e.Data) != `{"n": 1}` {
				t.Errorf("bad enriched event %s", r.Value)
			}
			switch e.GeoStatus {
			case event.GeoStatusResolved:
				if e.CountryISO == nil || *e.CountryISO != "GB" || e.Latitude == nil || e.GeoSource == event.GeoSourceNone || e.GeoDatabase != "test-table" {
					t.Errorf("resolved event without its location: %s", r.Value)
				}
			case event.GeoStatusPrivate:
				if e.GeoSource != event.GeoSourcePrivate || e.Latitude != nil {
					t.Errorf("private event: %s", r.Value)
				}
			case event.GeoStatusUnresolved:
				if e.GeoSource != event.GeoSourceNone || e.Latitude != nil {
					t.Errorf("unresolved event: %s", r.Value)
				}
			}
		}
		for id := range want {
			if seen[id] != 1 {
				t.Errorf("event %s enriched %d times", id, seen[id])
			}
		}
		if len(got) != len(want) {
			t.Errorf("%d enriched records for %d raw events", len(got), len(want))
		}
		if len(dead) != 1 || string(dead[0].Value) != string(poison.Value) {
			t.Fatalf("dead letters: %v", dead)
		}
		h := map[string]string{}
		for _, x := range dead[0].Headers {
			h[x.Key] = string(x.Value)
		}
		if h["origin"] != "fuzzer" || h[processor.HeaderDLQTopic] != raw || h[processor.HeaderDLQReason] == "" || h[processor.HeaderDLQOffset] == "" {
			t.Errorf("dead letter headers %v", h)
		}
		if n := p.Stats.Enriched.Load(); n != int64(len(want)) {
			t.Errorf("stats: enriched %d", n)
		}
		t.Logf("%s: %d enriched, 1 dead-lettered: %s", b.Name, len(got), fmt.Sprint(p.Stats.LogValue()))
	})
}

// names gives each test its own topics and group on the shared real broker.
func names(t *testing.T) (raw, enriched, dlq, group string) {
	n := kafkatest.UniqueName(t)
	return "it.raw." + n, "it.enriched." + n, "it.dlq." + n, "it.group." + n
}

// TestIntegrationNewSessionAfterAFailedTransaction makes the broker refuse
// one transaction's end, which leaves franz-go's session unusable (as a
// broker gone for longer than the client's retries does). The processor
// must start a new session, and every event must still be enriched exactly
// once as read_committed consumers see it.
func TestIntegrationNewSessionAfterAFailedTransaction(t *testing.T) {
	b := kafkatest.NewFake(t)
	raw, enriched, dlq, group := names(t)
	b.CreateTopics(t, 3, raw, enriched, dlq)
	var failed atomic.Bool
	b.Fake.ControlKey(int16(kmsg.EndTxn), func(req kmsg.Request) (kmsg.Response, error, bool) {
		b.Fake.KeepControl()
		if failed.Swap(true) {
			return nil, nil, false // only the first end fails
		}
		resp := req.(*kmsg.EndTxnRequest).ResponseKind().(*kmsg.EndTxnResponse)
		resp.ErrorCode = kerr.ProducerFenced.Code
		return resp, nil, true
	})
	want := map[uuid.UUID]bool{}
	var recs []*kgo.Record
	for range 300 {
		r, id := rawRecord(t, raw, "81.2.69.142")
		recs = append(recs, r)
		want[id] = true
	}
	b.Produce(t, recs...)

	chain := geo.NewChain(geo.ChainConfig{CacheSize: 100, CacheTTL: time.Hour}, nil, table{netip.MustParseAddr("81.2.69.142"): london}, quiet())
	p := newProcessor(t, b, raw, enriched, dlq, group, chain, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, time.Second) }()

	got := b.ReadCommitted(t, enriched, len(want), 60*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	p.Close()
	if !failed.Load() {
		t.Fatal("no transaction end was refused: the test did not test anything")
	}
	seen := map[uuid.UUID]int{}
	for _, r := range got {
		e, err := event.DecodeEnriched(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		seen[e.ID]++
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("event %s enriched %d times", id, seen[id])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d enriched records for %d raw events", len(got), len(want))
	}
}
