package replay_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventtarget/eventtarget/enricher/internal/geo"
	"github.com/eventtarget/eventtarget/enricher/internal/processor"
	"github.com/eventtarget/eventtarget/enricher/internal/replay"
	"github.com/eventtarget/eventtarget/platform/kafkatest"
	"github.com/eventtarget/eventtarget/schemas/event"
)

// table is a local database held in memory, standing for two builds of the
// database (before and after an update); geo/mmdb tests the real readers.
type table struct {
	name string
	m    map[netip.Addr]geo.Location
}

func (t table) Lookup(ip netip.Addr) (geo.Location, bool, error) {
	loc, ok := t.m[ip]
	return loc, ok, nil
}
func (t table) Database() string { return t.name }

var (
	ipMoved   = netip.MustParseAddr("81.2.69.142")   // London, then Paris
	ipNewly   = netip.MustParseAddr("89.160.20.112") // unknown, then Berlin
	ipStill   = netip.MustParseAddr("8.8.4.4")       // unknown in both builds
	ipSteady  = netip.MustParseAddr("2.125.160.216") // Boxford in both
	london    = geo.Location{City: "London", CountryISO: "GB", Latitude: 51.5, Longitude: -0.1, HasCoordinates: true}
	paris     = geo.Location{City: "Paris", CountryISO: "FR", Latitude: 48.9, Longitude: 2.35, HasCoordinates: true}
	berlin    = geo.Location{City: "Berlin", CountryISO: "DE", Latitude: 52.5, Longitude: 13.4, HasCoordinates: true}
	boxford   = geo.Location{City: "Boxford", CountryISO: "GB", Latitude: 51.75, Longitude: -1.25, HasCoordinates: true}
	buildOld  = table{"db 2026-11", map[netip.Addr]geo.Location{ipMoved: london, ipSteady: boxford}}
	buildNew  = table{"db 2026-12", map[netip.Addr]geo.Location{ipMoved: paris, ipNewly: berlin, ipSteady: boxford}}
	quietLog  = slog.New(slog.NewTextHandler(io.Discard, nil))
	chainWith = func(l geo.Local) *geo.Chain {
		return geo.NewChain(geo.ChainConfig{CacheSize: 100, CacheTTL: time.Hour}, nil, l, quietLog)
	}
)

func TestIntegrationReplayReEnrichesWithNewVersion(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, b kafkatest.Backend) {
		raw, enriched, dlq, group := names(t)
		b.CreateTopics(t, 3, raw, enriched, dlq)
		ips := []netip.Addr{ipMoved, ipNewly, ipStill, ipSteady}
		const perIP = 10
		var recs []*kgo.Record
		for i := range perIP * len(ips) {
			ev := event.RawEvent{SchemaVersion: 1, ID: uuid.Must(uuid.NewV7()), Name: "r", Data: json.RawMessage(`{}`),
				ReceivedAt: event.NewTimestamp(time.Now()), SourceIP: ips[i%len(ips)].String()}
			recs = append(recs, &kgo.Record{Topic: raw, Key: []byte(ev.ID.String()), Value: ev.AppendJSON(nil), Timestamp: ev.ReceivedAt.Time})
		}
		b.Produce(t, recs...)
		total := len(recs)

		base := processor.Config{
			Brokers: b.Brokers, RawTopic: raw, Topics: processor.Topics{Enriched: enriched, DLQ: dlq},
			Group: group, TransactionalID: group + ".txn", EnrichmentVersion: 1, MaxBatch: 25,
			TransactionTimeout: 30 * time.Second, SessionTimeout: 6 * time.Second, StartOffset: kgo.NewOffset().AtStart(),
		}
		// The live enricher, with the old build.
		live, err := processor.New(base, chainWith(buildOld), quietLog)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- live.Run(ctx, time.Second) }()
		if got := b.ReadCommitted(t, enriched, total, 30*time.Second); len(got) != total {
			t.Fatalf("live enricher wrote %d of %d", len(got), total)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		live.Close()

		// The database changes; replay everything.
		rctx, rcancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer rcancel()
		rep, err := replay.Run(rctx, base, chainWith(buildNew), replay.Options{Version: 7, Idle: time.Second}, quietLog)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %s", b.Name, rep)
		if rep.Version != 7 || rep.Read != int64(total) || rep.ReEnriched != int64(total) ||
			rep.LocationChanged != 2*perIP || rep.StillUnresolved != perIP || rep.NotEnrichedYet != 0 {
			t.Errorf("report %+v: want read=re-enriched=%d, changed %d, still unresolved %d", rep, total, 2*perIP, perIP)
		}

		// Every event now has a version-7 record carrying the new build's answer.
		newest := map[uuid.UUID]event.EnrichedEvent{}
		for _, r := range b.ReadCommitted(t, enriched, 2*total, 30*time.Second) {
			e, err := event.DecodeEnriched(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			if cur, ok := newest[e.ID]; !ok || e.EnrichmentVersion > cur.EnrichmentVersion {
				newest[e.ID] = e
			}
		}
		if len(newest) != total {
			t.Fatalf("%d events in the enriched topic, want %d", len(newest), total)
		}
		for _, e := range newest {
			want, known := buildNew.m[netip.MustParseAddr(e.SourceIP)]
			switch {
			case e.EnrichmentVersion != 7:
				t.Errorf("event %s newest version %d, want 7", e.ID, e.EnrichmentVersion)
			case known && (e.City == nil || *e.City != want.City || e.GeoDatabase != "db 2026-12"):
				t.Errorf("event from %s: %+v, want %s", e.SourceIP, e, want.City)
			case !known && e.GeoStatus != event.GeoStatusUnresolved:
				t.Errorf("event from %s should be unresolved: %+v", e.SourceIP, e)
			}
		}

		// Only the still-unresolved ones, with a later version.
		rep, err = replay.Run(rctx, base, chainWith(buildNew), replay.Options{Version: 8, OnlyUnresolved: true, Idle: time.Second}, quietLog)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %s", b.Name, rep)
		if rep.Read != int64(total) || rep.ReEnriched != perIP || rep.StillUnresolved != perIP || rep.LocationChanged != 0 {
			t.Errorf("only-unresolved report %+v: want read %d, re-enriched %d, still unresolved %d", rep, total, perIP, perIP)
		}
	})
}

func names(t *testing.T) (raw, enriched, dlq, group string) {
	n := kafkatest.UniqueName(t)
	return "it.raw." + n, "it.enriched." + n, "it.dlq." + n, "it.group." + n
}
