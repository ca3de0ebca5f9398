// Package app assembles the enricher: the geolocation chain (remote API,
// local databases, cache), the topics, the transactional processor and the
// health endpoints; and runs it, or a replay, for the lifetime of a context.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventtarget/eventtarget/enricher/internal/config"
	"github.com/eventtarget/eventtarget/enricher/internal/geo"
	"github.com/eventtarget/eventtarget/enricher/internal/geo/mmdb"
	"github.com/eventtarget/eventtarget/enricher/internal/geo/remote"
	"github.com/eventtarget/eventtarget/enricher/internal/processor"
	"github.com/eventtarget/eventtarget/enricher/internal/replay"
	"github.com/eventtarget/eventtarget/platform/httpserver"
	"github.com/eventtarget/eventtarget/platform/kafka"
)

// sources are the geolocation chain and what must be closed after it.
type sources struct {
	chain  *geo.Chain
	local  *mmdb.Reloader
	remote *remote.Client
}

func openSources(ctx context.Context, cfg config.Config, log *slog.Logger) (*sources, error) {
	local, err := mmdb.NewReloader(cfg.MMDB, log.With("component", "mmdb"))
	if err != nil {
		return nil, err
	}
	if err := local.Start(ctx); err != nil {
		local.Close()
		return nil, err
	}
	s := &sources{local: local}
	var r geo.Remote
	if cfg.APIFormat != config.APINone {
		s.remote, err = remote.New(cfg.Remote, remote.WithLogger(log.With("component", "geo-api")))
		if err != nil {
			s.close()
			return nil, err
		}
		r = s.remote
	}
	var l geo.Local
	if len(cfg.MMDB.Paths) > 0 {
		l = local
	}
	s.chain = geo.NewChain(geo.ChainConfig{CacheSize: cfg.CacheSize, CacheTTL: cfg.CacheTTL}, r, l, log)
	api := config.APINone
	if s.remote != nil {
		api = cfg.APIFormat + " " + cfg.Remote.BaseURL
	}
	log.Info("geolocation sources", "api", api, "local_database", local.Database())
	return s, nil
}

func (s *sources) close() {
	if s.remote != nil {
		s.remote.Close()
	}
	s.local.Close()
}

func processorConfig(cfg config.Config) processor.Config {
	return processor.Config{
		Brokers:            cfg.Brokers,
		RawTopic:           cfg.RawTopic,
		Topics:             processor.Topics{Enriched: cfg.EnrichedTopic, DLQ: cfg.DLQTopic},
		Group:              cfg.Group,
		TransactionalID:    cfg.TransactionalID,
		InstanceID:         cfg.InstanceID,
		EnrichmentVersion:  uint32(cfg.EnrichmentVersion),
		MaxBatch:           cfg.MaxBatch,
		TransactionTimeout: cfg.TransactionTimeout,
		SessionTimeout:     cfg.SessionTimeout,
		StartOffset:        kgo.NewOffset().AtStart(),
		FetchMaxBytes:      cfg.FetchMaxBytes,
	}
}

// ensureTopics creates the raw, enriched and dead-letter topics if absent, so
// the enricher may start before ingest.
func ensureTopics(ctx context.Context, cfg config.Config, cl *kgo.Client, log *slog.Logger) error {
	spec := func(name string) kafka.TopicSpec {
		return kafka.TopicSpec{Name: name, Partitions: int32(cfg.TopicPartitions), ReplicationFactor: int16(cfg.ReplicationFactor)}
	}
	sctx, cancel := context.WithTimeout(ctx, cfg.StartupTimeout)
	defer cancel()
	return kafka.EnsureTopics(sctx, kadm.NewClient(cl), log, spec(cfg.RawTopic), spec(cfg.EnrichedTopic), spec(cfg.DLQTopic))
}

// Run enriches until ctx is done. ready, if set, gets the health address.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger, ready func(healthAddr string)) error {
	src, err := openSources(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer src.close()

	p, err := processor.New(processorConfig(cfg), src.chain, log)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := ensureTopics(ctx, cfg, p.Client(), log); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	var running atomic.Bool
	ln, err := net.Listen("tcp", cfg.HealthAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.HealthAddr, err)
	}
	srv := &http.Server{Handler: healthHandler(p.Client, &running), ReadHeaderTimeout: 5 * time.Second}
	hctx, stopHealth := context.WithCancel(context.WithoutCancel(ctx))
	healthDone := make(chan error, 1)
	go func() { healthDone <- httpserver.Serve(hctx, srv, ln, 5*time.Second, log) }()
	defer func() { stopHealth(); <-healthDone }()
	if ready != nil {
		ready(ln.Addr().String())
	}

	if cfg.PprofAddr != "" {
		go httpserver.ServePprof(ctx, cfg.PprofAddr, log)
	}
	go logStats(ctx, p, log)
	log.Info("enricher started", "raw_topic", cfg.RawTopic, "enriched_topic", cfg.EnrichedTopic,
		"group", cfg.Group, "transactional_id", cfg.TransactionalID, "enrichment_version", cfg.EnrichmentVersion)
	running.Store(true)
	err = p.Run(ctx, cfg.ShutdownTimeout)
	running.Store(false)
	log.Info("enricher stopped", "stats", &p.Stats)
	return err
}

// Replay re-enriches history and returns its report.
func Replay(ctx context.Context, cfg config.Config, opts replay.Options, log *slog.Logger) (replay.Report, error) {
	src, err := openSources(ctx, cfg, log)
	if err != nil {
		return replay.Report{}, err
	}
	defer src.close()
	return replay.Run(ctx, processorConfig(cfg), src.chain, opts, log)
}

func logStats(ctx context.Context, p *processor.Processor, log *slog.Logger) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			log.Info("enricher progress", "stats", &p.Stats)
		}
	}
}

// healthHandler asks client for the current Kafka client at each check: the
// processor replaces its session after a failure.
func healthHandler(client func() *kgo.Client, running *atomic.Bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, `{"status":"ok"}`)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		err := client().Ping(ctx)
		if err == nil && !running.Load() {
			err = errors.New("not consuming")
		}
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, fmt.Sprintf(`{"status":"unavailable","reason":%q}`, err.Error()))
			return
		}
		writeJSON(w, http.StatusOK, `{"status":"ready"}`)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
