package loader_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventtarget/eventtarget/platform/kafkatest"
	"github.com/eventtarget/eventtarget/query/internal/chtest"
)

// BenchmarkIntegrationLoader measures the whole loader: fetch from an
// in-process kfake broker, decode, batch insert into ClickHouse, commit.
// Records are produced before the timer starts; rows/s is the loader's.
func BenchmarkIntegrationLoader(b *testing.B) {
	const perIter = 100_000
	_, s, _ := chtest.Open(b)
	be := kafkatest.NewFake(b)
	n := kafkatest.UniqueName(b)
	tp := topics{raw: "bench.raw." + n, enriched: "bench.enriched." + n}
	be.CreateTopics(b, 6, tp.raw, tp.enriched)
	prod := be.Client(b, kgo.DefaultProduceTopic(tp.raw))
	ctx := context.Background()
	for i := range perIter * b.N {
		r := rawEvent(i)
		prod.Produce(ctx, &kgo.Record{Key: []byte(r.ID.String()), Value: r.AppendJSON(nil)}, nil)
	}
	if err := prod.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	l := startLoaderT(b, be, tp, s, 10_000)
	for l.Stats.Rows.Load() < int64(perIter*b.N) {
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(perIter*b.N)/b.Elapsed().Seconds(), "rows/s")
}
