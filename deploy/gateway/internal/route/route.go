// Package route is the local run's single origin: one address, as the
// original app had, that sends writes to ingest and reads to query. In
// production an ingress or load balancer does the same job.
package route

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/eventtarget/eventtarget/platform/apierror"
)

// Config names the two upstreams.
type Config struct {
	ListenAddr string
	IngestURL  string
	QueryURL   string
}

// DefaultConfig is the local run's layout.
func DefaultConfig() Config {
	return Config{ListenAddr: "127.0.0.1:8000", IngestURL: "http://127.0.0.1:8001", QueryURL: "http://127.0.0.1:8002"}
}

// Validate names the bad setting.
func (c Config) Validate() error {
	if c.ListenAddr == "" {
		return errors.New("-listen-addr: must not be empty")
	}
	for name, raw := range map[string]string{"-ingest-url": c.IngestURL, "-query-url": c.QueryURL} {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s %q: want an absolute http(s) URL", name, raw)
		}
	}
	return nil
}

// Handler routes POSTs under /api/events to ingest and everything else to
// query. The proxy appends the caller's address to X-Forwarded-For; ingest
// trusts this hop (loopback) and finds the client IP behind it.
func Handler(c Config, log *slog.Logger) (http.Handler, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	ingest, err := proxy(c.IngestURL, "ingest", log)
	if err != nil {
		return nil, err
	}
	query, err := proxy(c.QueryURL, "query", log)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("GET /readyz", readyz(log, c.IngestURL+"/readyz", c.QueryURL+"/readyz"))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/api/events") {
			ingest.ServeHTTP(w, r)
			return
		}
		query.ServeHTTP(w, r)
	})
	return mux, nil
}

func proxy(raw, name string, log *slog.Logger) (*httputil.ReverseProxy, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	p := httputil.NewSingleHostReverseProxy(u)
	p.Transport = &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 512,
		IdleConnTimeout:     90 * time.Second,
	}
	p.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		if !errors.Is(err, context.Canceled) {
			log.Warn("upstream failed", "upstream", name, "path", r.URL.Path, "error", err)
		}
		e := apierror.New(http.StatusBadGateway, "upstream_unavailable", "", name+" did not answer; retry later")
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(e.Status)
		_, _ = w.Write(e.Body())
	}
	return p, nil
}

func readyz(log *slog.Logger, urls ...string) http.HandlerFunc {
	client := &http.Client{Timeout: 3 * time.Second}
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		for _, u := range urls {
			resp, err := client.Get(u)
			if err == nil {
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode != http.StatusOK {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = fmt.Fprintf(w, `{"status":"unavailable","reason":%q}`, u+" not ready")
				return
			}
		}
		_, _ = w.Write([]byte(`{"status":"ready"}`))
	}
}
