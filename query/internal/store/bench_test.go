package store_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventtarget/eventtarget/query/internal/chtest"
	"github.com/eventtarget/eventtarget/query/internal/store"
	"github.com/eventtarget/eventtarget/schemas/event"
)

// benchRows makes n enriched events spread over 30 days and the world.
func benchRows(n int, seed uint64) []store.Row {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b9))
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	rows := make([]store.Row, n)
	for i := range rows {
		ev := event.RawEvent{SchemaVersion: 1, ID: uuid.Must(uuid.NewV7()), Name: "page_view",
			Data:       json.RawMessage(`{"path":"/pricing","ms":1234}`),
			ReceivedAt: event.NewTimestamp(base.Add(time.Duration(r.IntN(30*24*3600*1000)) * time.Millisecond)),
			SourceIP:   "81.2.69.142", UserAgent: "Mozilla/5.0"}
		p := places[r.IntN(len(places))]
		lat, lon := max(-90, min(90, p.lat+r.NormFloat64()*10)), p.lon+r.NormFloat64()*10
		if lon > 180 {
			lon -= 360
		} else if lon < -180 {
			lon += 360
		}
		en := enriched(ev, 1, p.city, p.iso, lat, lon)
		rows[i] = store.EnrichedRow(&en)
	}
	return rows
}

// BenchmarkIntegrationInsert reports rows/s of batch inserts of 10,000 rows,
// the loader's default batch.
func BenchmarkIntegrationInsert(b *testing.B) {
	_, s, _ := chtest.Open(b)
	rows := benchRows(10_000, 1)
	b.ResetTimer()
	for b.Loop() {
		if err := s.Insert(context.Background(), rows); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(rows))/b.Elapsed().Seconds(), "rows/s")
}

func percentiles(b *testing.B, d []time.Duration) {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	at := func(q float64) float64 { return float64(d[int(q*float64(len(d)-1))].Microseconds()) / 1000 }
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

// BenchmarkIntegrationReads1M loads 1M events, then measures GET by uuid
// and box searches (first page of 10, with its count, as the API runs them).
func BenchmarkIntegrationReads1M(b *testing.B) {
	_, s, _ := chtest.Open(b)
	const n = 1_000_000
	var ids []uuid.UUID
	start := time.Now()
	for i := 0; i < n; i += 100_000 {
		rows := benchRows(100_000, uint64(i+1))
		for j := 0; j < len(rows); j += 997 {
			ids = append(ids, rows[j].ID)
		}
		for j := 0; j < len(rows); j += 20_000 {
			if err := s.Insert(context.Background(), rows[j:j+20_000]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Logf("loaded %d rows in %v", n, time.Since(start).Round(time.Millisecond))
	ctx := context.Background()
	r := rand.New(rand.NewPCG(3, 4))

	b.Run("get-by-uuid", func(b *testing.B) {
		var d []time.Duration
		for i := 0; b.Loop(); i++ {
			t0 := time.Now()
			if _, err := s.Get(ctx, ids[i%len(ids)]); err != nil {
				b.Fatal(err)
			}
			d = append(d, time.Since(t0))
		}
		percentiles(b, d)
	})
	b.Run("box-search", func(b *testing.B) {
		var d []time.Duration
		for b.Loop() {
			p := places[r.IntN(len(places))]
			f := store.Filter{LatMin: ptr(p.lat - 5), LatMax: ptr(p.lat + 5), LonMin: ptr(p.lon - 5), LonMax: ptr(p.lon + 5)}
			t0 := time.Now()
			if _, err := s.List(ctx, f, nil, 0, 10); err != nil {
				b.Fatal(err)
			}
			if _, err := s.Count(ctx, f); err != nil {
				b.Fatal(err)
			}
			d = append(d, time.Since(t0))
		}
		percentiles(b, d)
	})
}
