// Package stage measures one part of the pipeline at a time, each on its
// own topics and database so that stages cannot disturb one another:
// ingest, enricher, loader, the whole pipeline end to end, and query. Every
// stage starts the real service binaries it needs (package proc) against the
// broker and ClickHouse server the caller provides, and stops them after.
package stage

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/eventtarget/eventtarget/deploy/bench/internal/proc"
)

// Env is what every stage runs against.
type Env struct {
	Bin     string // folder of the built service binaries
	Dir     string // scratch folder: service logs
	Brokers string // Kafka bootstrap host:port
	// ClickHouseNative and ClickHouseHTTP are host:port of one server.
	ClickHouseNative, ClickHouseHTTP string
	DBIP                             []string       // DB-IP .mmdb files; empty: stages that need them are skipped
	Quick                            bool           // short phases, indicative figures only
	Servers                          map[string]int // pids measured beside the services: broker, clickhouse
	Log                              io.Writer
	Run                              string // unique suffix of this run's topics and groups
	// Profiles, when set, is the folder for the CPU profiles stages take of
	// their services after measuring them (package profile); "" takes none.
	Profiles string
}

// The services' ports during a benchmark: apart from `make dev`'s and the
// tests', and below Linux's ephemeral range (32768 and up), where the load
// tool's own outgoing connections could hold a port a service is about to
// listen on.
const (
	ingestPort   = 27001
	queryPort    = 27002
	enricherPort = 27003
	loaderPort   = 27004
	fakeGeoPort  = 27090
	// Their pprof listeners, on only while a stage profiles them.
	ingestPprofPort   = 27011
	enricherPprofPort = 27013
	loaderPprofPort   = 27014
)

func local(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
func url(port int) string   { return "http://" + local(port) }

// start runs one service binary; env entries get the service's prefix.
func (e Env) start(ctx context.Context, name, prefix string, ready string, env ...string) (*proc.Proc, error) {
	vars := make([]string, len(env))
	for i, v := range env {
		vars[i] = prefix + v
	}
	return proc.Start(ctx, proc.Spec{Name: name, Bin: filepath.Join(e.Bin, name), Env: vars, Ready: ready,
		Log: filepath.Join(e.Dir, name+"-"+e.Run+".log")}, 2*time.Minute)
}

// services is a set of running services, stopped in reverse order.
type services []*proc.Proc

func (s *services) add(p *proc.Proc, err error) error {
	if err != nil {
		return err
	}
	*s = append(*s, p)
	return nil
}

func (s services) stop() error {
	var first error
	for i := len(s) - 1; i >= 0; i-- {
		if err := s[i].Stop(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// pids names every service and server to measure, and the load tool,
// which shares the cores.
func (e Env) pids(s services) map[string]int {
	out := map[string]int{"loadgen": os.Getpid()}
	for name, pid := range e.Servers {
		out[name] = pid
	}
	for _, p := range s {
		out[p.Name] = p.PID()
	}
	return out
}

func (e Env) logf(format string, args ...any) { fmt.Fprintf(e.Log, format+"\n", args...) }
