package route_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/eventtarget/eventtarget/deploy/gateway/internal/route"
)

// upstream records what reached it.
func upstream(t *testing.T, name string, got *[]string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*got = append(*got, name+" "+r.Method+" "+r.URL.RequestURI()+" xff="+r.Header.Get("X-Forwarded-For"))
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRoutesWritesToIngestAndReadsToQuery(t *testing.T) {
	var got []string
	ingest, query := upstream(t, "ingest", &got), upstream(t, "query", &got)
	h, err := route.Handler(route.Config{ListenAddr: ":0", IngestURL: ingest.URL, QueryURL: query.URL}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(h)
	defer gw.Close()
	for _, c := range []struct{ method, path string }{
		{"POST", "/api/events/"}, {"POST", "/api/events/batch"}, {"GET", "/api/events/"},
		{"GET", "/api/events/0190a3c4-1d2e-7f00-8000-000000000001/?x=1"}, {"GET", "/api/docs/"}, {"DELETE", "/api/events/"},
	} {
		req, _ := http.NewRequest(c.method, gw.URL+c.path, strings.NewReader("{}"))
		req.Header.Set("X-Forwarded-For", "81.2.69.142")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	want := []string{
		"ingest POST /api/events/ xff=81.2.69.142, 127.0.0.1",
		"ingest POST /api/events/batch xff=81.2.69.142, 127.0.0.1",
		"query GET /api/events/ xff=81.2.69.142, 127.0.0.1",
		"query GET /api/events/0190a3c4-1d2e-7f00-8000-000000000001/?x=1 xff=81.2.69.142, 127.0.0.1",
		"query GET /api/docs/ xff=81.2.69.142, 127.0.0.1",
		"query DELETE /api/events/ xff=81.2.69.142, 127.0.0.1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestUpstreamDownIsA502JSON(t *testing.T) {
	h, _ := route.Handler(route.Config{ListenAddr: ":0", IngestURL: "http://127.0.0.1:1", QueryURL: "http://127.0.0.1:1"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	gw := httptest.NewServer(h)
	defer gw.Close()
	resp, err := http.Get(gw.URL + "/api/events/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(b), `"code":"upstream_unavailable"`) {
		t.Errorf("%d %s", resp.StatusCode, b)
	}
	if resp2, _ := http.Get(gw.URL + "/readyz"); resp2 == nil || resp2.StatusCode != http.StatusServiceUnavailable {
		t.Error("/readyz should fail with the upstreams down")
	}
}
