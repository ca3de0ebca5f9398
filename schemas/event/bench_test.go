package event_test

import (
	"encoding/json"
	"testing"

	"github.com/eventtarget/eventtarget/schemas/event"
)

func BenchmarkRawEventAppendJSON(b *testing.B) {
	ev := sampleRaw(`{"path":"/pricing","referrer":"https://example.com/","ms":1234,"tags":["a","b"]}`)
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = ev.AppendJSON(buf[:0])
	}
}

func BenchmarkRawEventEncodingJSON(b *testing.B) {
	ev := sampleRaw(`{"path":"/pricing","referrer":"https://example.com/","ms":1234,"tags":["a","b"]}`)
	type plain struct {
		SchemaVersion int             `json:"schema_version"`
		ID            string          `json:"id"`
		Name          string          `json:"name"`
		Data          json.RawMessage `json:"data"`
		ReceivedAt    string          `json:"received_at"`
		SourceIP      string          `json:"source_ip"`
		UserAgent     string          `json:"user_agent"`
	}
	p := plain{1, ev.ID.String(), ev.Name, ev.Data, ev.ReceivedAt.String(), ev.SourceIP, ev.UserAgent}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeRaw is the enricher's first step on every record.
func BenchmarkDecodeRaw(b *testing.B) {
	ev := sampleRaw(`{"path":"/pricing","referrer":"https://example.com/","ms":1234,"tags":["a","b"]}`)
	value := ev.AppendJSON(nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := event.DecodeRaw(value); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeEnriched is the loader's first step on every record.
func BenchmarkDecodeEnriched(b *testing.B) {
	raw := sampleRaw(`{"path":"/pricing","referrer":"https://example.com/","ms":1234,"tags":["a","b"]}`)
	city, iso, country, lat, lon := "London", "GB", "United Kingdom", 51.5142, -0.0931
	ev := event.EnrichedEvent{RawEvent: raw, City: &city, CountryISO: &iso, CountryName: &country, Latitude: &lat, Longitude: &lon,
		GeoSource: event.GeoSourceMMDB, GeoDatabase: "dbip-city-lite", GeoStatus: event.GeoStatusResolved,
		EnrichedAt: raw.ReceivedAt, EnrichmentVersion: 1}
	value := ev.AppendJSON(nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := event.DecodeEnriched(value); err != nil {
			b.Fatal(err)
		}
	}
}
