// Package app assembles the ingest service from its parts and runs it for the
// lifetime of a context: connect the producer, make sure the raw topic exists,
// serve HTTP, and on shutdown drain requests and flush the producer.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/eventtarget/eventtarget/ingest/internal/api"
	"github.com/eventtarget/eventtarget/ingest/internal/config"
	"github.com/eventtarget/eventtarget/ingest/internal/publish"
	"github.com/eventtarget/eventtarget/platform/httpserver"
)

// Run serves until ctx is done and returns nil after a clean shutdown.
// ready, if not nil, is called with the bound address once requests are served.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger, ready func(addr string)) (err error) {
	pub, err := publish.New(cfg.Kafka, log)
	if err != nil {
		return err
	}
	defer func() {
		fctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		if cerr := pub.Close(fctx); cerr != nil {
			log.Warn("producer closed without a full flush", "error", cerr)
			return
		}
		log.Info("producer flushed and closed")
	}()

	sctx, cancel := context.WithTimeout(ctx, cfg.StartupTimeout)
	err = pub.EnsureTopic(sctx, cfg.Kafka)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil // asked to stop while waiting for Kafka
		}
		return err
	}

	router, handler, err := api.NewRouter(pub, api.Options{
		Limits:         cfg.Limits,
		ProduceTimeout: cfg.Kafka.Timeout,
		RetryAfter:     cfg.RetryAfter,
		TrustedProxies: cfg.TrustedProxies,
	}, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.ListenAddr, err)
	}
	srv := &http.Server{
		Handler:           router,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      cfg.Kafka.Timeout + 30*time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if cfg.PprofAddr != "" {
		go httpserver.ServePprof(ctx, cfg.PprofAddr, log)
	}
	if ready != nil {
		ready(ln.Addr().String())
	}
	log.Info("ingest started", "addr", ln.Addr().String(), "topic", cfg.Kafka.Topic, "brokers", cfg.Kafka.Brokers)
	go func() {
		<-ctx.Done()
		handler.Drain()
	}()
	return httpserver.Serve(ctx, srv, ln, cfg.ShutdownTimeout, log)
}
