// Package app assembles and runs the query module's two services: the query
// HTTP API and the loader. Both connect to ClickHouse (waiting for it at
// start-up), apply the schema migrations, and shut down gracefully.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/sethvargo/go-retry"

	"github.com/eventtarget/eventtarget/platform/apierror"
	"github.com/eventtarget/eventtarget/platform/httpserver"
	"github.com/eventtarget/eventtarget/query/internal/api"
	"github.com/eventtarget/eventtarget/query/internal/chstore"
	"github.com/eventtarget/eventtarget/query/internal/config"
	"github.com/eventtarget/eventtarget/query/internal/docs"
	"github.com/eventtarget/eventtarget/query/internal/loader"
	"github.com/eventtarget/eventtarget/query/internal/store"
)

// openStore connects to ClickHouse, retrying until timeout so that the
// service may start before the database, and applies the migrations.
func openStore(ctx context.Context, cfg chstore.Config, migrate bool, timeout time.Duration, log *slog.Logger) (*chstore.Store, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var st *chstore.Store
	backoff := retry.WithCappedDuration(5*time.Second, retry.NewExponential(200*time.Millisecond))
	err := retry.Do(ctx, backoff, func(ctx context.Context) error {
		var s *chstore.Store
		var err error
		if migrate {
			err = chstore.EnsureDatabase(ctx, cfg, log)
		}
		if err == nil {
			s, err = chstore.Open(ctx, cfg, log)
		}
		if err == nil && migrate {
			if err = store.Migrate(ctx, s.Conn(), log); err != nil {
				_ = s.Close()
			}
		}
		if err != nil {
			log.WarnContext(ctx, "clickhouse not ready, retrying", "error", err)
			return retry.RetryableError(err)
		}
		st = s
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse at %s: %w", cfg.NativeAddr, err)
	}
	log.Info("clickhouse connected", "version", st.ServerVersion(), "compatibility_shim", st.Legacy(), "database", cfg.Database)
	return st, nil
}

// Router is the query service's HTTP interface, for tests and RunQuery.
func Router(st *store.Store, cfg config.Query, log *slog.Logger) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = true
	r.Use(gin.CustomRecoveryWithWriter(nil, func(c *gin.Context, err any) {
		log.ErrorContext(c, "panic serving request", "path", c.Request.URL.Path, "panic", fmt.Sprint(err))
		e := apierror.New(http.StatusInternalServerError, "internal", "", "internal error")
		c.Data(e.Status, "application/json; charset=utf-8", e.Body())
		c.Abort()
	}))
	r.NoRoute(func(c *gin.Context) {
		e := apierror.New(http.StatusNotFound, "not_found", "", "no route for "+c.Request.Method+" "+c.Request.URL.Path)
		c.Data(e.Status, "application/json; charset=utf-8", e.Body())
	})
	r.NoMethod(func(c *gin.Context) {
		e := apierror.New(http.StatusMethodNotAllowed, "method_not_allowed", "", c.Request.Method+" is not allowed on "+c.Request.URL.Path)
		c.Data(e.Status, "application/json; charset=utf-8", e.Body())
	})
	api.Register(r, st, api.Options{DefaultPageSize: cfg.DefaultPageSize, MaxPageSize: cfg.MaxPageSize, QueryTimeout: cfg.QueryTimeout}, log)
	docs.Register(r)
	r.GET("/healthz", func(c *gin.Context) {
		c.Data(http.StatusOK, "application/json; charset=utf-8", []byte(`{"status":"ok"}`))
	})
	r.GET("/readyz", func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		if err := st.Ping(ctx); err != nil {
			c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "reason": "clickhouse: " + err.Error()})
			return
		}
		c.Data(http.StatusOK, "application/json; charset=utf-8", []byte(`{"status":"ready"}`))
	})
	return r
}

// RunQuery serves the query API until ctx is done.
func RunQuery(ctx context.Context, cfg config.Query, log *slog.Logger, ready func(addr string)) error {
	ch, err := openStore(ctx, cfg.ClickHouse, cfg.Migrate, cfg.StartupTimeout, log)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer ch.Close()
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.ListenAddr, err)
	}
	srv := &http.Server{
		Handler:           Router(store.New(ch.Conn()), cfg, log),
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      cfg.QueryTimeout + 10*time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if ready != nil {
		ready(ln.Addr().String())
	}
	if cfg.PprofAddr != "" {
		go httpserver.ServePprof(ctx, cfg.PprofAddr, log)
	}
	log.Info("query started", "addr", ln.Addr().String())
	return httpserver.Serve(ctx, srv, ln, cfg.ShutdownTimeout, log)
}

// RunLoader copies the topics into ClickHouse until ctx is done. ready, if
// set, gets the health address and the loader (tests read its stats).
func RunLoader(ctx context.Context, cfg config.Loader, log *slog.Logger, ready func(healthAddr string, l *loader.Loader)) error {
	ch, err := openStore(ctx, cfg.ClickHouse, cfg.Migrate, cfg.StartupTimeout, log)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer ch.Close()
	st := store.New(ch.Conn())
	l, err := loader.New(cfg.Kafka, st, log)
	if err != nil {
		return err
	}
	defer l.Close()

	ln, err := net.Listen("tcp", cfg.HealthAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.HealthAddr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, `{"status":"ok"}`) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := st.Ping(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, fmt.Sprintf(`{"status":"unavailable","reason":%q}`, "clickhouse: "+err.Error()))
			return
		}
		if err := l.Client().Ping(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, fmt.Sprintf(`{"status":"unavailable","reason":%q}`, "kafka: "+err.Error()))
			return
		}
		writeJSON(w, http.StatusOK, `{"status":"ready"}`)
	})
	hctx, stopHealth := context.WithCancel(context.WithoutCancel(ctx))
	healthDone := make(chan error, 1)
	go func() {
		healthDone <- httpserver.Serve(hctx, &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln, 5*time.Second, log)
	}()
	defer func() { stopHealth(); <-healthDone }()
	if cfg.PprofAddr != "" {
		go httpserver.ServePprof(ctx, cfg.PprofAddr, log)
	}
	if ready != nil {
		ready(ln.Addr().String(), l)
	}
	log.Info("loader started", "topics", []string{cfg.Kafka.RawTopic, cfg.Kafka.EnrichedTopic}, "group", cfg.Kafka.Group,
		"batch_rows", cfg.Kafka.BatchRows, "batch_linger", cfg.Kafka.BatchLinger.String())
	err = l.Run(ctx)
	log.Info("loader stopped", "rows", l.Stats.Rows.Load(), "batches", l.Stats.Batches.Load(),
		"superseded_in_batch", l.Stats.Superseded.Load(), "skipped", l.Stats.Skipped.Load(), "insert_retries", l.Stats.Retries.Load())
	return err
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
