package cli_test

import (
	"net/http"
	"net/http/httptest"
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
