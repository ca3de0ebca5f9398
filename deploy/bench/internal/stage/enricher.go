package stage

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/eventtarget/eventtarget/deploy/bench/internal/proc"
	"github.com/eventtarget/eventtarget/deploy/bench/internal/profile"
)

// EnricherCase is one enricher configuration under load.
type EnricherCase struct {
	Name string `json:"name"`
	// API puts the fake ip-api in front of DB-IP, answering every public
	// address after APILatency; without it DB-IP answers every lookup.
	API        bool          `json:"api"`
	APILatency time.Duration `json:"api_latency"`
	// RepeatPercent of the events come from an address seen before: with
	// the API on, these are cache hits (the cache holds the API's answers).
	RepeatPercent int `json:"repeat_percent"`
}

// EnricherResult is one case's throughput: the enricher process reading a
// pre-filled raw topic and writing, in transactions, the enriched topic.
type EnricherResult struct {
	EnricherCase
	progress
	Usage map[string]proc.Usage `json:"usage"`
	// Profile is of a second run of the case, under the profiler.
	Profile *profile.Summary `json:"profile,omitempty"`
}

// EnricherCases are the configurations the issue asks for.
func EnricherCases() []EnricherCase {
	return []EnricherCase{
		{Name: "DB-IP only, every address new", RepeatPercent: 0},
		{Name: "DB-IP only, 90% repeated addresses", RepeatPercent: 90},
		{Name: "DB-IP only, 99% repeated addresses", RepeatPercent: 99},
		{Name: "fake API at 5 ms, 0% cache hits", API: true, APILatency: 5 * time.Millisecond, RepeatPercent: 0},
		{Name: "fake API at 5 ms, 90% cache hits", API: true, APILatency: 5 * time.Millisecond, RepeatPercent: 90},
		{Name: "fake API at 5 ms, 99% cache hits", API: true, APILatency: 5 * time.Millisecond, RepeatPercent: 99},
	}
}

// Enricher measures each case on n events.
func Enricher(ctx context.Context, e Env, cases []EnricherCase, n int) ([]EnricherResult, error) {
	if len(e.DBIP) == 0 {
		e.logf("enricher stage skipped: no DB-IP database (make geoip)")
		return nil, nil
	}
	var fake services
	if err := fake.add(e.start(ctx, "fakegeo", "FAKEGEO_", url(fakeGeoPort)+"/control/table",
		"LISTEN_ADDR="+local(fakeGeoPort), "SYNTHETIC=true", "LOG_LEVEL=warn")); err != nil {
		return nil, err
	}
	defer func() { _ = fake.stop() }()
	var out []EnricherResult
	for i, c := range cases {
		r, err := enricherCase(ctx, e, c, n, fmt.Sprintf("%s.%d", e.Run, i), fake, profiling{})
		if err != nil {
			return out, fmt.Errorf("enricher, %s: %w", c.Name, err)
		}
		e.logf("enricher, %s: %.0f events/s (enricher %.2f cores)", c.Name, r.PerSec, r.Usage["enricher"].CPUCores)
		out = append(out, r)
	}
	// The first case (all DB-IP lookups in the full run: the most work per
	// event) runs again under the profiler, which costs CPU of its own. Its
	// 2 s cover most of the run.
	pr := profiling{port: enricherPprofPort, d: 2 * time.Second}
	if len(out) > 0 && pr.on(e) {
		pr.during = cases[0].Name + ", run again"
		r, err := enricherCase(ctx, e, cases[0], n, e.Run+".profiled", fake, pr)
		if err != nil {
			return out, fmt.Errorf("enricher, %s, profiled: %w", cases[0].Name, err)
		}
		out[0].Profile = r.Profile
		out[0].Profile.PerSecond, out[0].Profile.Unit = r.PerSec, "events/s"
	}
	return out, nil
}

func enricherCase(ctx context.Context, e Env, c EnricherCase, n int, run string, fake services, pr profiling) (EnricherResult, error) {
	res := EnricherResult{EnricherCase: c}
	raw, enriched, group := "bench.enricher.raw."+run, "bench.enricher.enriched."+run, "bench.enricher."+run
	cl, err := newClient(e.Brokers)
	if err != nil {
		return res, err
	}
	defer cl.Close()
	if err := createTopics(ctx, cl, raw, enriched, "bench.enricher.dlq."+run); err != nil {
		return res, err
	}
	// Every address appears n/distinct times, in random order: the first
	// time is a miss, every other time a repeat.
	r := rand.New(rand.NewPCG(uint64(c.RepeatPercent), uint64(n)))
	distinct := max(1, n*(100-c.RepeatPercent)/100)
	ips := publicIPv4s(r, distinct)
	order := make([]int, n)
	for i := range order {
		order[i] = i % distinct
	}
	r.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	now := time.Now()
	err = produceAll(ctx, cl, raw, n, func(i int) ([]byte, []byte) {
		ev := rawEvent(ips[order[i]], now)
		return []byte(ev.ID.String()), ev.AppendJSON(nil)
	})
	if err != nil {
		return res, fmt.Errorf("fill %s: %w", raw, err)
	}
	api := []string{"GEO_API=none"}
	if c.API {
		if err := fakeLatency(ctx, c.APILatency); err != nil {
			return res, err
		}
		api = []string{"GEO_API=ip-api", "GEO_API_URL=" + url(fakeGeoPort)}
	}
	p, err := e.start(ctx, "enricher", "ENRICHER_", url(enricherPort)+"/readyz", append(append(api, pr.env(e)...),
		"HEALTH_ADDR="+local(enricherPort), "KAFKA_BROKERS="+e.Brokers, "RAW_TOPIC="+raw, "ENRICHED_TOPIC="+enriched,
		"DLQ_TOPIC=bench.enricher.dlq."+run, "TOPIC_REPLICATION_FACTOR=1", "GROUP="+group,
		"TRANSACTIONAL_ID="+group, "INSTANCE_ID="+group, "MMDB_PATHS="+strings.Join(e.DBIP, ","), "LOG_LEVEL=warn")...)
	if err != nil {
		return res, err
	}
	var also services
	if c.API {
		also = fake
	}
	res.progress, res.Usage, res.Profile, err = e.consume(ctx, p, also, cl, group, raw, n, pr)
	return res, err
}

// fakeLatency sets the fake API's answer delay.
func fakeLatency(ctx context.Context, d time.Duration) error {
	body := fmt.Sprintf(`{"latency":%q,"count":0}`, d.String())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url(fakeGeoPort)+"/control/latency", bytes.NewBufferString(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("fakegeo /control/latency: %d", resp.StatusCode)
	}
	return nil
}
