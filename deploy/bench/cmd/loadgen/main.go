// Command loadgen measures Event Target's ingest tier and writes a report
// (Markdown and JSON) beside the targets it is held to. deploy/bench/run.sh
// (make bench) starts the pipeline pieces it needs and runs it; -quick makes
// every phase short, so that the test command can run it and the tool cannot
// rot. Configuration: flags or LOADGEN_* environment variables; see -help.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/eventtarget/eventtarget/deploy/bench/internal/load"
	"github.com/eventtarget/eventtarget/platform/cli"
	pconfig "github.com/eventtarget/eventtarget/platform/config"
)

func main() { cli.Main("loadgen", run) }

// event is the 120-byte event of the reference measurements in ../shared.
const event = `{"name":"page_view","data":{"path":"/pricing","referrer":"https://example.com/","ms":1234,"tags":["a","b"]}}`

type phases struct{ warm, saturate, latency, batch time.Duration }

// Report is the whole run.
type Report struct {
	Machine     string             `json:"machine"`
	Broker      string             `json:"broker"`
	StartedAt   time.Time          `json:"started_at"`
	Quick       bool               `json:"quick"`
	Connections int                `json:"connections"`
	Single      load.Closed        `json:"single_saturation"`
	Latency     load.Open          `json:"single_latency_at_half_saturation"`
	Batches     []BatchResult      `json:"batches"`
	Query       []QueryResult      `json:"query,omitempty"`
	Processes   map[string]Process `json:"processes"`
}

// BatchResult is one batch configuration's throughput.
type BatchResult struct {
	Size           int     `json:"size"`
	Gzip           bool    `json:"gzip"`
	RequestsPerSec float64 `json:"requests_per_second"`
	EventsPerSec   float64 `json:"events_per_second"`
	Failed         int64   `json:"failed"`
}

// QueryResult is the query service's latency over a table of Rows events.
type QueryResult struct {
	Rows        int            `json:"rows"`
	FillSeconds float64        `json:"fill_seconds"`
	Get         load.Latencies `json:"get_by_uuid"`
	Box         load.Latencies `json:"box_search"`
}

// Process is one server process's cost during the single-event saturation phase.
type Process struct {
	PID      int     `json:"pid"`
	CPUCores float64 `json:"cpu_cores_during_saturation"`
	PeakRSS  int64   `json:"peak_rss_bytes"`
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("ingest-url", "http://127.0.0.1:8001", "ingest base URL")
	out := fs.String("out", "bench/out", "folder for report.md and report.json")
	conns := fs.Int("connections", 64, "concurrent connections for saturation")
	quick := fs.Bool("quick", false, "short phases (about 15 s in all), for the test command")
	broker := fs.String("broker", "embedded", "label of the broker under test, for the report")
	pids := fs.String("pids", "", "name=pid,... of server processes to measure (CPU, peak RSS)")
	queryURL := fs.String("query-url", "", "query service base URL; empty skips the query stage")
	chURL := fs.String("clickhouse-http", "http://127.0.0.1:8123", "ClickHouse HTTP interface the query service reads (filled with synthetic rows)")
	chDB := fs.String("clickhouse-database", "bench", "database of the events table")
	rowsFlag := fs.String("rows", "1000000,10000000", "table sizes at which the query stage measures, comma-separated, ascending")
	if err := pconfig.Parse(fs, "LOADGEN", args, getenv); err != nil {
		return err
	}
	ph := phases{warm: 2 * time.Second, saturate: 10 * time.Second, latency: 10 * time.Second, batch: 5 * time.Second}
	if *quick {
		ph = phases{warm: 500 * time.Millisecond, saturate: 2 * time.Second, latency: 2 * time.Second, batch: time.Second}
	}
	procs, err := parsePIDs(*pids)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	rep := Report{Machine: machine(host), Broker: *broker, StartedAt: time.Now().UTC(), Quick: *quick, Connections: *conns, Processes: map[string]Process{}}
	c := load.Client(*conns)
	single := load.Request{URL: *url + "/api/events/", Body: []byte(event), ContentType: "application/json", WantStatus: 201}

	load.ClosedLoop(ctx, c, single, *conns, ph.warm)
	before := cpu(procs)
	rep.Single = load.ClosedLoop(ctx, c, single, *conns, ph.saturate)
	after := cpu(procs)
	for name, pid := range procs {
		rss, _ := load.PeakRSS(pid)
		rep.Processes[name] = Process{PID: pid, CPUCores: (after[name] - before[name]).Seconds() / rep.Single.Elapsed.Seconds(), PeakRSS: rss}
	}
	fmt.Fprintf(stderr, "single saturation: %.0f req/s\n", rep.Single.PerSecond)
	rep.Latency = load.OpenLoop(ctx, c, single, rep.Single.PerSecond/2, ph.latency)
	fmt.Fprintf(stderr, "open loop at %.0f req/s: p50 %v p99 %v p99.9 %v (failed %d: %s)\n", rep.Latency.Rate, rep.Latency.P50,
		rep.Latency.P99, rep.Latency.P999, rep.Latency.Failed, rep.Latency.FirstError)

	for _, size := range []int{100, 1000} {
		body := []byte("[" + strings.TrimSuffix(strings.Repeat(event+",", size), ",") + "]")
		for _, gz := range []bool{false, true} {
			req := load.Request{URL: *url + "/api/events/batch", Body: body, ContentType: "application/json", WantStatus: 200, Gzip: gz}
			if gz {
				req.Body = load.Gzipped(body)
			}
			r := load.ClosedLoop(ctx, c, req, 8, ph.batch)
			rep.Batches = append(rep.Batches, BatchResult{Size: size, Gzip: gz, RequestsPerSec: r.PerSecond, EventsPerSec: r.PerSecond * float64(size), Failed: r.Failed})
			fmt.Fprintf(stderr, "batch %d gzip=%v: %.0f events/s\n", size, gz, r.PerSecond*float64(size))
		}
	}
	if *queryURL != "" {
		var sizes []int
		for _, f := range strings.Split(*rowsFlag, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				return fmt.Errorf("-rows %q: want ascending row counts", *rowsFlag)
			}
			sizes = append(sizes, n)
		}
		// Box searches over 10M rows take long on ClickHouse 18.16: 50 of
		// them (and 250 GETs) keep the full run within its 10 minutes.
		samples := 50
		if *quick {
			samples = 10
		}
		q, err := queryStage(ctx, load.NewClickHouse(*chURL, *chDB), *queryURL, sizes, samples, stderr)
		if err != nil {
			return err
		}
		rep.Query = q
	}
	if err := write(*out, rep); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "report written to %s\n", filepath.Join(*out, "report.md"))
	return nil
}

// queryStage grows the table to each size and times GETs and box searches
// through the query service, one request at a time.
func queryStage(ctx context.Context, ch *load.ClickHouse, base string, sizes []int, samples int, log io.Writer) ([]QueryResult, error) {
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
		r.Get = load.GetLatencies(ctx, c, base, ids, samples*5)
		r.Box = load.BoxLatencies(ctx, c, base, samples)
		fmt.Fprintf(log, "query at %d rows: GET p50 %v p99 %v; box p50 %v p99 %v\n", n, r.Get.P50, r.Get.P99, r.Box.P50, r.Box.P99)
		out = append(out, r)
	}
	return out, nil
}

func parsePIDs(s string) (map[string]int, error) {
	out := map[string]int{}
	for _, kv := range strings.Split(s, ",") {
		if kv == "" {
			continue
		}
		name, v, ok := strings.Cut(kv, "=")
		pid, err := strconv.Atoi(v)
		if !ok || err != nil {
			return nil, fmt.Errorf("-pids %q: want name=pid,…", s)
		}
		out[name] = pid
	}
	return out, nil
}

func cpu(procs map[string]int) map[string]time.Duration {
	out := map[string]time.Duration{}
	for name, pid := range procs {
		out[name], _ = load.CPUTime(pid)
	}
	return out
}

func machine(host string) string {
	n := 0
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		n = strings.Count(string(b), "processor\t:")
	}
	return fmt.Sprintf("%s, %d cores, load tool and servers co-located", host, n)
}

func write(dir string, rep Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	j, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "report.json"), j, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(markdown(rep)), 0o644)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// markdown puts each figure beside its target (../shared/TARGETS.md).
func markdown(r Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Event Target benchmark report\n\n%s; broker: %s; %s%s.\n\n", r.Machine, r.Broker,
		r.StartedAt.Format(time.RFC3339), map[bool]string{true: " (quick mode: short phases, indicative only)", false: ""}[r.Quick])
	b.WriteString("## Ingest\n\n| measurement | result | target |\n|---|---|---|\n")
	fmt.Fprintf(&b, "| single-event POST at saturation (%d connections, closed loop) | %.0f req/s (%d failed) | ≥ 36,000 req/s |\n",
		r.Connections, r.Single.PerSecond, r.Single.Failed)
	fmt.Fprintf(&b, "| latency at 50%% of saturation (%.0f req/s, open loop) | p50 %s, p99 %s, p99.9 %s (max %s; %d failed) | p99 ≤ 3 ms |\n",
		r.Latency.Rate, ms(r.Latency.P50), ms(r.Latency.P99), ms(r.Latency.P999), ms(r.Latency.Max), r.Latency.Failed)
	for _, x := range r.Batches {
		fmt.Fprintf(&b, "| batch of %d, gzip %v (8 connections) | %.0f events/s (%d failed) | ≥ 300,000 events/s |\n", x.Size, x.Gzip, x.EventsPerSec, x.Failed)
	}
	if len(r.Query) > 0 {
		b.WriteString("\n## Query (one request at a time, through the query service)\n\n| rows | GET by uuid p50 / p99 | box search p50 / p99 (first page + count) | targets |\n|---|---|---|---|\n")
		for _, q := range r.Query {
			fmt.Fprintf(&b, "| %d | %.2f / %.2f ms | %.2f / %.2f ms | GET p99 ≤ 10 ms, box p99 ≤ 100 ms (at 10M) |\n",
				q.Rows, q.Get.P50ms, q.Get.P99ms, q.Box.P50ms, q.Box.P99ms)
		}
	}
	if len(r.Processes) > 0 {
		b.WriteString("\n## Processes during the saturation phase\n\n| process | CPU (cores) | peak RSS | target |\n|---|---|---|---|\n")
		for name, p := range r.Processes {
			target := "≤ 256 MiB"
			if name == "broker" {
				target = "(excepted)"
			}
			fmt.Fprintf(&b, "| %s | %.2f | %.1f MiB | %s |\n", name, p.CPUCores, float64(p.PeakRSS)/(1<<20), target)
		}
	}
	return b.String()
}
