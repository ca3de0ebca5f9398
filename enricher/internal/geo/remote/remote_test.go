package remote_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.uber.org/goleak"

	"github.com/eventtarget/eventtarget/enricher/internal/fakegeo"
	"github.com/eventtarget/eventtarget/enricher/internal/geo"
	"github.com/eventtarget/eventtarget/enricher/internal/geo/remote"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var formats = []string{remote.FormatGeoIPAPI, remote.FormatIPAPI}

// endpointFor is where a one-address lookup of each format goes.
var endpointFor = map[string]string{remote.FormatGeoIPAPI: fakegeo.EndpointInfo, remote.FormatIPAPI: fakegeo.EndpointJSON}

// fast is a configuration with small durations so that tests take
// fractions of a second.
func fast(format string) remote.Config {
	cfg := remote.DefaultConfig()
	cfg.Format = format
	cfg.Timeout = time.Second
	cfg.InitialBackoff = 10 * time.Millisecond
	cfg.MaxBackoff = 50 * time.Millisecond
	cfg.MaxElapsed = 5 * time.Second
	cfg.MaxRateLimitPause = 5 * time.Second
	return cfg
}

// setup starts the fake with the sample table and a client for it.
func setup(t *testing.T, cfg remote.Config) (*fakegeo.Server, *remote.Client) {
	t.Helper()
	fake := fakegeo.New(fakegeo.SampleTable())
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	cfg.BaseURL = srv.URL
	c, err := remote.New(cfg, remote.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return fake, c
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func sample(ip string) geo.Location { return fakegeo.SampleTable()[netip.MustParseAddr(ip)] }

const london = "81.2.69.142"

func TestConfigValidate(t *testing.T) {
	if err := remote.DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	tests := []struct {
		field  string
		mutate func(*remote.Config)
	}{
		{"format", func(c *remote.Config) { c.Format = "maxmind" }},
		{"base-url", func(c *remote.Config) { c.BaseURL = "ip-api.com" }},
		{"base-url", func(c *remote.Config) { c.BaseURL = "ftp://ip-api.com" }},
		{"timeout", func(c *remote.Config) { c.Timeout = 0 }},
		{"initial-backoff", func(c *remote.Config) { c.InitialBackoff = 0 }},
		{"max-backoff", func(c *remote.Config) { c.MaxBackoff = time.Millisecond }},
		{"max-attempts", func(c *remote.Config) { c.MaxAttempts = 0 }},
		{"max-elapsed", func(c *remote.Config) { c.MaxElapsed = -time.Second }},
		{"jitter", func(c *remote.Config) { c.Jitter = 1.5 }},
		{"concurrency", func(c *remote.Config) { c.Concurrency = 0 }},
		{"batch-size", func(c *remote.Config) { c.BatchSize = 101 }},
		{"batch-size", func(c *remote.Config) { c.BatchSize = 0 }},
		{"breaker-failures", func(c *remote.Config) { c.BreakerFailures = 0 }},
		{"breaker-open-duration", func(c *remote.Config) { c.BreakerOpenDuration = 0 }},
		{"max-rate-limit-pause", func(c *remote.Config) { c.MaxRateLimitPause = -1 }},
	}
	for _, tt := range tests {
		cfg := remote.DefaultConfig()
		tt.mutate(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tt.field) {
			t.Errorf("%s: error %v does not name the field", tt.field, err)
		}
		if _, nerr := remote.New(cfg); nerr == nil {
			t.Errorf("%s: New accepted an invalid configuration", tt.field)
		}
	}
}

func TestLookup(t *testing.T) {
	lower := geo.Location{City: " Paris ", CountryISO: "fr", CountryName: "France", Latitude: 48.8566, Longitude: 2.3522, HasCoordinates: true}
	lowerWant := geo.Location{City: "Paris", CountryISO: "FR", CountryName: "France", Latitude: 48.8566, Longitude: 2.3522, HasCoordinates: true}
	tests := []struct {
		name string
		ips  []netip.Addr
		want map[netip.Addr]geo.Location
		// requests per format: geoip-api asks per address, ip-api batches.
		wantInfo, wantJSON, wantBatch int
	}{
		{name: "ipv4", ips: addrs(london), want: map[netip.Addr]geo.Location{netip.MustParseAddr(london): sample(london)},
			wantInfo: 1, wantJSON: 1},
		{name: "ipv6", ips: addrs("2001:480::1"),
			want:     map[netip.Addr]geo.Location{netip.MustParseAddr("2001:480::1"): sample("2001:480::1")},
			wantInfo: 1, wantJSON: 1},
		{name: "ipv4-mapped answered under the address asked", ips: addrs("::ffff:81.2.69.142"),
			want:     map[netip.Addr]geo.Location{netip.MustParseAddr("::ffff:81.2.69.142"): sample(london)},
			wantInfo: 1, wantJSON: 1},
		{name: "no coordinates", ips: addrs("2a02:cf40::1"),
			want:     map[netip.Addr]geo.Location{netip.MustParseAddr("2a02:cf40::1"): {CountryISO: "NO", CountryName: "Norway"}},
			wantInfo: 1, wantJSON: 1},
		{name: "normalised", ips: addrs("37.187.1.1"),
			want:     map[netip.Addr]geo.Location{netip.MustParseAddr("37.187.1.1"): lowerWant},
			wantInfo: 1, wantJSON: 1},
		{name: "unknown public", ips: addrs("8.8.8.8"), want: map[netip.Addr]geo.Location{}, wantInfo: 1, wantJSON: 1},
		{name: "private", ips: addrs("10.1.2.3"), want: map[netip.Addr]geo.Location{}, wantInfo: 1, wantJSON: 1},
		{name: "reserved", ips: addrs("192.0.2.1"), want: map[netip.Addr]geo.Location{}, wantInfo: 1, wantJSON: 1},
		{name: "nothing to ask", ips: []netip.Addr{{}}, want: map[netip.Addr]geo.Location{}},
		{name: "many, duplicates and misses",
			ips: addrs(london, "2.125.160.216", "89.160.20.112", "216.160.83.56", "2001:480::1", "67.43.156.1",
				london, "8.8.8.8", "10.0.0.1", "fd00::1", "2001:db8::1"),
			want: map[netip.Addr]geo.Location{
				netip.MustParseAddr(london):          sample(london),
				netip.MustParseAddr("2.125.160.216"): sample("2.125.160.216"),
				netip.MustParseAddr("89.160.20.112"): sample("89.160.20.112"),
				netip.MustParseAddr("216.160.83.56"): sample("216.160.83.56"),
				netip.MustParseAddr("2001:480::1"):   sample("2001:480::1"),
				netip.MustParseAddr("67.43.156.1"):   sample("67.43.156.1"),
			},
			wantInfo: 10, wantBatch: 1},
	}
	for _, format := range formats {
		t.Run(format, func(t *testing.T) {
			fake, c := setup(t, fast(format))
			fake.Put(netip.MustParseAddr("37.187.1.1"), lower)
			for _, tt := range tests {
				fake.ClearRequests()
				got, err := c.LookupMany(context.Background(), tt.ips)
				if err != nil {
					t.Errorf("%s: %v", tt.name, err)
					continue
				}
				if !maps.Equal(got, tt.want) {
					t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
				}
				wantCounts := map[string]int{fakegeo.EndpointInfo: tt.wantInfo}
				if format == remote.FormatIPAPI {
					wantCounts = map[string]int{fakegeo.EndpointJSON: tt.wantJSON, fakegeo.EndpointBatch: tt.wantBatch}
				}
				for endpoint, want := range wantCounts {
					if n := fake.Count(endpoint); n != want {
						t.Errorf("%s: %d requests to %s, want %d", tt.name, n, endpoint, want)
					}
				}
			}
			if name := c.Name(); name != map[string]string{remote.FormatGeoIPAPI: "geoip-api", remote.FormatIPAPI: "ip-api.com"}[format] {
				t.Errorf("Name() = %q", name)
			}
		})
	}
}

func TestBatchSplit(t *testing.T) {
	cfg := fast(remote.FormatIPAPI)
	cfg.Concurrency = 2
	fake, c := setup(t, cfg)
	var ips []netip.Addr
	want := map[netip.Addr]geo.Location{}
	for i := range 250 {
		ip := netip.AddrFrom4([4]byte{81, 2, byte(70 + i/200), byte(1 + i%200)})
		ips = append(ips, ip)
		if i%3 == 0 { // the rest are unknown
			loc := geo.Location{City: fmt.Sprintf("Town %d", i), CountryISO: "GB", CountryName: "United Kingdom", Latitude: 51, Longitude: float64(i) / 1000, HasCoordinates: true}
			fake.Put(ip, loc)
			want[ip] = loc
		}
	}
	got, err := c.LookupMany(context.Background(), ips)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Errorf("got %d locations, want %d", len(got), len(want))
	}
	reqs := fake.Requests()
	sizes := map[int]int{}
	for _, r := range reqs {
		if r.Endpoint != fakegeo.EndpointBatch || r.Status != http.StatusOK {
			t.Errorf("unexpected request %+v", r)
		}
		sizes[r.IPs]++
	}
	if len(reqs) != 3 || sizes[100] != 2 || sizes[50] != 1 {
		t.Errorf("batch sizes %v in %d requests, want 100, 100, 50", sizes, len(reqs))
	}
}

func TestRetriesTransientFailures(t *testing.T) {
	tests := []struct {
		name         string
		status, fail int
		wantErr      bool
		wantRequests int
	}{
		{name: "500 twice then success", status: 500, fail: 2, wantRequests: 3},
		{name: "503 four times then success", status: 503, fail: 4, wantRequests: 5},
		{name: "429 without a window", status: 429, fail: 1, wantRequests: 2},
		{name: "408", status: 408, fail: 1, wantRequests: 2},
		{name: "502 beyond max attempts", status: 502, fail: 5, wantErr: true, wantRequests: 5},
		{name: "400 is not retried", status: 400, fail: 1, wantErr: true, wantRequests: 1},
		{name: "403 is not retried", status: 403, fail: 1, wantErr: true, wantRequests: 1},
	}
	for _, format := range formats {
		for _, batch := range []bool{false, true} {
			if batch && format == remote.FormatGeoIPAPI {
				continue
			}
			ips := addrs(london)
			if batch {
				ips = addrs(london, "2001:480::1")
			}
			t.Run(fmt.Sprintf("%s/%d addresses", format, len(ips)), func(t *testing.T) {
				t.Parallel()
				for _, tt := range tests {
					cfg := fast(format)
					cfg.BreakerFailures = 100
					fake, c := setup(t, cfg)
					fake.Fail(tt.status, tt.fail)
					got, err := c.LookupMany(context.Background(), ips)
					if tt.wantErr {
						if !errors.Is(err, geo.ErrUnavailable) {
							t.Errorf("%s: error %v, want ErrUnavailable", tt.name, err)
						}
					} else if err != nil || got[netip.MustParseAddr(london)] != sample(london) {
						t.Errorf("%s: got %v, %v", tt.name, got, err)
					}
					if n := fake.Count(""); n != tt.wantRequests {
						t.Errorf("%s: %d requests, want %d", tt.name, n, tt.wantRequests)
					}
				}
			})
		}
	}
}

func TestNotFoundStatus(t *testing.T) {
	// 404 means "unknown address" for one-address endpoints; for /batch it
	// means the endpoint is missing, which is an error.
	for _, tt := range []struct {
		format  string
		ips     []netip.Addr
		wantErr bool
	}{
		{remote.FormatGeoIPAPI, addrs(london), false},
		{remote.FormatIPAPI, addrs(london), false},
		{remote.FormatIPAPI, addrs(london, "2001:480::1"), true},
	} {
		fake, c := setup(t, fast(tt.format))
		fake.Fail(http.StatusNotFound, 0)
		got, err := c.LookupMany(context.Background(), tt.ips)
		if (err != nil) != tt.wantErr || len(got) != 0 || fake.Count("") != 1 {
			t.Errorf("%s %v: got %v, %v after %d requests", tt.format, tt.ips, got, err, fake.Count(""))
		}
	}
}

func TestTimeouts(t *testing.T) {
	for _, format := range formats {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			cfg := fast(format)
			cfg.Timeout = 100 * time.Millisecond
			cfg.MaxAttempts = 3
			cfg.MaxElapsed = 2 * time.Second

			// One slow answer: retried, then answered.
			fake, c := setup(t, cfg)
			fake.Slow(time.Second, 1)
			got, err := c.LookupMany(context.Background(), addrs(london))
			if err != nil || got[netip.MustParseAddr(london)] != sample(london) || fake.Count("") != 2 {
				t.Errorf("slow once: got %v, %v after %d requests", got, err, fake.Count(""))
			}

			// Always slow: three attempts, then ErrUnavailable well within
			// the budget.
			fake.ClearRequests()
			fake.Slow(time.Second, 0)
			start := time.Now()
			_, err = c.LookupMany(context.Background(), addrs(london))
			took := time.Since(start)
			if !errors.Is(err, geo.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("always slow: error %v, want ErrUnavailable after timeouts", err)
			}
			if n := fake.Count(""); n != 3 {
				t.Errorf("always slow: %d requests, want 3", n)
			}
			if took > cfg.MaxElapsed {
				t.Errorf("always slow: gave up after %v, beyond the %v budget", took, cfg.MaxElapsed)
			}
		})
	}
}

func TestDownLongerThanBudget(t *testing.T) {
	for _, format := range formats {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			cfg := fast(format)
			cfg.MaxAttempts = 1000
			cfg.InitialBackoff = 20 * time.Millisecond
			cfg.MaxBackoff = 100 * time.Millisecond
			cfg.MaxElapsed = 700 * time.Millisecond
			fake, c := setup(t, cfg)
			fake.Fail(http.StatusServiceUnavailable, 0)
			start := time.Now()
			_, err := c.LookupMany(context.Background(), addrs(london, "2001:480::1"))
			took := time.Since(start)
			if !errors.Is(err, geo.ErrUnavailable) {
				t.Fatalf("error %v, want ErrUnavailable", err)
			}
			if took < 600*time.Millisecond || took > 1500*time.Millisecond {
				t.Errorf("gave up after %v, want about %v", took, cfg.MaxElapsed)
			}
			if n := fake.Count(""); n < 6 {
				t.Errorf("only %d requests in %v", n, took)
			}
		})
	}
}

func TestRateLimitSignals(t *testing.T) {
	const limit, callers = 5, 4
	tests := []struct {
		name   string
		format string
		batch  bool
		limit  fakegeo.RateLimit
	}{
		{name: "Retry-After", format: remote.FormatGeoIPAPI,
			limit: fakegeo.RateLimit{Signal: fakegeo.SignalRetryAfter, Limit: limit, Window: time.Second}},
		{name: "Retry-After ip-api batch", format: remote.FormatIPAPI, batch: true,
			limit: fakegeo.RateLimit{Signal: fakegeo.SignalRetryAfter, Limit: limit, Window: time.Second}},
		{name: "X-Rl and X-Ttl", format: remote.FormatIPAPI,
			limit: fakegeo.RateLimit{Signal: fakegeo.SignalXRl, Limit: limit, Window: time.Second}},
		{name: "X-Rl and X-Ttl batch", format: remote.FormatIPAPI, batch: true,
			limit: fakegeo.RateLimit{Signal: fakegeo.SignalXRl, Limit: limit, Window: time.Second}},
		{name: "period_remaining with 429", format: remote.FormatGeoIPAPI,
			limit: fakegeo.RateLimit{Signal: fakegeo.SignalPeriodRemaining, Limit: limit, Window: time.Second}},
		{name: "period_remaining with 403", format: remote.FormatGeoIPAPI,
			limit: fakegeo.RateLimit{Signal: fakegeo.SignalPeriodRemaining, Limit: limit, Window: time.Second, Status: 403}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake, c := setup(t, fast(tt.format))
			if err := fake.SetRateLimit(tt.limit); err != nil {
				t.Fatal(err)
			}
			ips := addrs(london)
			if tt.batch {
				ips = addrs(london, "2001:480::1")
			}
			lookup := func() error {
				got, err := c.LookupMany(context.Background(), ips)
				if err == nil && got[netip.MustParseAddr(london)] != sample(london) {
					err = fmt.Errorf("got %v", got)
				}
				return err
			}
			// Spend the window's quota. ip-api says so in X-Rl; the others
			// only refuse the next request.
			for range limit {
				if err := lookup(); err != nil {
					t.Fatal(err)
				}
			}
			proactive := tt.limit.Signal == fakegeo.SignalXRl
			running := callers
			errc := make(chan error, callers+1)
			if !proactive {
				running++
				go func() { errc <- lookup() }() // refused: closes the gate
			}
			pollUntil(t, 2*time.Second, func() bool { return c.PausedUntil().After(time.Now()) })

			// Callers arriving during the pause never saw a refusal: they
			// must wait all the same.
			for range callers {
				go func() { errc <- lookup() }()
			}
			for range running {
				if err := <-errc; err != nil {
					t.Errorf("lookup during the pause: %v", err)
				}
			}

			reqs := fake.Requests()
			sig := -1
			for i, r := range reqs {
				if r.WaitSeconds > 0 {
					sig = i
					break
				}
			}
			if sig < 0 {
				t.Fatalf("the fake never signalled a limit: %+v", reqs)
			}
			resume := reqs[sig].Time.Add(time.Duration(reqs[sig].WaitSeconds) * time.Second)
			after := reqs[sig+1:]
			if len(after) != running { // the refused caller's retry included
				t.Errorf("%d requests after the signal, want %d: %+v", len(after), running, after)
			}
			for _, r := range after {
				if r.Time.Before(resume) {
					t.Errorf("request at %v, before the window reset at %v", r.Time.Format("15:04:05.000"), resume.Format("15:04:05.000"))
				}
				if r.Status != http.StatusOK {
					t.Errorf("request after the pause answered %d", r.Status)
				}
			}
		})
	}
}

func TestCallersQueuedForASlotWaitForThePause(t *testing.T) {
	// With one request at a time, callers queue for the slot before the
	// limit is known; the one answered 429 closes the gate before it frees
	// the slot, so none of those queued behind may send until the reset.
	cfg := fast(remote.FormatGeoIPAPI)
	cfg.Concurrency = 1
	fake, c := setup(t, cfg)
	if err := fake.SetRateLimit(fakegeo.RateLimit{Signal: fakegeo.SignalRetryAfter, Limit: 4, Window: time.Second}); err != nil {
		t.Fatal(err)
	}
	ips := addrs(london, "2.125.160.216", "89.160.20.112", "216.160.83.56", "2001:480::1", "67.43.156.1", "175.16.199.1", "202.196.224.1")
	var wg sync.WaitGroup
	for _, ip := range ips {
		wg.Go(func() {
			got, err := c.LookupMany(context.Background(), []netip.Addr{ip})
			if err != nil || got[ip] != fakegeo.SampleTable()[ip] {
				t.Errorf("%s: got %v, %v", ip, got, err)
			}
		})
	}
	wg.Wait()
	reqs := fake.Requests()
	var refused []fakegeo.Request
	for _, r := range reqs {
		if r.Status != http.StatusOK {
			refused = append(refused, r)
		}
	}
	if len(refused) != 1 || len(reqs) != len(ips)+1 {
		t.Fatalf("%d requests, refused: %+v", len(reqs), refused)
	}
	resume := refused[0].Time.Add(time.Duration(refused[0].WaitSeconds) * time.Second)
	for _, r := range reqs {
		if r.Time.After(refused[0].Time) && r.Time.Before(resume) {
			t.Errorf("request at %v during the pause (until %v)", r.Time.Format("15:04:05.000"), resume.Format("15:04:05.000"))
		}
	}
}

func TestRateLimitPauseTooLong(t *testing.T) {
	tests := []struct {
		name     string
		format   string
		limit    fakegeo.RateLimit
		maxPause time.Duration
		budget   time.Duration
		// wantRequests is what the fake sees for the two lookups: the
		// second fails on the 429, or (X-Rl) without a request at all.
		wantRequests int
	}{
		{name: "Retry-After beyond max pause", format: remote.FormatGeoIPAPI, maxPause: time.Second, budget: 5 * time.Second,
			limit: fakegeo.RateLimit{Signal: fakegeo.SignalRetryAfter, Limit: 1, Window: 30 * time.Second}, wantRequests: 2},
		{name: "period_remaining beyond max pause", format: remote.FormatGeoIPAPI, maxPause: time.Second, budget: 5 * time.Second,
			limit: fakegeo.RateLimit{Signal: fakegeo.SignalPeriodRemaining, Limit: 1, Window: 30 * time.Second}, wantRequests: 2},
		{name: "X-Ttl beyond max pause", format: remote.FormatIPAPI, maxPause: time.Second, budget: 5 * time.Second,
			limit: fakegeo.RateLimit{Signal: fakegeo.SignalXRl, Limit: 1, Window: 30 * time.Second}, wantRequests: 1},
		{name: "Retry-After beyond the retry budget", format: remote.FormatIPAPI, maxPause: time.Minute, budget: time.Second,
			limit: fakegeo.RateLimit{Signal: fakegeo.SignalRetryAfter, Limit: 1, Window: 30 * time.Second}, wantRequests: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := fast(tt.format)
			cfg.MaxRateLimitPause, cfg.MaxElapsed = tt.maxPause, tt.budget
			fake, c := setup(t, cfg)
			if err := fake.SetRateLimit(tt.limit); err != nil {
				t.Fatal(err)
			}
			if _, err := c.LookupMany(context.Background(), addrs(london)); err != nil {
				t.Fatal(err)
			}
			for i := range 2 { // the second lookup finds the gate closed
				start := time.Now()
				_, err := c.LookupMany(context.Background(), addrs(london))
				if !errors.Is(err, geo.ErrUnavailable) || !strings.Contains(err.Error(), "rate limited") {
					t.Errorf("lookup %d: error %v, want ErrUnavailable for the rate limit", i, err)
				}
				if took := time.Since(start); took > 300*time.Millisecond {
					t.Errorf("lookup %d: gave up after %v, want at once", i, took)
				}
			}
			if n := fake.Count(""); n != tt.wantRequests {
				t.Errorf("%d requests, want %d", n, tt.wantRequests)
			}
		})
	}
}

func TestCircuitBreaker(t *testing.T) {
	cfg := fast(remote.FormatGeoIPAPI)
	cfg.MaxAttempts = 2
	cfg.BreakerFailures = 3
	cfg.BreakerOpenDuration = 400 * time.Millisecond
	fake, c := setup(t, cfg)
	fake.Fail(http.StatusInternalServerError, 0)
	ctx := context.Background()

	for i := range cfg.BreakerFailures {
		if _, err := c.LookupMany(ctx, addrs(london)); !errors.Is(err, geo.ErrUnavailable) || errors.Is(err, gobreaker.ErrOpenState) {
			t.Fatalf("failure %d: error %v, want ErrUnavailable from the API", i, err)
		}
	}
	opened := time.Now()
	if n := fake.Count(""); n != cfg.BreakerFailures*cfg.MaxAttempts {
		t.Fatalf("%d requests before the breaker opened, want %d", n, cfg.BreakerFailures*cfg.MaxAttempts)
	}

	// Open: fail at once without a request, whatever the number of addresses.
	fake.ClearRequests()
	for _, ips := range [][]netip.Addr{addrs(london), addrs(london, "2001:480::1", "89.160.20.112")} {
		got, err := c.LookupMany(ctx, ips)
		if !errors.Is(err, geo.ErrUnavailable) || !errors.Is(err, gobreaker.ErrOpenState) || len(got) != 0 {
			t.Errorf("open breaker: got %v, %v", got, err)
		}
	}
	if n := fake.Count(""); n != 0 {
		t.Errorf("open breaker let %d requests through", n)
	}

	// Half-open after the open duration: one probe lookup; it fails, so
	// the breaker opens again.
	probeAt := waitForRequest(t, c, fake, 2*time.Second)
	if d := probeAt.Sub(opened); d < cfg.BreakerOpenDuration {
		t.Errorf("probe after %v, before the open duration %v", d, cfg.BreakerOpenDuration)
	}
	if n := fake.Count(""); n != cfg.MaxAttempts {
		t.Errorf("probe made %d requests, want %d", n, cfg.MaxAttempts)
	}
	reopened := time.Now()
	if _, err := c.LookupMany(ctx, addrs(london)); !errors.Is(err, gobreaker.ErrOpenState) {
		t.Errorf("after a failed probe: error %v, want the breaker open", err)
	}

	// The API recovers: after another open duration a probe succeeds and
	// the breaker closes.
	fake.Fail(0, 0)
	fake.ClearRequests()
	deadline := time.Now().Add(2 * time.Second)
	for {
		got, err := c.LookupMany(ctx, addrs(london))
		if err == nil {
			if got[netip.MustParseAddr(london)] != sample(london) {
				t.Errorf("after recovery: got %v", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("breaker never closed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d := time.Since(reopened); d < cfg.BreakerOpenDuration {
		t.Errorf("closed after %v, before the open duration %v", d, cfg.BreakerOpenDuration)
	}
	for range 3 {
		if _, err := c.LookupMany(ctx, addrs(london, "2001:480::1")); err != nil {
			t.Errorf("closed breaker: %v", err)
		}
	}
	if n := fake.Count(""); n != 1+3*2 {
		t.Errorf("%d requests after recovery, want 7", n)
	}
}

// waitForRequest repeats a lookup until one reaches the fake, and returns
// when it did.
func waitForRequest(t *testing.T, c *remote.Client, fake *fakegeo.Server, limit time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		_, _ = c.LookupMany(context.Background(), addrs(london))
		if reqs := fake.Requests(); len(reqs) > 0 {
			return reqs[0].Time
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no request reached the fake")
	return time.Time{}
}

func TestCallerGivingUpDoesNotOpenTheBreaker(t *testing.T) {
	cfg := fast(remote.FormatIPAPI)
	cfg.BreakerFailures = 1
	fake, c := setup(t, cfg)
	fake.Slow(time.Second, 0)
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, err := c.LookupMany(ctx, addrs(london))
		cancel()
		if !errors.Is(err, geo.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v, want ErrUnavailable and the caller's deadline", err)
		}
	}
	fake.Slow(0, 0)
	if _, err := c.LookupMany(context.Background(), addrs(london)); err != nil {
		t.Errorf("after callers gave up: %v (breaker opened?)", err)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	cfg := fast(remote.FormatGeoIPAPI)
	cfg.Concurrency = 2
	fake, c := setup(t, cfg)
	const latency = 100 * time.Millisecond
	fake.Slow(latency, 0)
	ips := addrs(london, "2.125.160.216", "89.160.20.112", "216.160.83.56", "2001:480::1", "67.43.156.1")
	got, err := c.LookupMany(context.Background(), ips)
	if err != nil || len(got) != len(ips) {
		t.Fatalf("got %d locations, %v", len(got), err)
	}
	reqs := fake.Requests()
	if len(reqs) != len(ips) {
		t.Fatalf("%d requests", len(reqs))
	}
	slices.SortFunc(reqs, func(a, b fakegeo.Request) int { return a.Time.Compare(b.Time) })
	// With two in flight, the third request can only start once one of
	// the first two has been answered.
	for i := 2; i < len(reqs); i++ {
		if d := reqs[i].Time.Sub(reqs[i-2].Time); d < latency*9/10 {
			t.Errorf("requests %d and %d only %v apart: more than 2 in flight", i-2, i, d)
		}
	}
}

func TestConcurrentCallersShareOneClient(t *testing.T) {
	fake, c := setup(t, fast(remote.FormatIPAPI))
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			ips := addrs(london, "2001:480::1")
			if i%2 == 0 {
				ips = ips[:1]
			}
			got, err := c.LookupMany(context.Background(), ips)
			if err != nil || got[netip.MustParseAddr(london)] != sample(london) {
				t.Errorf("caller %d: got %v, %v", i, got, err)
			}
		})
	}
	wg.Wait()
	if fake.Count(fakegeo.EndpointJSON) != 10 || fake.Count(fakegeo.EndpointBatch) != 10 {
		t.Errorf("requests: %d /json, %d /batch", fake.Count(fakegeo.EndpointJSON), fake.Count(fakegeo.EndpointBatch))
	}
}

func pollUntil(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
