package cli_test

import (
	"math"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"testing"

	"github.com/eventtarget/eventtarget/platform/cli"
)

func TestHealthcheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }))
	defer srv.Close()
	if err := cli.Healthcheck(srv.URL); err != nil {
		t.Errorf("healthy: %v", err)
	}
	status = http.StatusServiceUnavailable
	if err := cli.Healthcheck(srv.URL); err == nil {
		t.Error("503 passed the health check")
	}
	if err := cli.Healthcheck("http://127.0.0.1:1/"); err == nil {
		t.Error("nothing listening passed the health check")
	}
}

func TestSetMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1)) // restore
	debug.SetMemoryLimit(math.MaxInt64)
	noEnv := func(string) string { return "" }
	cli.SetMemoryLimit(noEnv, 0)
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("0 MiB set a limit: %d", got)
	}
	cli.SetMemoryLimit(func(k string) string { return map[string]string{"GOMEMLIMIT": "1GiB"}[k] }, 200)
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("GOMEMLIMIT set, but the setting won: %d", got)
	}
	cli.SetMemoryLimit(noEnv, 200)
	if got := debug.SetMemoryLimit(-1); got != 200<<20 {
		t.Errorf("limit %d, want %d", got, 200<<20)
	}
}
