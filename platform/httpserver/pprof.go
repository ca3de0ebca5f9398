package httpserver

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// ServePprof exposes the Go profiler (net/http/pprof) on its own listener
// until ctx is done. Keep addr private (e.g. 127.0.0.1:6060): profiles show
// internals and cost CPU. A listener that cannot open is logged, not fatal:
// the service works without its profiler.
func ServePprof(ctx context.Context, addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Warn("pprof listener", "addr", addr, "error", err)
		return
	}
	_ = Serve(ctx, &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln, time.Second, log)
}
