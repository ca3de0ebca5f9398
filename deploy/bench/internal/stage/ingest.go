package stage

import (
	"context"
	"strings"
	"time"

	"github.com/eventtarget/eventtarget/deploy/bench/internal/load"
	"github.com/eventtarget/eventtarget/deploy/bench/internal/proc"
	"github.com/eventtarget/eventtarget/deploy/bench/internal/profile"
)

// singleEvent is the 120-byte event of the reference measurements in ../shared.
const singleEvent = `{"name":"page_view","data":` + eventData + `}`

// IngestPhases are how long each ingest measurement runs.
type IngestPhases struct{ Warm, Saturate, Latency, Batch time.Duration }

// IngestResult is the ingest service alone in front of the broker.
type IngestResult struct {
	Connections int                   `json:"connections"`
	Single      load.Closed           `json:"single_saturation"`
	Latency     load.Open             `json:"single_latency_at_half_saturation"`
	Batches     []BatchResult         `json:"batches"`
	Usage       map[string]proc.Usage `json:"usage_during_saturation"`
	Profile     *profile.Summary      `json:"profile,omitempty"`
}

// BatchResult is one batch configuration's throughput.
type BatchResult struct {
	Size           int     `json:"size"`
	Gzip           bool    `json:"gzip"`
	RequestsPerSec float64 `json:"requests_per_second"`
	EventsPerSec   float64 `json:"events_per_second"`
	Failed         int64   `json:"failed"`
	FirstError     string  `json:"first_error,omitempty"`
}

// Ingest measures single-event saturation (closed loop, conns clients),
// open-loop latency at half that rate, and batch throughput.
func Ingest(ctx context.Context, e Env, ph IngestPhases, conns int) (IngestResult, error) {
	res := IngestResult{Connections: conns}
	var svc services
	defer func() { _ = svc.stop() }() // a closure: svc grows after this line
	// After the measurements, a shorter saturation phase runs under the
	// profiler, which costs CPU of its own: the figures above stay clean and
	// the rate while profiled shows the cost.
	pr := profiling{port: ingestPprofPort, d: ph.Saturate / 2, during: "single-event POST at saturation, run again"}
	if err := svc.add(e.start(ctx, "ingest", "INGEST_", url(ingestPort)+"/readyz", append(pr.env(e), "LISTEN_ADDR="+local(ingestPort),
		"KAFKA_BROKERS="+e.Brokers, "RAW_TOPIC=bench.ingest.raw."+e.Run, "RAW_TOPIC_REPLICATION_FACTOR=1", "LOG_LEVEL=warn")...)); err != nil {
		return res, err
	}
	c := load.NewSender(conns)
	single := load.Request{URL: url(ingestPort) + "/api/events/", Body: []byte(singleEvent), ContentType: "application/json", WantStatus: 201}
	load.ClosedLoop(ctx, c, single, conns, ph.Warm)
	meter := proc.NewMeter(e.pids(svc))
	res.Single = load.ClosedLoop(ctx, c, single, conns, ph.Saturate)
	res.Usage = meter.Stop()
	e.logf("ingest single saturation: %.0f req/s", res.Single.PerSecond)
	res.Latency = load.OpenLoop(ctx, c, single, res.Single.PerSecond/2, ph.Latency)
	e.logf("ingest open loop at %.0f req/s: p50 %v p99 %v p99.9 %v (failed %d: %s)", res.Latency.Rate, res.Latency.P50,
		res.Latency.P99, res.Latency.P999, res.Latency.Failed, res.Latency.FirstError)
	for _, size := range []int{100, 1000} {
		body := []byte("[" + strings.TrimSuffix(strings.Repeat(singleEvent+",", size), ",") + "]")
		for _, gz := range []bool{false, true} {
			req := load.Request{URL: url(ingestPort) + "/api/events/batch", Body: body, ContentType: "application/json", WantStatus: 200, Gzip: gz, Items: load.BatchItems}
			if gz {
				req.Body = load.Gzipped(body)
			}
			r := load.ClosedLoop(ctx, c, req, 8, ph.Batch)
			res.Batches = append(res.Batches, BatchResult{Size: size, Gzip: gz, RequestsPerSec: r.PerSecond,
				EventsPerSec: r.ItemsPerSecond, Failed: r.Failed, FirstError: r.FirstError})
			e.logf("ingest batch %d gzip=%v: %.0f events/s accepted (%d requests refused in part or whole: %s)",
				size, gz, r.ItemsPerSecond, r.Failed, r.FirstError)
		}
	}
	if pr.on(e) {
		capture := pr.start(ctx, e, "ingest")
		r := load.ClosedLoop(ctx, c, single, conns, pr.d+500*time.Millisecond)
		var err error
		if res.Profile, err = finish(capture); err != nil {
			return res, err
		}
		res.Profile.PerSecond, res.Profile.Unit = r.PerSecond, "req/s"
	}
	return res, svc.stop()
}
