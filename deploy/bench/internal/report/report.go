// Package report writes a benchmark run as JSON (every figure) and Markdown
// (each figure beside its target from ../shared/TARGETS.md).
package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/eventtarget/eventtarget/deploy/bench/internal/proc"
	"github.com/eventtarget/eventtarget/deploy/bench/internal/profile"
	"github.com/eventtarget/eventtarget/deploy/bench/internal/stage"
)

// Report is the whole run.
type Report struct {
	Machine   string                 `json:"machine"`
	Broker    string                 `json:"broker"`
	StartedAt time.Time              `json:"started_at"`
	Seconds   float64                `json:"seconds"`
	Quick     bool                   `json:"quick"`
	Ingest    *stage.IngestResult    `json:"ingest,omitempty"`
	Enricher  []stage.EnricherResult `json:"enricher,omitempty"`
	Loader    *stage.LoaderResult    `json:"loader,omitempty"`
	Pipeline  *stage.PipelineResult  `json:"end_to_end,omitempty"`
	Query     []stage.QueryResult    `json:"query,omitempty"`
	Notes     []string               `json:"notes,omitempty"`
}

// Write puts report.json and report.md in dir.
func Write(dir string, r Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	j, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), j, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(Markdown(r)), 0o644)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// usage lists processes by name: "enricher 0.95 cores / 120 MiB, …".
func usage(u map[string]proc.Usage) string {
	names := make([]string, 0, len(u))
	for n := range u {
		names = append(names, n)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %.2f cores / %s", n, u[n].CPUCores, mib(u[n].PeakRSS))
	}
	return strings.Join(parts, ", ")
}

// Markdown renders the report for people.
func Markdown(r Report) string {
	var b strings.Builder
	quick := ""
	if r.Quick {
		quick = " Quick mode: short phases, indicative only."
	}
	fmt.Fprintf(&b, "# Event Target benchmark report\n\n%s; broker: %s; started %s; took %.0f s.%s\n\n",
		r.Machine, r.Broker, r.StartedAt.Format(time.RFC3339), r.Seconds, quick)
	b.WriteString("CPU is the average over the measured phase, in cores; RSS is each process's peak since it started. " +
		"loadgen is the load tool itself, on the same cores. Percentiles are of modest samples (the p99 of 200 probes is their third slowest).\n")
	if in := r.Ingest; in != nil {
		b.WriteString("\n## Ingest\n\n| measurement | result | target |\n|---|---|---|\n")
		fmt.Fprintf(&b, "| single-event POST at saturation (%d connections, closed loop) | %.0f req/s (%d failed) | ≥ 36,000 req/s |\n",
			in.Connections, in.Single.PerSecond, in.Single.Failed)
		fmt.Fprintf(&b, "| latency at 50%% of saturation (%.0f req/s, open loop) | p50 %s, p99 %s, p99.9 %s (max %s; %d failed; the tool's own send lag p99 %s) | p99 ≤ 3 ms |\n",
			in.Latency.Rate, ms(in.Latency.P50), ms(in.Latency.P99), ms(in.Latency.P999), ms(in.Latency.Max), in.Latency.Failed, ms(in.Latency.SendLagP99))
		for _, x := range in.Batches {
			fmt.Fprintf(&b, "| batch of %d, gzip %v (8 connections, closed loop) | %.0f events/s accepted (%d requests refused in part or whole) | ≥ 300,000 events/s |\n",
				x.Size, x.Gzip, x.EventsPerSec, x.Failed)
		}
		fmt.Fprintf(&b, "\nDuring saturation: %s.\n", usage(in.Usage))
	}
	if len(r.Enricher) > 0 {
		b.WriteString("\n## Enricher\n\nThe enricher process reads a pre-filled raw topic and writes the enriched topic in transactions (offsets included). " +
			"Rate from its first committed batch to its last. With the fake API on, a repeated address is a cache hit (the cache holds the API's answers); " +
			"with it off, DB-IP answers every lookup.\n\n| case | events | events/s | enricher CPU | events/s per enricher core | target |\n|---|---|---|---|---|---|\n")
		for _, x := range r.Enricher {
			cores := x.Usage["enricher"].CPUCores
			perCore, target := 0.0, "≥ 80,000 /core (DB misses)"
			if cores > 0 {
				perCore = x.PerSec / cores
			}
			if x.API && x.RepeatPercent > 0 {
				target = "≥ 150,000 /core (cache hits)"
			} else if x.API {
				target = "(API-bound)"
			}
			fmt.Fprintf(&b, "| %s | %d | %.0f | %.2f cores | %.0f | %s |\n", x.Name, x.Events, x.PerSec, cores, perCore, target)
		}
		var peak int64
		for _, x := range r.Enricher {
			peak = max(peak, x.Usage["enricher"].PeakRSS)
		}
		fmt.Fprintf(&b, "\nEnricher peak RSS over the cases: %s (target ≤ 256 MiB). Processes during the last case: %s.\n",
			mib(peak), usage(r.Enricher[len(r.Enricher)-1].Usage))
	}
	if l := r.Loader; l != nil {
		b.WriteString("\n## Loader\n\n| measurement | result | target |\n|---|---|---|\n")
		fmt.Fprintf(&b, "| pre-filled enriched topic into an empty table (default batching) | %.0f rows/s over %d rows (%d in the table after) | ≥ 300,000 rows/s |\n",
			l.PerSec, l.Events, l.RowsInTable)
		fmt.Fprintf(&b, "\nDuring the load: %s.\n", usage(l.Usage))
	}
	if p := r.Pipeline; p != nil {
		b.WriteString("\n## End to end\n\n")
		fmt.Fprintf(&b, "Ingest, enricher (fake API at 5 ms in front of DB-IP), loader and query as separate processes; events posted in batches of %d "+
			"at a constant rate (open loop) for %.0f s per step, from 100,000 client addresses; freshness measured by probes (one event every 100 ms, "+
			"polled by GET until it shows enriched, at intervals of a tenth of the time waited, so a figure is at most about 10 %% high), from the moment the probe was sent; a probe not queryable within 10 s counts as 10 s. "+
			"A step is sustained when every post is accepted, ≥ 97%% of the rate is accepted and freshness p99 < 2 s. Before each step the pipeline "+
			"drains: the enricher and the loader have committed everything.\n\n", p.BatchSize, p.StepSeconds)
		fmt.Fprintf(&b, "**Highest sustained rate: %.0f events/s; with freshness p99 also under 1 s: %.0f events/s** (target ≥ 50,000 events/s with freshness p99 < 1 s).\n\n",
			p.MaxSustained, p.MaxWithin1s)
		b.WriteString("| offered events/s | accepted events/s | freshness p50 / p99 | probes | verdict | CPU (cores) and peak RSS per process |\n|---|---|---|---|---|---|\n")
		for _, s := range p.Steps {
			fmt.Fprintf(&b, "| %.0f | %.0f | %s / %s | %d | %s | %s |\n", s.Rate, s.Achieved, freshness(s.FreshP50ms), freshness(s.FreshP99ms),
				s.Probes, s.Verdict, usage(s.Usage))
		}
	}
	if len(r.Query) > 0 {
		b.WriteString("\n## Query (one request at a time, through the query service)\n\n| rows | GET by uuid p50 / p99 | box search p50 / p99 (first page + count) | targets |\n|---|---|---|---|\n")
		for _, q := range r.Query {
			fmt.Fprintf(&b, "| %d | %.2f / %.2f ms | %.2f / %.2f ms | GET p99 ≤ 10 ms, box p99 ≤ 100 ms (at 10M) |\n",
				q.Rows, q.Get.P50ms, q.Get.P99ms, q.Box.P50ms, q.Box.P99ms)
		}
	}
	profiles(&b, r)
	if len(r.Notes) > 0 {
		b.WriteString("\n## Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}

// profiles renders the CPU profiles the stages took, if any.
func profiles(b *strings.Builder, r Report) {
	var all []*profile.Summary
	if r.Ingest != nil {
		all = append(all, r.Ingest.Profile)
	}
	for _, x := range r.Enricher {
		all = append(all, x.Profile)
	}
	if r.Loader != nil {
		all = append(all, r.Loader.Profile)
	}
	all = slices.DeleteFunc(all, func(s *profile.Summary) bool { return s == nil })
	if len(all) == 0 {
		return
	}
	b.WriteString("\n## Profiles\n\nCPU profiles of the Go services, taken through their pprof listeners while each stage's hottest phase ran again " +
		"after the measurements above: the profiler costs CPU of its own, so compare the rate while profiled with the figure above. " +
		"The files are in `profiles/`, beside this report (`go tool pprof -top <file>`). Shares are of each process's sampled CPU time; " +
		"cumulative lists our own functions with everything they call, flat any function's own time. " +
		"What earlier profiles showed and the improvements made from them, with before/after figures, are in `bench/PROFILE.md`.\n")
	for _, s := range all {
		fmt.Fprintf(b, "\n**%s, during %s** (%.0f s, %d samples, %.1f s of CPU; %.0f %s while profiled; `%s`)\n\n", s.Process, s.During,
			s.Seconds, s.Samples, s.CPU.Seconds(), s.PerSecond, s.Unit, s.File)
		b.WriteString("| our code, cumulative | share | any code, flat | share |\n|---|---|---|---|\n")
		for i := range max(len(s.Cumulative), len(s.Flat)) {
			var c, f [2]string
			if i < len(s.Cumulative) {
				c = [2]string{"`" + short(s.Cumulative[i].Function) + "`", pct(s.Cumulative[i].Share)}
			}
			if i < len(s.Flat) {
				f = [2]string{"`" + short(s.Flat[i].Function) + "`", pct(s.Flat[i].Share)}
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s |\n", c[0], c[1], f[0], f[1])
		}
	}
}

// short drops the module path of our functions and github.com/ of others.
func short(function string) string {
	if f, ok := strings.CutPrefix(function, profile.Prefix); ok {
		return f
	}
	return strings.TrimPrefix(function, "github.com/")
}

func pct(share float64) string { return fmt.Sprintf("%.0f %%", share*100) }

// freshness shows a probe percentile; probes that never became queryable
// count as the 10 s the tool waited, so that value means "10 s or more".
func freshness(msec float64) string {
	if msec >= 10_000 {
		return "≥ 10 s"
	}
	return fmt.Sprintf("%.0f ms", msec)
}
