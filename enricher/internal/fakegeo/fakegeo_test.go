package fakegeo_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/eventtarget/eventtarget/enricher/internal/fakegeo"
	"github.com/eventtarget/eventtarget/enricher/internal/geo"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T) (*fakegeo.Server, *httptest.Server) {
	t.Helper()
	fake := fakegeo.New(fakegeo.SampleTable())
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return fake, srv
}

// call sends a request and returns status, headers and body.
func call(t *testing.T, srv *httptest.Server, method, path, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, strings.TrimSpace(string(b))
}

func TestAnswers(t *testing.T) {
	tests := []struct {
		method, path, body string
		wantStatus         int
		wantBody           string
	}{
		{"GET", "/info?ip=81.2.69.142", "", 200,
			`{"city":"London","country":{"iso_code":"GB","name":"United Kingdom"},"location":{"latitude":51.5142,"longitude":-0.0931}}`},
		{"GET", "/info?ip=2001:480::1", "", 200,
			`{"city":"San Diego","country":{"iso_code":"US","name":"United States"},"location":{"latitude":32.7203,"longitude":-117.1552}}`},
		{"GET", "/info?ip=::ffff:81.2.69.142", "", 200,
			`{"city":"London","country":{"iso_code":"GB","name":"United Kingdom"},"location":{"latitude":51.5142,"longitude":-0.0931}}`},
		{"GET", "/info?ip=2a02:cf40::1", "", 200, `{"country":{"iso_code":"NO","name":"Norway"}}`},
		{"GET", "/info?ip=8.8.8.8", "", 404, `{"message":"not found"}`},
		{"GET", "/info?ip=10.0.0.1", "", 404, `{"message":"not found"}`},
		{"GET", "/info?ip=nope", "", 400, `{"message":"invalid ip"}`},
		{"GET", "/json/81.2.69.142?fields=status,query", "", 200,
			`{"status":"success","country":"United Kingdom","countryCode":"GB","city":"London","lat":51.5142,"lon":-0.0931,"query":"81.2.69.142"}`},
		{"GET", "/json/2001:480::1", "", 200,
			`{"status":"success","country":"United States","countryCode":"US","city":"San Diego","lat":32.7203,"lon":-117.1552,"query":"2001:480::1"}`},
		{"GET", "/json/10.1.2.3", "", 200, `{"status":"fail","message":"private range","query":"10.1.2.3"}`},
		{"GET", "/json/fd00::1", "", 200, `{"status":"fail","message":"private range","query":"fd00::1"}`},
		{"GET", "/json/127.0.0.1", "", 200, `{"status":"fail","message":"reserved range","query":"127.0.0.1"}`},
		{"GET", "/json/2001:db8::1", "", 200, `{"status":"fail","message":"reserved range","query":"2001:db8::1"}`},
		{"GET", "/json/example.com", "", 200, `{"status":"fail","message":"invalid query","query":"example.com"}`},
		{"GET", "/json/8.8.8.8", "", 200, `{"status":"success","query":"8.8.8.8"}`},
		{"POST", "/batch", `["81.2.69.142", {"query": "10.0.0.1"}, "x"]`, 200,
			`[{"status":"success","country":"United Kingdom","countryCode":"GB","city":"London","lat":51.5142,"lon":-0.0931,"query":"81.2.69.142"},` +
				`{"status":"fail","message":"private range","query":"10.0.0.1"},{"status":"fail","message":"invalid query","query":"x"}]`},
		{"POST", "/batch", `{"not":"an array"}`, 400, `{"message":"invalid JSON array"}`},
		{"POST", "/batch", `[` + strings.Repeat(`"8.8.8.8",`, 100) + `"8.8.8.8"]`, 422, `{"message":"too many queries"}`},
		{"GET", "/batch", "", 405, ""},
	}
	fake, srv := start(t)
	for _, tt := range tests {
		status, _, body := call(t, srv, tt.method, tt.path, tt.body)
		if status != tt.wantStatus || (tt.wantBody != "" && body != tt.wantBody) {
			t.Errorf("%s %s: %d %s\nwant %d %s", tt.method, tt.path, status, body, tt.wantStatus, tt.wantBody)
		}
	}
	if n := fake.Count(""); n != len(tests)-1 { // the 405 reached no endpoint
		t.Errorf("%d requests recorded, want %d", n, len(tests)-1)
	}
	if n := fake.Count(fakegeo.EndpointBatch); n != 3 {
		t.Errorf("%d /batch requests recorded, want 3", n)
	}
	if r := fake.Requests()[len(tests)-4]; r.Endpoint != fakegeo.EndpointBatch || r.IPs != 3 || r.Status != 200 {
		t.Errorf("batch request recorded as %+v", r)
	}
}

func TestTablePrecedesRanges(t *testing.T) {
	// Tests place documentation addresses in the table; they must be found.
	fake, srv := start(t)
	fake.Put(netip.MustParseAddr("203.0.113.9"), geo.Location{City: "Testville", CountryISO: "NZ"})
	if _, _, body := call(t, srv, "GET", "/json/203.0.113.9", ""); !strings.Contains(body, `"city":"Testville"`) {
		t.Errorf("/json: %s", body)
	}
	if status, _, _ := call(t, srv, "GET", "/info?ip=203.0.113.9", ""); status != 200 {
		t.Errorf("/info: %d", status)
	}
}

func TestFailAndSlow(t *testing.T) {
	fake, srv := start(t)
	fake.Fail(503, 2)
	var got []int
	for range 3 {
		status, _, _ := call(t, srv, "GET", "/info?ip=81.2.69.142", "")
		got = append(got, status)
	}
	if got[0] != 503 || got[1] != 503 || got[2] != 200 {
		t.Errorf("statuses %v, want 503 503 200", got)
	}

	fake.Fail(500, 0)
	for range 3 {
		if status, _, _ := call(t, srv, "POST", "/batch", `["8.8.8.8"]`); status != 500 {
			t.Errorf("always failing: %d", status)
		}
	}
	fake.Fail(0, 0)

	fake.Slow(150*time.Millisecond, 1)
	for i, min := range []time.Duration{150 * time.Millisecond, 0} {
		start := time.Now()
		call(t, srv, "GET", "/json/81.2.69.142", "")
		if took := time.Since(start); took < min || (min == 0 && took > 100*time.Millisecond) {
			t.Errorf("request %d took %v", i, took)
		}
	}
}

func TestRateLimit(t *testing.T) {
	tests := []struct {
		limit      fakegeo.RateLimit
		path       string
		wantStatus int
		check      func(h http.Header, body string) bool
	}{
		{fakegeo.RateLimit{Signal: fakegeo.SignalRetryAfter, Limit: 2, Window: 2 * time.Second}, "/info?ip=81.2.69.142", 429,
			func(h http.Header, _ string) bool { return h.Get("Retry-After") == "2" && h.Get("X-Rl") == "" }},
		{fakegeo.RateLimit{Signal: fakegeo.SignalXRl, Limit: 2, Window: 2 * time.Second}, "/json/81.2.69.142", 429,
			func(h http.Header, _ string) bool { return h.Get("X-Rl") == "0" && h.Get("X-Ttl") == "2" }},
		{fakegeo.RateLimit{Signal: fakegeo.SignalPeriodRemaining, Limit: 2, Window: 2 * time.Second}, "/info?ip=81.2.69.142", 429,
			func(_ http.Header, body string) bool { return body == `{"period_remaining":2}` }},
		{fakegeo.RateLimit{Signal: fakegeo.SignalPeriodRemaining, Limit: 2, Window: 2 * time.Second, Status: 403}, "/info?ip=81.2.69.142", 403,
			func(_ http.Header, body string) bool { return body == `{"period_remaining":2}` }},
	}
	for _, tt := range tests {
		fake, srv := start(t)
		if err := fake.SetRateLimit(tt.limit); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			status, h, _ := call(t, srv, "GET", tt.path, "")
			if status != 200 {
				t.Errorf("%s: request %d within the limit: %d", tt.limit.Signal, i, status)
			}
			if tt.limit.Signal == fakegeo.SignalXRl && h.Get("X-Rl") != []string{"1", "0"}[i] {
				t.Errorf("x-rl: request %d: X-Rl %q", i, h.Get("X-Rl"))
			}
		}
		status, h, body := call(t, srv, "GET", tt.path, "")
		if status != tt.wantStatus || !tt.check(h, body) {
			t.Errorf("%s: over the limit: %d %v %s", tt.limit.Signal, status, h, body)
		}
		// Other endpoints have their own windows, as at ip-api.
		if status, _, _ := call(t, srv, "POST", "/batch", `["81.2.69.142"]`); status != 200 {
			t.Errorf("%s: /batch limited by another endpoint's window: %d", tt.limit.Signal, status)
		}
		reqs := fake.Requests()
		if r := reqs[2]; r.Status != tt.wantStatus || r.WaitSeconds != 2 {
			t.Errorf("%s: refusal recorded as %+v", tt.limit.Signal, r)
		}
		if tt.limit.Signal == fakegeo.SignalXRl && reqs[1].WaitSeconds != 2 {
			t.Errorf("x-rl: the answer that spent the quota recorded as %+v", reqs[1])
		}
	}
	if err := fakegeo.New(nil).SetRateLimit(fakegeo.RateLimit{Signal: "smoke", Window: time.Second}); err == nil {
		t.Error("unknown signal accepted")
	}
}

func TestRateLimitWindowResets(t *testing.T) {
	fake, srv := start(t)
	if err := fake.SetRateLimit(fakegeo.RateLimit{Signal: fakegeo.SignalXRl, Limit: 1, Window: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := call(t, srv, "GET", "/json/81.2.69.142", ""); status != 200 {
		t.Fatalf("first: %d", status)
	}
	if status, h, _ := call(t, srv, "GET", "/json/81.2.69.142", ""); status != 429 || h.Get("X-Ttl") != "1" {
		t.Fatalf("second: %d X-Ttl %q (rounded up to whole seconds)", status, h.Get("X-Ttl"))
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		status, _, _ := call(t, srv, "GET", "/json/81.2.69.142", "")
		if status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("window never reset")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestControlEndpoints(t *testing.T) {
	fake, srv := start(t)
	steps := []struct {
		method, path, body string
		wantStatus         int
	}{
		{"PUT", "/control/table", `[{"ip":"198.51.100.1","city":"Docs","country_iso":"ZZ","latitude":1,"longitude":2}]`, 204},
		{"POST", "/control/table", `[{"ip":"198.51.100.2","country_name":"Nowhere"}]`, 204},
		{"POST", "/control/table", `[{"ip":"198.51.100.3","town":"typo"}]`, 400},
		{"POST", "/control/table", `[{"ip":"198.51.100.3","latitude":1}]`, 400},
		{"POST", "/control/table", `[{"ip":"not an ip"}]`, 400},
		{"POST", "/control/fail", `{"status":503,"count":1}`, 204},
		{"POST", "/control/fail", `{"status":9999}`, 400},
		{"POST", "/control/latency", `{"latency":"20ms","count":1}`, 204},
		{"POST", "/control/latency", `{"latency":"soon"}`, 400},
		{"POST", "/control/ratelimit", `{"signal":"x-rl","limit":5,"window":"2s"}`, 204},
		{"POST", "/control/ratelimit", `{"signal":"x-rl","limit":5}`, 400},
		{"POST", "/control/ratelimit", `{"signal":"x-rl","limit":5,"window":"2s","extra":1}`, 400},
	}
	for _, s := range steps {
		if status, _, body := call(t, srv, s.method, s.path, s.body); status != s.wantStatus {
			t.Errorf("%s %s %s: %d %s, want %d", s.method, s.path, s.body, status, body, s.wantStatus)
		}
	}
	if tbl := fake.Table(); len(tbl) != 2 || tbl[netip.MustParseAddr("198.51.100.1")].City != "Docs" {
		t.Errorf("table after PUT and POST: %v", tbl)
	}
	_, _, body := call(t, srv, "GET", "/control/table", "")
	if body != `[{"ip":"198.51.100.1","city":"Docs","country_iso":"ZZ","latitude":1,"longitude":2},{"ip":"198.51.100.2","country_name":"Nowhere"}]` {
		t.Errorf("GET /control/table: %s", body)
	}

	// The injected failure, latency and rate limit now apply.
	start := time.Now()
	status, _, _ := call(t, srv, "GET", "/json/198.51.100.1", "")
	if status != 503 || time.Since(start) < 20*time.Millisecond {
		t.Errorf("first request: %d after %v, want 503 after 20ms", status, time.Since(start))
	}
	status, h, body := call(t, srv, "GET", "/json/198.51.100.1", "")
	if status != 200 || h.Get("X-Rl") != "4" || !strings.Contains(body, `"city":"Docs"`) {
		t.Errorf("second request: %d X-Rl %q %s", status, h.Get("X-Rl"), body)
	}
	call(t, srv, "GET", "/info?ip=198.51.100.2", "")

	var log struct {
		Counts   map[string]int    `json:"counts"`
		Requests []fakegeo.Request `json:"requests"`
	}
	_, _, body = call(t, srv, "GET", "/control/requests", "")
	if err := json.Unmarshal([]byte(body), &log); err != nil {
		t.Fatal(err)
	}
	if log.Counts["/json"] != 2 || log.Counts["/info"] != 1 || len(log.Requests) != 3 ||
		log.Requests[0].Status != 503 || log.Requests[0].Time.IsZero() || log.Requests[1].Path != "/json/198.51.100.1" {
		t.Errorf("request log: %s", body)
	}
	_, _, body = call(t, srv, "GET", "/control/requests?endpoint=/info", "")
	log.Counts, log.Requests = nil, nil
	if err := json.Unmarshal([]byte(body), &log); err != nil || len(log.Requests) != 1 || log.Counts["/json"] != 0 {
		t.Errorf("filtered request log: %s", body)
	}

	if status, _, _ := call(t, srv, "DELETE", "/control/requests", ""); status != 204 || fake.Count("") != 0 {
		t.Errorf("DELETE /control/requests: %d, %d left", status, fake.Count(""))
	}
	call(t, srv, "POST", "/control/fail", `{"status":500}`)
	if status, _, _ := call(t, srv, "POST", "/control/reset", ""); status != 204 {
		t.Errorf("reset: %d", status)
	}
	for range 6 { // no failure and no rate limit any more
		if status, h, _ := call(t, srv, "GET", "/json/198.51.100.1", ""); status != 200 || h.Get("X-Rl") != "" {
			t.Errorf("after reset: %d X-Rl %q", status, h.Get("X-Rl"))
		}
	}
	if len(fake.Table()) != 2 {
		t.Error("reset dropped the table")
	}
}

func TestConcurrentUse(t *testing.T) {
	fake, srv := start(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 10 {
				switch i % 4 {
				case 0:
					call(t, srv, "GET", "/info?ip=81.2.69.142", "")
				case 1:
					fake.Fail(503, 1)
				case 2:
					_ = fake.Requests()
				case 3:
					fake.Put(netip.MustParseAddr("8.8.8.8"), geo.Location{CountryISO: "US"})
				}
			}
		})
	}
	wg.Wait()
	if n := fake.Count(fakegeo.EndpointInfo); n != 20 {
		t.Errorf("%d requests recorded, want 20", n)
	}
}

func TestReadTable(t *testing.T) {
	table, err := fakegeo.ReadTable(strings.NewReader(`[{"ip":"81.2.69.142","city":"London","country_iso":"GB","latitude":51.5,"longitude":-0.1},{"ip":"2001:480::1"}]`))
	if err != nil {
		t.Fatal(err)
	}
	want := geo.Location{City: "London", CountryISO: "GB", Latitude: 51.5, Longitude: -0.1, HasCoordinates: true}
	if len(table) != 2 || table[netip.MustParseAddr("81.2.69.142")] != want || table[netip.MustParseAddr("2001:480::1")].HasCoordinates {
		t.Errorf("got %v", table)
	}
	for _, bad := range []string{`{}`, `[{"ip":"x"}]`, `[{"ip":"1.1.1.1","lat":1}]`, `[] []`, `[{"ip":"1.1.1.1","longitude":1}]`} {
		if _, err := fakegeo.ReadTable(strings.NewReader(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	// Entries and ReadTable round-trip the sample.
	b, _ := json.Marshal(fakegeo.Entries(fakegeo.SampleTable()))
	back, err := fakegeo.ReadTable(strings.NewReader(string(b)))
	if err != nil || len(back) != len(fakegeo.SampleTable()) {
		t.Fatalf("round trip: %v", err)
	}
	for ip, loc := range fakegeo.SampleTable() {
		if back[ip] != loc {
			t.Errorf("round trip %s: %+v != %+v", ip, back[ip], loc)
		}
	}
}

func TestSynthetic(t *testing.T) {
	fake, srv := start(t)
	if status, _, _ := call(t, srv, "GET", "/info?ip=8.8.4.4", ""); status != 404 {
		t.Fatalf("before Synthesize: unknown address answered %d, want 404", status)
	}
	fake.Synthesize(true)
	_, _, first := call(t, srv, "GET", "/json/8.8.4.4", "")
	_, _, again := call(t, srv, "GET", "/json/8.8.4.4", "")
	if !strings.Contains(first, `"status":"success"`) || !strings.Contains(first, `"countryCode":"ZZ"`) || first != again {
		t.Errorf("synthetic answers: %s then %s; want the same made-up place twice", first, again)
	}
	// The table still wins, and private addresses stay unknown.
	if _, _, body := call(t, srv, "GET", "/json/81.2.69.142", ""); !strings.Contains(body, `"city":"London"`) {
		t.Errorf("table entry: %s", body)
	}
	if _, _, body := call(t, srv, "GET", "/json/10.1.2.3", ""); strings.Contains(body, `"status":"success"`) {
		t.Errorf("private address: %s", body)
	}
}
