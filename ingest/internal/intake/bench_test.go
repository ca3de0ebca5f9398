package intake_test

import (
	"strings"
	"testing"

	"github.com/eventtarget/eventtarget/ingest/internal/intake"
)

// A typical 120-byte event, the size the reference load in ../shared used.
var typicalEvent = []byte(`{"name":"page_view","data":{"path":"/pricing","referrer":"https://example.com/","ms":1234,"tags":["a","b"]}}`)

func BenchmarkParseEvent(b *testing.B) {
	lim := intake.DefaultLimits()
	b.SetBytes(int64(len(typicalEvent)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := intake.ParseEvent(typicalEvent, lim); err != nil {
			b.Fatal(err)
		}
	}
}

// A batch of 1000 typical events, the load tool's largest.
var typicalBatch = []byte("[" + strings.TrimSuffix(strings.Repeat(string(typicalEvent)+",", 1000), ",") + "]")

func BenchmarkParseBatch(b *testing.B) {
	lim := intake.DefaultLimits()
	b.SetBytes(int64(len(typicalBatch)))
	b.ReportAllocs()
	for b.Loop() {
		items, err := intake.ParseBatch(typicalBatch, intake.FormatJSON, lim)
		if err != nil || len(items) != 1000 || items[999].Err != nil {
			b.Fatal(err)
		}
	}
}
