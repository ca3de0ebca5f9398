// Package load generates HTTP load the two ways that matter: closed loop
// (a fixed number of clients as fast as the server lets them: saturation
// throughput) and open loop (requests scheduled at a constant rate whatever
// the server does, latency counted from the scheduled time, so a stalled
// server cannot hide its stall: no coordinated omission).
package load

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Request is what one call sends.
type Request struct {
	URL         string
	Body        []byte
	ContentType string
	Gzip        bool
	WantStatus  int
}

// Client is a keep-alive HTTP client sized for many connections.
func Client(conns int) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conns * 2, MaxIdleConnsPerHost: conns * 2, MaxConnsPerHost: conns * 2, DisableCompression: true,
	}}
}

// Gzipped compresses a body once, up front.
func Gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

func do(ctx context.Context, c *http.Client, r Request) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", r.ContentType)
	if r.Gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != r.WantStatus {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// Closed is a closed-loop result.
type Closed struct {
	FirstError string
	OK, Failed int64
	Elapsed    time.Duration
	PerSecond  float64
}

// ClosedLoop runs conns clients back to back for d.
func ClosedLoop(ctx context.Context, c *http.Client, r Request, conns int, d time.Duration) Closed {
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := do(ctx, c, r); err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
					}
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	res := Closed{OK: ok.Load(), Failed: failed.Load(), Elapsed: el, PerSecond: float64(ok.Load()) / el.Seconds()}
	if e, ok := firstErr.Load().(string); ok {
		res.FirstError = e
	}
	return res
}

// Open is an open-loop result; latencies are from the scheduled send time.
type Open struct {
	FirstError        string
	Rate              float64
	Sent, OK, Failed  int64
	P50, P99, P999    time.Duration
	Max               time.Duration
	AchievedPerSecond float64
}

// OpenLoop schedules rate requests per second for d and waits for them.
func OpenLoop(ctx context.Context, c *http.Client, r Request, rate float64, d time.Duration) Open {
	interval := time.Duration(float64(time.Second) / rate)
	n := int(d / interval)
	lat := make([]time.Duration, n)
	okFlags := make([]bool, n)
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		if w := time.Until(at); w > 0 {
			time.Sleep(w)
		}
		wg.Add(1)
		go func(i int, at time.Time) {
			defer wg.Done()
			err := do(ctx, c, r)
			lat[i] = time.Since(at)
			okFlags[i] = err == nil
			if err != nil {
				firstErr.CompareAndSwap(nil, err.Error())
			}
		}(i, at)
	}
	wg.Wait()
	el := time.Since(start)
	res := Open{Rate: rate, Sent: int64(n)}
	if e, ok := firstErr.Load().(string); ok {
		res.FirstError = e
	}
	var good []time.Duration
	for i := range n {
		if okFlags[i] {
			res.OK++
			good = append(good, lat[i])
		} else {
			res.Failed++
		}
	}
	sort.Slice(good, func(a, b int) bool { return good[a] < good[b] })
	q := func(p float64) time.Duration {
		if len(good) == 0 {
			return 0
		}
		return good[int(p*float64(len(good)-1))]
	}
	res.P50, res.P99, res.P999, res.Max = q(0.50), q(0.99), q(0.999), q(1)
	res.AchievedPerSecond = float64(res.OK) / el.Seconds()
	return res
}
