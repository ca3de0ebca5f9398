package remote

import (
	"fmt"
	"net/url"
	"time"
)

// The API dialects the client speaks.
const (
	// FormatGeoIPAPI is the geoip-api service the original Event Target
	// called: GET {base}/info?ip=… per address.
	FormatGeoIPAPI = "geoip-api"
	// FormatIPAPI is ip-api.com: GET {base}/json/{ip} for one address,
	// POST {base}/batch for up to 100.
	FormatIPAPI = "ip-api"
)

// maxBatch is ip-api.com's limit on addresses per /batch request.
const maxBatch = 100

// Config is the client's configuration. Retry, breaker and rate-limit
// behaviour are data here so that operators tune them without code.
type Config struct {
	Format  string // FormatGeoIPAPI or FormatIPAPI
	BaseURL string // e.g. http://ip-api.com; a path prefix is kept

	// Timeout bounds one HTTP request, body included.
	Timeout time.Duration

	// Retries: exponential backoff from InitialBackoff doubling up to
	// MaxBackoff, each delay varied by ±Jitter (a fraction: 0.2 = ±20 %) so
	// that callers failing together do not retry together. A lookup stops
	// after MaxAttempts requests or MaxElapsed, whichever comes first;
	// MaxElapsed includes time spent waiting out rate limits.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	MaxAttempts    int
	MaxElapsed     time.Duration
	Jitter         float64

	// Concurrency bounds the HTTP requests in flight across all callers.
	Concurrency int
	// BatchSize is the number of addresses per ip-api /batch request.
	BatchSize int

	// BreakerFailures consecutive failed lookups (retries exhausted) open
	// the circuit breaker; while open, lookups fail at once without a
	// request. After BreakerOpenDuration one probe lookup is let through.
	BreakerFailures     int
	BreakerOpenDuration time.Duration

	// MaxRateLimitPause is the longest rate-limit pause the client sits out.
	// Asked to wait longer, it fails at once so that the caller falls back
	// to the local database instead of stalling the pipeline.
	MaxRateLimitPause time.Duration
}

// DefaultConfig talks to ip-api.com's free endpoint, which is HTTP only.
func DefaultConfig() Config {
	return Config{
		Format:              FormatIPAPI,
		BaseURL:             "http://ip-api.com",
		Timeout:             2 * time.Second,
		InitialBackoff:      100 * time.Millisecond,
		MaxBackoff:          2 * time.Second,
		MaxAttempts:         5,
		MaxElapsed:          10 * time.Second,
		Jitter:              0.2,
		Concurrency:         16,
		BatchSize:           maxBatch,
		BreakerFailures:     5,
		BreakerOpenDuration: 30 * time.Second,
		MaxRateLimitPause:   60 * time.Second,
	}
}

// Validate names the first bad setting.
func (c Config) Validate() error {
	if c.Format != FormatGeoIPAPI && c.Format != FormatIPAPI {
		return fmt.Errorf("format %q: want %s or %s", c.Format, FormatGeoIPAPI, FormatIPAPI)
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("base-url %q: want an absolute http(s) URL", c.BaseURL)
	}
	switch {
	case c.Timeout <= 0:
		return fmt.Errorf("timeout %v: want more than 0", c.Timeout)
	case c.InitialBackoff <= 0:
		return fmt.Errorf("initial-backoff %v: want more than 0", c.InitialBackoff)
	case c.MaxBackoff < c.InitialBackoff:
		return fmt.Errorf("max-backoff %v: want at least initial-backoff %v", c.MaxBackoff, c.InitialBackoff)
	case c.MaxAttempts < 1:
		return fmt.Errorf("max-attempts %d: want at least 1", c.MaxAttempts)
	case c.MaxElapsed <= 0:
		return fmt.Errorf("max-elapsed %v: want more than 0", c.MaxElapsed)
	case c.Jitter < 0 || c.Jitter > 1:
		return fmt.Errorf("jitter %v: want a fraction between 0 and 1", c.Jitter)
	case c.Concurrency < 1:
		return fmt.Errorf("concurrency %d: want at least 1", c.Concurrency)
	case c.BatchSize < 1 || c.BatchSize > maxBatch:
		return fmt.Errorf("batch-size %d: want between 1 and %d", c.BatchSize, maxBatch)
	case c.BreakerFailures < 1:
		return fmt.Errorf("breaker-failures %d: want at least 1", c.BreakerFailures)
	case c.BreakerOpenDuration <= 0:
		return fmt.Errorf("breaker-open-duration %v: want more than 0", c.BreakerOpenDuration)
	case c.MaxRateLimitPause < 0:
		return fmt.Errorf("max-rate-limit-pause %v: want 0 (never pause) or more", c.MaxRateLimitPause)
	}
	return nil
}
