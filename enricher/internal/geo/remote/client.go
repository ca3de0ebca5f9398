// Package remote is the client of the remote geolocation APIs: the original
// app's geoip-api service and ip-api.com. Around each lookup it keeps the
// API's limits: bounded concurrency, retries with jittered exponential
// backoff within a time budget, a client-wide pause when the API signals a
// rate limit, and a circuit breaker that stops calling an API that keeps
// failing. Whenever the API cannot answer, errors wrap geo.ErrUnavailable so
// that the caller falls back to the local database.
package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"time"

	"github.com/sethvargo/go-retry"
	"github.com/sony/gobreaker/v2"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/eventtarget/eventtarget/enricher/internal/geo"
)

// maxBody bounds an answer: a full ip-api batch is ~15 KiB.
const maxBody = 4 << 20

// Client is a geo.Remote. It is safe for concurrent use; all callers share
// its concurrency limit, rate-limit pause and circuit breaker.
type Client struct {
	cfg     Config
	base    *url.URL
	http    *http.Client
	log     *slog.Logger
	gate    gate
	sem     *semaphore.Weighted
	breaker *gobreaker.CircuitBreaker[struct{}]
}

var _ geo.Remote = (*Client)(nil)

// Option adjusts a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (tests, proxies, custom TLS). Its own
// Timeout, if any, applies on top of Config.Timeout.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithLogger sets the logger for rate-limit pauses and breaker changes.
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// New validates cfg and builds a client.
func New(cfg Config, opts ...Option) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("remote geolocation API: %w", err)
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("remote geolocation API: base-url: %w", err)
	}
	c := &Client{
		cfg:  cfg,
		base: base,
		http: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
		log:  slog.New(slog.DiscardHandler),
		sem:  semaphore.NewWeighted(int64(cfg.Concurrency)),
	}
	for _, o := range opts {
		o(c)
	}
	c.breaker = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        c.Name(),
		MaxRequests: 1, // one probe lookup when half-open
		Timeout:     cfg.BreakerOpenDuration,
		ReadyToTrip: func(n gobreaker.Counts) bool {
			return n.ConsecutiveFailures >= uint32(cfg.BreakerFailures)
		},
		// A lookup given up by its caller, or refused because of a long
		// rate-limit pause, says nothing about the API's health: the gate
		// already keeps callers away for exactly as long as the API asked.
		IsExcluded: func(err error) bool {
			var ex excludedError
			return errors.As(err, &ex)
		},
		OnStateChange: func(name string, from, to gobreaker.State) {
			c.log.Warn("geolocation API circuit breaker", "api", name, "from", from.String(), "to", to.String())
		},
	})
	return c, nil
}

// Name identifies the API in provenance.
func (c *Client) Name() string {
	if c.cfg.Format == FormatIPAPI {
		return "ip-api.com"
	}
	return FormatGeoIPAPI
}

// PausedUntil is the end of the current rate-limit pause (in the past when
// none runs), for health reports and tests.
func (c *Client) PausedUntil() time.Time { return c.gate.openAt() }

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// unit is one lookup as the breaker and the retry budget see it: a single
// address (geoip-api, one-address ip-api lookups) or one ip-api batch. Its
// answer is keyed by the address as queried.
type unit func(ctx context.Context) (map[netip.Addr]geo.Location, error)

// LookupMany looks the addresses up; see geo.Remote. With an error the map
// still holds what was found before the failure.
func (c *Client) LookupMany(ctx context.Context, ips []netip.Addr) (map[netip.Addr]geo.Location, error) {
	// The API knows IPv4-mapped addresses by their IPv4 form, and zones mean
	// nothing to it; answers are handed back under the addresses as asked.
	asked := make(map[netip.Addr][]netip.Addr, len(ips))
	var queries []netip.Addr
	for _, ip := range ips {
		if !ip.IsValid() {
			continue
		}
		q := ip.Unmap().WithZone("")
		if _, dup := asked[q]; !dup {
			queries = append(queries, q)
		}
		if !contains(asked[q], ip) {
			asked[q] = append(asked[q], ip)
		}
	}
	out := make(map[netip.Addr]geo.Location, len(ips))
	if len(queries) == 0 {
		return out, nil
	}

	var units []unit
	switch {
	case c.cfg.Format == FormatGeoIPAPI:
		for _, q := range queries {
			units = append(units, c.geoIPAPIOne(q))
		}
	case len(queries) == 1:
		// /json has its own quota, three times /batch's: a lone cache miss
		// should not spend a batch request.
		units = append(units, c.ipAPIOne(queries[0]))
	default:
		for chunk := range chunks(queries, c.cfg.BatchSize) {
			units = append(units, c.ipAPIBatch(chunk))
		}
	}

	// The first unit to fail cancels the others: the caller falls back for
	// the missing addresses anyway, and sooner is better.
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.cfg.Concurrency)
	for _, u := range units {
		g.Go(func() error {
			found, err := u(gctx)
			mu.Lock()
			defer mu.Unlock()
			for q, loc := range found {
				for _, ip := range asked[q] {
					out[ip] = loc
				}
			}
			return err
		})
	}
	return out, g.Wait()
}

func contains(s []netip.Addr, a netip.Addr) bool {
	for _, x := range s {
		if x == a {
			return true
		}
	}
	return false
}

func chunks(s []netip.Addr, n int) func(yield func([]netip.Addr) bool) {
	return func(yield func([]netip.Addr) bool) {
		for len(s) > 0 {
			k := min(n, len(s))
			if !yield(s[:k:k]) {
				return
			}
			s = s[k:]
		}
	}
}

// excludedError marks a failure that must not count towards opening the
// circuit breaker.
type excludedError struct{ error }

func (e excludedError) Unwrap() error { return e.error }

// transientError marks an attempt worth retrying.
type transientError struct{ error }

func (e transientError) Unwrap() error { return e.error }

// statusError is an HTTP answer the client cannot use.
type statusError struct{ code int }

func (e statusError) Error() string {
	return fmt.Sprintf("HTTP %d %s", e.code, http.StatusText(e.code))
}

// call runs one unit's attempts through the breaker and the retry budget.
func (c *Client) call(ctx context.Context, what string, attempt func(ctx context.Context) error) error {
	_, err := c.breaker.Execute(func() (struct{}, error) {
		return struct{}{}, c.retry(ctx, attempt)
	})
	if err == nil {
		return nil
	}
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return fmt.Errorf("%s %s: %w: circuit breaker: %w", c.Name(), what, geo.ErrUnavailable, err)
	}
	return fmt.Errorf("%s %s: %w: %w", c.Name(), what, geo.ErrUnavailable, err)
}

func (c *Client) backoff() retry.Backoff {
	b := retry.NewExponential(c.cfg.InitialBackoff)
	b = retry.WithJitterPercent(uint64(math.Round(c.cfg.Jitter*100)), b)
	b = retry.WithCappedDuration(c.cfg.MaxBackoff, b)
	b = retry.WithMaxRetries(uint64(c.cfg.MaxAttempts-1), b)
	return retry.WithMaxDuration(c.cfg.MaxElapsed, b)
}

// retry makes attempts until one succeeds, one fails for good, or the
// budget (MaxAttempts, MaxElapsed, ctx) is spent.
func (c *Client) retry(ctx context.Context, attempt func(ctx context.Context) error) error {
	// The budget is a deadline, not only a limit on backoff sleeps, so that
	// a hanging request or a pause cannot stretch a lookup beyond it.
	bctx, cancel := context.WithTimeout(ctx, c.cfg.MaxElapsed)
	defer cancel()
	attempts := 0
	var last error
	err := retry.Do(bctx, c.backoff(), func(bctx context.Context) error {
		attempts++
		err := attempt(bctx)
		if err == nil {
			return nil
		}
		last = err
		var tr transientError
		if !errors.As(err, &tr) || bctx.Err() != nil {
			return err
		}
		// The answer may have closed the gate for longer than this lookup
		// may wait: say so now rather than after a backoff sleep.
		if gerr := c.gate.check(bctx, c.cfg.MaxRateLimitPause); gerr != nil {
			last = excludedError{fmt.Errorf("%w (after %v)", gerr, err)}
			return last
		}
		return retry.RetryableError(err)
	})
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return excludedError{fmt.Errorf("given up by the caller after %d attempts: %w", attempts, context.Cause(ctx))}
	case last == nil:
		return err
	case bctx.Err() != nil:
		return fmt.Errorf("retry budget %v spent after %d attempts: %w", c.cfg.MaxElapsed, attempts, last)
	}
	var tr transientError
	if errors.As(last, &tr) {
		return fmt.Errorf("gave up after %d attempts: %w", attempts, last)
	}
	return last
}

// answer is an HTTP answer the format code interprets: 200, or 404.
type answer struct {
	status int
	body   []byte
}

// exchange sends one request and sorts the answer: rate-limit signals close
// the gate; 429, 5xx, 408 and network errors are transient; 404 is handed
// back (a format may mean "not found" by it); other statuses are errors.
//
// ctx is the lookup's budget; the request gets Timeout within it.
func (c *Client) exchange(ctx context.Context, newReq func(ctx context.Context) (*http.Request, error)) (answer, error) {
	if err := c.waitGate(ctx); err != nil {
		return answer{}, err
	}
	if err := c.sem.Acquire(ctx, 1); err != nil {
		return answer{}, err
	}
	defer c.sem.Release(1)
	// Again: the gate may have closed while this caller queued for a slot,
	// and the callers queued behind it must not all go at once.
	if err := c.waitGate(ctx); err != nil {
		return answer{}, err
	}
	rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := newReq(rctx)
	if err != nil {
		return answer{}, err
	}
	res, err := c.http.Do(req)
	if err != nil {
		return answer{}, transientError{err}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxBody+1))
	if err != nil {
		return answer{}, transientError{fmt.Errorf("read answer: %w", err)}
	}
	if len(body) > maxBody {
		return answer{}, fmt.Errorf("answer larger than %d bytes", maxBody)
	}

	now := time.Now()
	wait, refused := throttle(res.StatusCode, res.Header, body, now)
	if wait > 0 && c.gate.closeUntil(now.Add(wait)) {
		c.log.Info("geolocation API rate limit: pausing all requests",
			"api", c.Name(), "status", res.StatusCode, "pause", wait.String())
	}
	switch code := res.StatusCode; {
	case refused:
		return answer{}, transientError{fmt.Errorf("%w: %w", errRateLimited, statusError{code})}
	case code == http.StatusOK, code == http.StatusNotFound:
		return answer{status: code, body: body}, nil
	case code >= 500, code == http.StatusRequestTimeout:
		return answer{}, transientError{statusError{code}}
	default:
		return answer{}, statusError{code}
	}
}

// waitGate waits out a rate-limit pause. A pause too long to wait is not
// the API's failure: the breaker must not count it.
func (c *Client) waitGate(ctx context.Context) error {
	err := c.gate.wait(ctx, c.cfg.MaxRateLimitPause)
	if err != nil && ctx.Err() == nil {
		return excludedError{err}
	}
	return err
}
