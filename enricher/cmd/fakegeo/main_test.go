package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer is the log output, read while run writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// serve starts run and returns the address it listens on; the returned
// stop cancels it and returns run's error.
func serve(t *testing.T, args []string, getenv func(string) string) (base string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, getenv, &out, io.Discard) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		for sc.Scan() {
			var line struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "http server listening" {
				return "http://" + line.Addr, func() error { cancel(); return <-done }
			}
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("run ended before listening: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("not listening after 5s:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, strings.TrimSpace(string(b))
}

func TestServesSampleAndStops(t *testing.T) {
	base, stop := serve(t, nil, env(map[string]string{"FAKEGEO_LISTEN_ADDR": "127.0.0.1:0"}))
	checks := []struct{ path, want string }{
		{"/info?ip=81.2.69.142", `"city":"London"`},
		{"/info?ip=89.160.20.112", `"city":"Linköping"`},
		{"/json/216.160.83.56", `"city":"Milton"`},
		{"/json/2001:480::1", `"city":"San Diego"`},
		{"/json/10.0.0.1", `"message":"private range"`},
	}
	for _, c := range checks {
		if status, body := get(t, base+c.path); status != 200 || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s", c.path, status, body)
		}
	}
	res, err := http.Post(base+"/control/fail", "application/json", strings.NewReader(`{"status":503,"count":1}`))
	if err != nil || res.StatusCode != http.StatusNoContent {
		t.Fatalf("control: %v %v", res, err)
	}
	res.Body.Close()
	if status, _ := get(t, base+"/info?ip=81.2.69.142"); status != 503 {
		t.Errorf("after /control/fail: %d", status)
	}
	if _, body := get(t, base+"/control/requests"); !strings.Contains(body, `"/info":3`) {
		t.Errorf("request log: %s", body)
	}
	http.DefaultClient.CloseIdleConnections()
	if err := stop(); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

func TestTableFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "table.json")
	if err := os.WriteFile(good, []byte(`[{"ip":"198.51.100.7","city":"Docs","country_iso":"ZZ"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	base, stop := serve(t, []string{"-listen-addr", "127.0.0.1:0", "-table", good}, env(nil))
	if status, body := get(t, base+"/info?ip=198.51.100.7"); status != 200 || !strings.Contains(body, `"city":"Docs"`) {
		t.Errorf("table entry: %d %s", status, body)
	}
	if status, _ := get(t, base+"/info?ip=81.2.69.142"); status != 404 {
		t.Errorf("sample entry served although a table was given: %d", status)
	}
	http.DefaultClient.CloseIdleConnections()
	if err := stop(); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

func TestBadConfiguration(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`[{"ip":"1.1.1.1","town":"x"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-table", filepath.Join(dir, "missing.json")}, nil, "-table"},
		{[]string{"-table", bad, "-listen-addr", "127.0.0.1:0"}, nil, "town"},
		{[]string{"-listen-addr", "nonsense:port:x"}, nil, "-listen-addr"},
		{nil, map[string]string{"FAKEGEO_LOG_FORMAT": "xml"}, "log-format"},
		{[]string{"-no-such-flag"}, nil, "no-such-flag"},
	}
	for _, tt := range tests {
		err := run(context.Background(), tt.args, env(tt.env), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v %v: error %v, want one naming %s", tt.args, tt.env, err, tt.want)
		}
	}
}
