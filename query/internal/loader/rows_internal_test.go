package loader

import (
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventtarget/eventtarget/schemas/event"
)

func TestToRowsKeepsTheNewestVersionOfEachEvent(t *testing.T) {
	l := &Loader{cfg: Config{RawTopic: "raw", EnrichedTopic: "enriched"}, log: slog.New(slog.DiscardHandler)}
	newRaw := func() event.RawEvent {
		return event.RawEvent{SchemaVersion: 1, ID: uuid.Must(uuid.NewV7()), Name: "n", Data: json.RawMessage(`{}`),
			ReceivedAt: event.NewTimestamp(time.Now()), SourceIP: "81.2.69.142"}
	}
	enriched := func(r event.RawEvent, version uint32) *kgo.Record {
		e := event.EnrichedEvent{RawEvent: r, GeoSource: event.GeoSourceNone, GeoStatus: event.GeoStatusUnresolved,
			EnrichedAt: r.ReceivedAt, EnrichmentVersion: version}
		return &kgo.Record{Topic: "enriched", Value: e.AppendJSON(nil)}
	}
	raw := func(r event.RawEvent) *kgo.Record { return &kgo.Record{Topic: "raw", Value: r.AppendJSON(nil)} }
	a, b := newRaw(), newRaw()
	rows := l.toRows([]*kgo.Record{
		raw(a), enriched(a, 1), raw(b), enriched(a, 3),
		enriched(a, 2), // a re-enrichment older than one already in the batch
		raw(a),         // a late duplicate of the raw record
		{Topic: "raw", Value: []byte("not an envelope")},
	})
	if len(rows) != 2 || rows[0].ID != a.ID || rows[0].Version != 3 || rows[1].ID != b.ID || rows[1].Version != 0 {
		t.Fatalf("rows: %+v; want a at version 3, then b raw", rows)
	}
	if got := l.Stats.Superseded.Load(); got != 4 {
		t.Errorf("superseded %d, want 4", got)
	}
	if got := l.Stats.Skipped.Load(); got != 1 {
		t.Errorf("skipped %d, want 1", got)
	}
}

func TestToRowsSkipsDecodingRawRecordsOfEnrichedEvents(t *testing.T) {
	l := &Loader{cfg: Config{RawTopic: "raw", EnrichedTopic: "enriched"}, log: slog.New(slog.DiscardHandler)}
	newRaw := func() event.RawEvent {
		return event.RawEvent{SchemaVersion: 1, ID: uuid.Must(uuid.NewV7()), Name: "n", Data: json.RawMessage(`{}`),
			ReceivedAt: event.NewTimestamp(time.Now()), SourceIP: "81.2.69.142"}
	}
	key := func(id uuid.UUID) []byte { return event.AppendUUID(nil, id) }
	a, b, c := newRaw(), newRaw(), newRaw()
	ea := event.EnrichedEvent{RawEvent: a, GeoSource: event.GeoSourceNone, GeoStatus: event.GeoStatusUnresolved, EnrichedAt: a.ReceivedAt, EnrichmentVersion: 1}
	rows := l.toRows([]*kgo.Record{
		// a's raw record is not decoded (its value is cut short: decoding
		// would fail) since a's enriched record is in the batch.
		{Topic: "raw", Key: key(a.ID), Value: a.AppendJSON(nil)[:90]},
		{Topic: "enriched", Key: key(a.ID), Value: ea.AppendJSON(nil)},
		// b's enriched record is broken: b's raw record still counts.
		{Topic: "raw", Key: key(b.ID), Value: b.AppendJSON(nil)},
		{Topic: "enriched", Key: key(b.ID), Value: []byte(`{"id":"` + b.ID.String() + `"`)},
		// c's raw record carries a's key: it is c's, so it is decoded.
		{Topic: "raw", Key: key(a.ID), Value: c.AppendJSON(nil)},
	})
	got := map[uuid.UUID]uint32{}
	for _, r := range rows {
		got[r.ID] = r.Version
	}
	if len(rows) != 3 || got[a.ID] != 1 || got[b.ID] != 0 || got[c.ID] != 0 {
		t.Fatalf("rows %+v; want a at version 1, b and c raw", rows)
	}
	if s, k := l.Stats.Superseded.Load(), l.Stats.Skipped.Load(); s != 1 || k != 1 {
		t.Errorf("superseded %d, skipped %d; want 1 (a's raw record) and 1 (b's enriched record)", s, k)
	}
}

// BenchmarkToRows turns a batch as the loader sees it under load into rows:
// 5,000 events, each with its raw record and, later in the batch, its
// enriched one.
func BenchmarkToRows(b *testing.B) {
	l := &Loader{cfg: Config{RawTopic: "raw", EnrichedTopic: "enriched"}, log: slog.New(slog.DiscardHandler)}
	city, iso, country, lat, lon := "London", "GB", "United Kingdom", 51.5, -0.12
	const events, lag = 5000, 150
	recs := make([]*kgo.Record, 0, 2*events)
	var enriched []*kgo.Record
	for i := range events {
		r := event.RawEvent{SchemaVersion: 1, ID: uuid.Must(uuid.NewV7()), Name: "page_view",
			Data:       json.RawMessage(`{"path":"/pricing","referrer":"https://example.com/","ms":1234,"tags":["a","b"]}`),
			ReceivedAt: event.NewTimestamp(time.Now()), SourceIP: "81.2.69.142"}
		e := event.EnrichedEvent{RawEvent: r, City: &city, CountryISO: &iso, CountryName: &country, Latitude: &lat, Longitude: &lon,
			GeoSource: event.GeoSourceMMDB, GeoDatabase: "dbip", GeoStatus: event.GeoStatusResolved, EnrichedAt: r.ReceivedAt, EnrichmentVersion: 1}
		key := event.AppendUUID(nil, r.ID)
		recs = append(recs, &kgo.Record{Topic: "raw", Key: key, Value: r.AppendJSON(nil)})
		enriched = append(enriched, &kgo.Record{Topic: "enriched", Key: key, Value: e.AppendJSON(nil)})
		// Each enriched record comes lag raw records after its raw one.
		if i >= lag {
			recs = append(recs, enriched[i-lag])
		}
	}
	recs = append(recs, enriched[events-lag:]...)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if rows := l.toRows(recs); len(rows) != events {
			b.Fatalf("%d rows, want %d", len(rows), events)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(recs)), "ns/record")
}
