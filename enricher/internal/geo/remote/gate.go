package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// errRateLimited marks a request refused for rate reasons, or a rate-limit
// pause the client would not sit out.
var errRateLimited = errors.New("rate limited")

// gate is the client-wide rate-limit pause. One caller learning that the
// API wants quiet until T closes the gate for every caller: each goroutine
// discovering the limit by its own 429 would spend quota and prolong the
// penalty. Both ip-api endpoints share one gate although ip-api meters them
// separately; pausing both when one is exhausted costs little and keeps the
// client simple.
type gate struct {
	mu    sync.Mutex
	until time.Time
}

// closeUntil extends the pause to t; it never shortens one. It reports
// whether this starts a pause (none was running), so that a pause is logged
// once, not once per caller that saw the signal.
func (g *gate) closeUntil(t time.Time) (started bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !t.After(g.until) {
		return false
	}
	started = !g.until.After(time.Now())
	g.until = t
	return started
}

func (g *gate) openAt() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.until
}

// check fails when the current pause is longer than maxPause or outlasts
// ctx's deadline (the lookup's retry budget): waiting it out would end in
// failure anyway, only later.
func (g *gate) check(ctx context.Context, maxPause time.Duration) error {
	d := time.Until(g.openAt())
	if d <= 0 {
		return nil
	}
	if d > maxPause {
		return fmt.Errorf("%w for %v, longer than max-rate-limit-pause %v", errRateLimited, d.Round(time.Millisecond), maxPause)
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return fmt.Errorf("%w for %v, beyond the retry budget or deadline (%v left)",
			errRateLimited, d.Round(time.Millisecond), time.Until(dl).Round(time.Millisecond))
	}
	return nil
}

// wait blocks until the gate is open, failing as check does. It loops
// because another caller may extend the pause while this one sleeps.
func (g *gate) wait(ctx context.Context, maxPause time.Duration) error {
	for {
		d := time.Until(g.openAt())
		if d <= 0 {
			return nil
		}
		if err := g.check(ctx, maxPause); err != nil {
			return err
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// throttle reads every back-off signal the two APIs send and returns the
// longest wait asked for (0: none) and whether the request itself was
// refused for rate reasons:
//   - 429 Too Many Requests, and any non-200 answer whose JSON body carries
//     period_remaining (geoip-api: seconds until its window resets);
//   - Retry-After (seconds or an HTTP date) on 429 and 503;
//   - X-Ttl (seconds until ip-api's window resets) when X-Rl, the requests
//     left in the window, is 0 — also on a 200: the next request would be
//     refused, so it should not be sent before the reset.
func throttle(status int, h http.Header, body []byte, now time.Time) (wait time.Duration, refused bool) {
	refused = status == http.StatusTooManyRequests
	if status != http.StatusOK {
		if d, ok := periodRemaining(body); ok {
			refused = true
			wait = max(wait, d)
		}
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		if d, ok := retryAfter(h.Get("Retry-After"), now); ok {
			wait = max(wait, d)
		}
	}
	if refused || strings.TrimSpace(h.Get("X-Rl")) == "0" {
		if d, ok := seconds(h.Get("X-Ttl")); ok {
			wait = max(wait, d)
		}
	}
	return wait, refused
}

func periodRemaining(body []byte) (time.Duration, bool) {
	var b struct {
		PeriodRemaining *float64 `json:"period_remaining"`
	}
	if json.Unmarshal(body, &b) != nil || b.PeriodRemaining == nil {
		return 0, false
	}
	return durationOf(*b.PeriodRemaining)
}

func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if d, ok := seconds(v); ok {
		return d, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

func seconds(v string) (time.Duration, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return 0, false
	}
	return durationOf(f)
}

// durationOf turns seconds into a duration, refusing nonsense; a negative
// value means "no wait", a huge one is capped (it is refused later anyway).
func durationOf(secs float64) (time.Duration, bool) {
	if math.IsNaN(secs) || math.IsInf(secs, -1) {
		return 0, false
	}
	const maxSecs = 24 * 60 * 60
	return time.Duration(math.Min(math.Max(secs, 0), maxSecs) * float64(time.Second)), true
}
