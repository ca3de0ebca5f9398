package app_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eventtarget/eventtarget/platform/kafkatest"
)

type errorAnswer struct {
	Error struct {
		Code    string `json:"code"`
		Field   string `json:"field"`
		Message string `json:"message"`
		UUID    string `json:"uuid"`
	} `json:"error"`
}

func decodeError(t *testing.T, b []byte) errorAnswer {
	t.Helper()
	var e errorAnswer
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("error body is not {error:{code,message}}: %s (%v)", b, err)
	}
	return e
}

// holdProduce makes the fake broker hold produce requests until release is
// closed; started receives a value when the first one arrives.
func holdProduce(b kafkatest.Backend) (started chan struct{}, release chan struct{}) {
	started, release = make(chan struct{}, 1), make(chan struct{})
	var once sync.Once
	b.Fake.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		b.Fake.KeepControl()
		once.Do(func() { started <- struct{}{} })
		b.Fake.SleepControl(func() { <-release })
		return nil, nil, false
	})
	return started, release
}

func TestIntegrationKafkaDownAnswers503Promptly(t *testing.T) {
	b := kafkatest.NewFake(t)
	cfg := testConfig(b, uniqueTopic(t))
	cfg.Kafka.Timeout = time.Second
	cfg.ShutdownTimeout = 2 * time.Second // the flush cannot succeed with the broker gone
	in := startIngest(t, cfg)
	if resp, rb := post(t, in.url+"/api/events/", "application/json", strings.NewReader(`{"name":"before"}`), nil); resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d: %s", resp.StatusCode, rb)
	}
	b.Fake.Close()

	start := time.Now()
	resp, rb := post(t, in.url+"/api/events/", "application/json", strings.NewReader(`{"name":"after"}`), nil)
	elapsed := time.Since(start)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("status %d Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), rb)
	}
	if e := decodeError(t, rb); e.Error.UUID == "" || !strings.HasPrefix(e.Error.Code, "broker_") {
		t.Errorf("503 should name the broker problem and give the uuid to retry with: %s", rb)
	}
	if elapsed > cfg.Kafka.Timeout+time.Second {
		t.Errorf("answered after %v; the deadline is %v", elapsed, cfg.Kafka.Timeout)
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(in.url + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d with the broker gone", resp.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestIntegrationKafkaSlowAckHitsDeadline(t *testing.T) {
	b := kafkatest.NewFake(t)
	cfg := testConfig(b, uniqueTopic(t))
	cfg.Kafka.Timeout = 500 * time.Millisecond
	in := startIngest(t, cfg)
	_, release := holdProduce(b)
	defer close(release)

	start := time.Now()
	resp, rb := post(t, in.url+"/api/events/", "application/json", strings.NewReader(`{"name":"slow"}`), nil)
	if resp.StatusCode != http.StatusServiceUnavailable || decodeError(t, rb).Error.Code != "broker_timeout" {
		t.Fatalf("status %d: %s", resp.StatusCode, rb)
	}
	if elapsed := time.Since(start); elapsed > cfg.Kafka.Timeout+700*time.Millisecond {
		t.Errorf("answered after %v; the deadline is %v", elapsed, cfg.Kafka.Timeout)
	}
}

func TestIntegrationKafkaFullBufferAnswers503AtOnce(t *testing.T) {
	b := kafkatest.NewFake(t)
	cfg := testConfig(b, uniqueTopic(t))
	cfg.Kafka.MaxBufferedRecords = 1
	in := startIngest(t, cfg)
	started, release := holdProduce(b)

	first := make(chan int, 1)
	go func() {
		resp, err := http.Post(in.url+"/api/events/", "application/json", strings.NewReader(`{"name":"first"}`))
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	<-started // the first event now fills the buffer, waiting for its ack

	start := time.Now()
	resp, rb := post(t, in.url+"/api/events/", "application/json", strings.NewReader(`{"name":"second"}`), nil)
	if resp.StatusCode != http.StatusServiceUnavailable || decodeError(t, rb).Error.Code != "overloaded" {
		t.Fatalf("status %d: %s", resp.StatusCode, rb)
	}
	if elapsed := time.Since(start); elapsed > 500*time.Millisecond {
		t.Errorf("a full buffer should be refused at once, took %v", elapsed)
	}
	close(release)
	if got := <-first; got != http.StatusCreated {
		t.Errorf("the held event got %d once the broker answered, want 201", got)
	}
}

func TestIntegrationGracefulShutdownFinishesInFlight(t *testing.T) {
	b := kafkatest.NewFake(t)
	in := startIngest(t, testConfig(b, uniqueTopic(t)))
	started, release := holdProduce(b)

	type result struct {
		status int
		body   []byte
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := http.Post(in.url+"/api/events/", "application/json", strings.NewReader(`{"name":"in-flight"}`))
		if err != nil {
			inflight <- result{}
			return
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		inflight <- result{resp.StatusCode, buf.Bytes()}
	}()
	<-started

	stopped := make(chan error, 1)
	go func() { stopped <- in.stop() }()
	// New connections are refused once shutdown begins...
	addr := strings.TrimPrefix(in.url, "http://")
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections during shutdown")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// ...while the request in flight still gets its ack and its answer.
	close(release)
	r := <-inflight
	if r.status != http.StatusCreated {
		t.Fatalf("in-flight request got %d: %s", r.status, r.body)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("shutdown returned %v", err)
	}
	var c created
	json.Unmarshal(r.body, &c)
	recs := readTopic(t, b, in.topic, 1)
	if len(recs) != 1 || string(recs[0].Key) != c.UUID {
		t.Fatalf("in-flight event not durable after shutdown: %v", recs)
	}
}

func TestIntegrationHTTPErrors(t *testing.T) {
	b := kafkatest.NewFake(t)
	cfg := testConfig(b, uniqueTopic(t))
	cfg.Limits.MaxBodyBytes = 4096
	cfg.Limits.MaxBatchBytes = 8192
	cfg.Limits.MaxBatchEvents = 2
	in := startIngest(t, cfg)

	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	zw.Write([]byte(`{"name":"x","data":"`))
	zw.Write(bytes.Repeat([]byte("a"), 10<<20))
	zw.Write([]byte(`"}`))
	zw.Close()

	tests := []struct {
		name, method, path, ctype, body string
		hdr                             map[string]string
		status                          int
		code, field                     string
	}{
		{"invalid json", "POST", "/api/events/", "application/json", `{"name":`, nil, 400, "invalid_json", ""},
		{"missing name", "POST", "/api/events/", "application/json", `{"data":{}}`, nil, 400, "required", "name"},
		{"empty name", "POST", "/api/events/", "application/json", `{"name":""}`, nil, 400, "blank", "name"},
		{"numeric name", "POST", "/api/events/", "application/json", `{"name":5}`, nil, 400, "invalid_type", "name"},
		{"long name", "POST", "/api/events/", "application/json", `{"name":"` + strings.Repeat("n", 257) + `"}`, nil, 400, "too_long", "name"},
		{"bad uuid", "POST", "/api/events/", "application/json", `{"name":"x","uuid":"123"}`, nil, 400, "invalid_uuid", "uuid"},
		{"array body", "POST", "/api/events/", "application/json", `[]`, nil, 400, "invalid_shape", ""},
		{"too large", "POST", "/api/events/", "application/json", `{"name":"x","data":"` + strings.Repeat("a", 5000) + `"}`, nil, 413, "body_too_large", ""},
		{"gzip bomb", "POST", "/api/events/", "application/json", bomb.String(), map[string]string{"Content-Encoding": "gzip"}, 413, "body_too_large", ""},
		{"form body", "POST", "/api/events/", "application/x-www-form-urlencoded", `name=x`, nil, 415, "unsupported_media_type", ""},
		{"ndjson on single", "POST", "/api/events/", "application/x-ndjson", `{"name":"x"}`, nil, 415, "unsupported_media_type", ""},
		{"brotli", "POST", "/api/events/", "application/json", `{"name":"x"}`, map[string]string{"Content-Encoding": "br"}, 415, "unsupported_encoding", ""},
		{"batch too many", "POST", "/api/events/batch", "application/json", `[{"name":"a"},{"name":"b"},{"name":"c"}]`, nil, 413, "batch_too_large", ""},
		{"batch not array", "POST", "/api/events/batch", "application/json", `{"name":"a"}`, nil, 400, "invalid_shape", ""},
		{"batch empty", "POST", "/api/events/batch", "application/json", `[]`, nil, 400, "empty_batch", ""},
		{"batch too large", "POST", "/api/events/batch", "application/json", `[{"name":"a","data":"` + strings.Repeat("a", 9000) + `"}]`, nil, 413, "body_too_large", ""},
		{"unknown route", "GET", "/api/nothing", "", ``, nil, 404, "not_found", ""},
		{"wrong method", "PUT", "/api/events/", "application/json", `{"name":"x"}`, nil, 405, "method_not_allowed", ""},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, in.url+tt.path, strings.NewReader(tt.body))
		if tt.ctype != "" {
			req.Header.Set("Content-Type", tt.ctype)
		}
		for k, v := range tt.hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s: status %d (%s), want %d: %s", tt.name, resp.StatusCode, resp.Header.Get("Content-Type"), tt.status, buf.Bytes())
			continue
		}
		e := decodeError(t, buf.Bytes())
		if e.Error.Code != tt.code || e.Error.Field != tt.field {
			t.Errorf("%s: got %+v, want code %s field %q", tt.name, e.Error, tt.code, tt.field)
		}
	}
	// Nothing invalid reached the topic.
	if recs := readTopic(t, b, in.topic, 0); len(recs) != 0 {
		t.Errorf("invalid requests produced %d records", len(recs))
	}
}

func TestIntegrationUntrustedPeerCannotSpoofIP(t *testing.T) {
	b := kafkatest.NewFake(t)
	cfg := testConfig(b, uniqueTopic(t))
	cfg.TrustedProxies = nil
	in := startIngest(t, cfg)
	resp, rb := post(t, in.url+"/api/events/", "application/json", strings.NewReader(`{"name":"x"}`),
		map[string]string{"X-Forwarded-For": "81.2.69.142", "X-Real-IP": "81.2.69.142"})
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(rb), `"source_ip":"127.0.0.1"`) {
		t.Fatalf("status %d: %s", resp.StatusCode, rb)
	}
}
