package stage

import (
	"context"
	"fmt"
	"time"

	"github.com/eventtarget/eventtarget/deploy/bench/internal/load"
)

// QueryResult is the query service's latency over a table of Rows events.
type QueryResult struct {
	Rows        int            `json:"rows"`
	FillSeconds float64        `json:"fill_seconds"`
	Get         load.Latencies `json:"get_by_uuid"`
	Box         load.Latencies `json:"box_search"`
}

// Query grows a synthetic table to each size in turn and times GETs by uuid
// (samples×5) and box searches (samples) through the query service, one
// request at a time.
func Query(ctx context.Context, e Env, sizes []int, samples int) ([]QueryResult, error) {
	const db = "bench"
	ch := load.NewClickHouse("http://"+e.ClickHouseHTTP, db)
	if _, err := load.NewClickHouse("http://"+e.ClickHouseHTTP, "default").Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
		return nil, err
	}
	var svc services
	defer func() { _ = svc.stop() }() // a closure: svc grows after this line
	if err := svc.add(e.start(ctx, "query", "QUERY_", url(queryPort)+"/readyz", "LISTEN_ADDR="+local(queryPort),
		"CLICKHOUSE_NATIVE_ADDR="+e.ClickHouseNative, "CLICKHOUSE_HTTP_ADDR="+e.ClickHouseHTTP, "CLICKHOUSE_DATABASE="+db, "LOG_LEVEL=warn")); err != nil {
		return nil, err
	}
	c := load.Client(4)
	var out []QueryResult
	have := 0
	for _, n := range sizes {
		t0 := time.Now()
		if err := ch.Fill(ctx, n-have); err != nil {
			return nil, err
		}
		have = n
		fill := time.Since(t0)
		ids, err := ch.SampleIDs(ctx, 1000)
		if err != nil || len(ids) == 0 {
			return nil, fmt.Errorf("sample ids: %v", err)
		}
		r := QueryResult{Rows: n, FillSeconds: fill.Seconds()}
		r.Get = load.GetLatencies(ctx, c, url(queryPort), ids, samples*5)
		r.Box = load.BoxLatencies(ctx, c, url(queryPort), samples)
		e.logf("query at %d rows: GET p50 %v p99 %v; box p50 %v p99 %v", n, r.Get.P50, r.Get.P99, r.Box.P50, r.Box.P99)
		out = append(out, r)
	}
	if err := svc.stop(); err != nil {
		return out, err
	}
	_, err := ch.Exec(ctx, "DROP DATABASE "+db)
	return out, err
}
