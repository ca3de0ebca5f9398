// Command loadgen measures Event Target stage by stage — ingest, enricher,
// loader, the whole pipeline end to end, query — running the real service
// binaries against a broker and a ClickHouse server it is given, and writes
// a report (Markdown and JSON) with each figure beside its target.
// deploy/bench/run.sh (make bench) builds the binaries, starts the servers
// and runs it; -quick shortens every phase so that the test command can run
// it and the tool cannot rot. Configuration: flags or LOADGEN_* environment
// variables; see -help.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/eventtarget/eventtarget/deploy/bench/internal/report"
	"github.com/eventtarget/eventtarget/deploy/bench/internal/stage"
	"github.com/eventtarget/eventtarget/platform/cli"
	pconfig "github.com/eventtarget/eventtarget/platform/config"
)

func main() { cli.Main("loadgen", run) }

// allStages run in this order: the query stage last, as its 10M rows would
// weigh on ClickHouse during the others.
var allStages = []string{"ingest", "enricher", "loader", "e2e", "query"}

// sizes are the per-stage amounts of work, full or quick.
type sizes struct {
	ingest        stage.IngestPhases
	enricherN     int
	enricherCases []stage.EnricherCase
	loaderN       int
	rates         []float64
	step          time.Duration
	rows          []int
	querySamples  int
}

func full() sizes {
	return sizes{
		ingest:    stage.IngestPhases{Warm: 2 * time.Second, Saturate: 10 * time.Second, Latency: 10 * time.Second, Batch: 5 * time.Second},
		enricherN: 300_000, enricherCases: stage.EnricherCases(), loaderN: 1_000_000,
		rates: []float64{5_000, 10_000, 20_000, 30_000, 40_000, 50_000, 60_000, 80_000}, step: 20 * time.Second,
		// Box searches over 10M rows take seconds each on ClickHouse 18.16:
		// 50 of them (and 250 GETs) keep the full run within its 10 minutes.
		rows: []int{1_000_000, 10_000_000}, querySamples: 50,
	}
}

func quick() sizes {
	cases := stage.EnricherCases()
	return sizes{
		ingest:    stage.IngestPhases{Warm: 500 * time.Millisecond, Saturate: 2 * time.Second, Latency: 2 * time.Second, Batch: time.Second},
		enricherN: 20_000, enricherCases: []stage.EnricherCase{cases[0], cases[4]}, loaderN: 50_000,
		rates: []float64{2_000}, step: 4 * time.Second, rows: []int{100_000}, querySamples: 10,
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var env stage.Env
	fs.StringVar(&env.Bin, "bin", "bin", "folder of the built service binaries (make build)")
	fs.StringVar(&env.Brokers, "kafka-brokers", "127.0.0.1:9092", "Kafka bootstrap host:port")
	fs.StringVar(&env.ClickHouseNative, "clickhouse-native-addr", "127.0.0.1:9000", "ClickHouse native protocol host:port")
	fs.StringVar(&env.ClickHouseHTTP, "clickhouse-http-addr", "127.0.0.1:8123", "ClickHouse HTTP host:port (the same server)")
	dbip := fs.String("mmdb-paths", "", "comma-separated DB-IP .mmdb files for the enricher; empty skips the enricher stage")
	out := fs.String("out", "bench/out", "folder for report.md, report.json and the services' logs")
	quickMode := fs.Bool("quick", false, "short phases (under a minute in all), for the test command")
	broker := fs.String("broker", "embedded", "label of the broker under test, for the report")
	servers := fs.String("servers", "", "name=pid,... of servers to measure beside the services (broker, clickhouse)")
	stages := fs.String("stages", strings.Join(allStages, ","), "stages to run, comma-separated: "+strings.Join(allStages, ", "))
	conns := fs.Int("connections", 64, "concurrent connections for ingest saturation")
	enricherEvents := fs.Int("enricher-events", 0, "events per enricher case (0: 300000, or 20000 with -quick); more for profiling")
	enricherCases := fs.String("enricher-cases", "", "comma-separated indexes of the enricher cases to run (empty: the mode's)")
	profiles := fs.Bool("profile", true, "after the measurements, run ingest, the enricher and the loader again under the CPU profiler (into OUT/profiles)")
	if err := pconfig.Parse(fs, "LOADGEN", args, getenv); err != nil {
		return err
	}
	var err error
	if env.Servers, err = parsePIDs(*servers); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, s := range strings.Split(*stages, ",") {
		if !slices.Contains(allStages, s) {
			return fmt.Errorf("-stages: unknown stage %q (want %s)", s, strings.Join(allStages, ", "))
		}
		want[s] = true
	}
	if *dbip != "" {
		env.DBIP = strings.Split(*dbip, ",")
	}
	sz := full()
	if *quickMode {
		sz = quick()
	}
	if *enricherEvents > 0 {
		sz.enricherN = *enricherEvents
	}
	if *enricherCases != "" {
		all := stage.EnricherCases()
		sz.enricherCases = nil
		for _, f := range strings.Split(*enricherCases, ",") {
			i, err := strconv.Atoi(f)
			if err != nil || i < 0 || i >= len(all) {
				return fmt.Errorf("-enricher-cases %q: want indexes 0 to %d", *enricherCases, len(all)-1)
			}
			sz.enricherCases = append(sz.enricherCases, all[i])
		}
	}
	env.Quick, env.Log, env.Run = *quickMode, stderr, strconv.FormatInt(time.Now().UnixNano(), 36)
	if env.Dir, err = filepath.Abs(filepath.Join(*out, "logs")); err != nil {
		return err
	}
	if err := os.MkdirAll(env.Dir, 0o755); err != nil {
		return err
	}
	if *profiles {
		env.Profiles = filepath.Join(filepath.Dir(env.Dir), "profiles")
		if err := os.MkdirAll(env.Profiles, 0o755); err != nil {
			return err
		}
	}

	host, _ := os.Hostname()
	rep := report.Report{Machine: machine(host), Broker: *broker, StartedAt: time.Now().UTC(), Quick: *quickMode}
	var errs []error
	note := func(name string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s stage: %w", name, err))
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s stage failed: %v", name, err))
		}
	}
	if want["ingest"] {
		r, err := stage.Ingest(ctx, env, sz.ingest, *conns)
		rep.Ingest = &r
		note("ingest", err)
	}
	if want["enricher"] {
		if len(env.DBIP) == 0 {
			rep.Notes = append(rep.Notes, "enricher stage skipped: no DB-IP database (make geoip)")
		}
		r, err := stage.Enricher(ctx, env, sz.enricherCases, sz.enricherN)
		rep.Enricher = r
		note("enricher", err)
	}
	if want["loader"] {
		r, err := stage.Loader(ctx, env, sz.loaderN)
		rep.Loader = &r
		note("loader", err)
	}
	if want["e2e"] {
		r, err := stage.Pipeline(ctx, env, sz.rates, 100, sz.step)
		rep.Pipeline = &r
		note("end-to-end", err)
	}
	if want["query"] {
		r, err := stage.Query(ctx, env, sz.rows, sz.querySamples)
		rep.Query = r
		note("query", err)
	}
	rep.Seconds = time.Since(rep.StartedAt).Seconds()
	if err := report.Write(*out, rep); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "report written to %s\n", filepath.Join(*out, "report.md"))
	return errors.Join(errs...)
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
			return nil, fmt.Errorf("-servers %q: want name=pid,…", s)
		}
		out[name] = pid
	}
	return out, nil
}

func machine(host string) string {
	n := 0
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		n = strings.Count(string(b), "processor\t:")
	}
	return fmt.Sprintf("%s, %d cores, load tool and every process co-located", host, n)
}
