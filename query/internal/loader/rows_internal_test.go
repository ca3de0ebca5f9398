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
