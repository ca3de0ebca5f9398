package stage

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/eventtarget/eventtarget/deploy/bench/internal/load"
	"github.com/eventtarget/eventtarget/deploy/bench/internal/proc"
	"github.com/eventtarget/eventtarget/deploy/bench/internal/profile"
	"github.com/eventtarget/eventtarget/schemas/event"
)

// LoaderResult is the loader process copying a pre-filled enriched topic
// into an empty ClickHouse table, with its default batching.
type LoaderResult struct {
	progress
	RowsInTable int64                 `json:"rows_in_table"`
	Usage       map[string]proc.Usage `json:"usage"`
	// Profile is of a second load, under the profiler.
	Profile *profile.Summary `json:"profile,omitempty"`
}

// Loader measures rows/s into ClickHouse over n enriched events, then loads
// them again, into a new table, under the profiler (which costs CPU of its
// own, so the figure above stays clean).
func Loader(ctx context.Context, e Env, n int) (LoaderResult, error) {
	res, err := loaderRun(ctx, e, n, e.Run, profiling{})
	if err != nil {
		return res, err
	}
	e.logf("loader: %.0f rows/s (loader %.2f cores, clickhouse %.2f cores)", res.PerSec, res.Usage["loader"].CPUCores, res.Usage["clickhouse"].CPUCores)
	// The profile covers most of the load (about 4 s in the full run).
	if pr := (profiling{port: loaderPprofPort, d: 3 * time.Second, during: "loading the pre-filled topic, run again"}); pr.on(e) {
		again, err := loaderRun(ctx, e, n, e.Run+".profiled", pr)
		if err != nil {
			return res, fmt.Errorf("loader, profiled: %w", err)
		}
		res.Profile = again.Profile
		res.Profile.PerSecond, res.Profile.Unit = again.PerSec, "rows/s"
	}
	return res, nil
}

// loaderRun fills an enriched topic with n events and measures the loader
// copying it into a new database.
func loaderRun(ctx context.Context, e Env, n int, run string, pr profiling) (LoaderResult, error) {
	var res LoaderResult
	raw, enriched, group := "bench.loader.raw."+run, "bench.loader.enriched."+run, "bench.loader."+run
	db := "bench_loader_" + strings.ReplaceAll(run, ".", "_")
	cl, err := newClient(e.Brokers)
	if err != nil {
		return res, err
	}
	defer cl.Close()
	if err := createTopics(ctx, cl, raw, enriched); err != nil {
		return res, err
	}
	r := rand.New(rand.NewPCG(3, 4))
	ips := publicIPv4s(r, 10_000)
	now := time.Now()
	city, iso, country := "London", "GB", "United Kingdom"
	err = produceAll(ctx, cl, enriched, n, func(i int) ([]byte, []byte) {
		lat, lon := r.Float64()*170-85, r.Float64()*360-180
		ev := event.EnrichedEvent{RawEvent: rawEvent(ips[i%len(ips)], now), City: &city, CountryISO: &iso, CountryName: &country,
			Latitude: &lat, Longitude: &lon, GeoSource: event.GeoSourceMMDB, GeoDatabase: "bench", GeoStatus: event.GeoStatusResolved,
			EnrichedAt: event.NewTimestamp(now), EnrichmentVersion: 1}
		return []byte(ev.ID.String()), ev.AppendJSON(nil)
	})
	if err != nil {
		return res, fmt.Errorf("fill %s: %w", enriched, err)
	}
	p, err := e.start(ctx, "loader", "LOADER_", url(loaderPort)+"/readyz", append(pr.env(e),
		"HEALTH_ADDR="+local(loaderPort), "KAFKA_BROKERS="+e.Brokers, "RAW_TOPIC="+raw, "ENRICHED_TOPIC="+enriched,
		"GROUP="+group, "CLICKHOUSE_NATIVE_ADDR="+e.ClickHouseNative, "CLICKHOUSE_HTTP_ADDR="+e.ClickHouseHTTP,
		"CLICKHOUSE_DATABASE="+db, "LOG_LEVEL=warn")...)
	if err != nil {
		return res, err
	}
	res.progress, res.Usage, res.Profile, err = e.consume(ctx, p, nil, cl, group, enriched, n, pr)
	if err != nil {
		return res, err
	}
	// Committed offsets are the loader's word; the table is the proof.
	ch := load.NewClickHouse("http://"+e.ClickHouseHTTP, db)
	got, err := ch.Exec(ctx, "SELECT count() FROM events")
	if err != nil {
		return res, err
	}
	res.RowsInTable, _ = strconv.ParseInt(strings.TrimSpace(got), 10, 64)
	if res.RowsInTable != int64(n) {
		return res, fmt.Errorf("loader: %d rows in the table after committing %d events", res.RowsInTable, n)
	}
	_, err = ch.Exec(ctx, "DROP DATABASE "+db)
	return res, err
}
