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
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/valyala/fasthttp"
)

// Request is what one call sends.
type Request struct {
	URL         string
	Body        []byte
	ContentType string
	Gzip        bool
	WantStatus  int
	// Prepare, if set, adjusts each request before it is sent (headers).
	Prepare func(*fasthttp.Request)
	// Items, if set, counts what a successful answer accepted (the batch
	// endpoint may accept part of a batch); otherwise a success counts one.
	Items func(body []byte) (accepted int, err error)
}

// BatchItems reads the batch endpoint's answer: how many events it
// accepted, and the first rejection's reason when it did not take them all.
// The answer leads with its counts ({"accepted":…,"rejected":…,"results":…});
// they are read as tokens, so that the load tool, on the same cores as the
// server, does not decode a thousand results per request when all is well.
func BatchItems(body []byte) (int, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	accepted, rejected := -1, -1
	if tok, err := dec.ReadToken(); err == nil && tok.Kind() == '{' {
		for accepted < 0 || rejected < 0 {
			name, err := dec.ReadToken()
			if err != nil || name.Kind() != '"' {
				break
			}
			key := name.String() // a token is void after the next read
			val, err := dec.ReadToken()
			if err != nil || val.Kind() != '0' {
				break
			}
			n, err := val.Int()
			if err != nil {
				break
			}
			switch key {
			case "accepted":
				accepted = int(n)
			case "rejected":
				rejected = int(n)
			}
		}
	}
	if accepted >= 0 && rejected == 0 {
		return accepted, nil
	}
	var a struct {
		Accepted int `json:"accepted"`
		Rejected int `json:"rejected"`
		Results  []struct {
			Status int             `json:"status"`
			Error  json.RawMessage `json:"error"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return 0, fmt.Errorf("batch answer: %w", err)
	}
	for _, r := range a.Results {
		if r.Error != nil {
			return a.Accepted, fmt.Errorf("%d of %d rejected, e.g. %d %s", a.Rejected, a.Accepted+a.Rejected, r.Status, r.Error)
		}
	}
	return a.Accepted, nil
}

// Client is a keep-alive net/http client sized for many connections, for
// the calls that are not the load itself (probes, queries one at a time).
func Client(conns int) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conns * 2, MaxIdleConnsPerHost: conns * 2, MaxConnsPerHost: conns * 2, DisableCompression: true,
	}}
}

// Sender sends the load. It is fasthttp's client, not net/http's: the
// load tool shares the cores with the services it measures, and fasthttp
// reuses its requests, responses and buffers, so the tool spends less of
// them on each request (bench/PROFILE.md, entry 10).
type Sender struct {
	c *fasthttp.Client
}

// requestTimeout bounds each read and write of a request.
const requestTimeout = 30 * time.Second

// NewSender keeps up to conns*2 connections per host; a request finding
// them all busy waits for one (as net/http's transport does) rather than
// failing.
func NewSender(conns int) *Sender {
	return &Sender{c: &fasthttp.Client{
		MaxConnsPerHost:          conns * 2,
		MaxConnWaitTimeout:       requestTimeout,
		ReadTimeout:              requestTimeout,
		WriteTimeout:             requestTimeout,
		NoDefaultUserAgentHeader: true,
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

// do sends one request and returns how many items it got accepted; err
// says why anything was refused (all of it when items is 0).
func (s *Sender) do(r Request) (items int, err error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(r.URL)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType(r.ContentType)
	if r.Gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	req.SetBodyRaw(r.Body)
	if r.Prepare != nil {
		r.Prepare(req)
	}
	// Do, bounded by the client's read and write timeouts; the phase's end
	// does not cut a request short (a loop ignores what ends after it).
	// With DoDeadline at the phase's end, the phase after it failed by the
	// hundred thousand with "fasthttp: timeout" (TestLoopsBackToBack).
	if err := s.c.Do(req, resp); err != nil {
		return 0, err
	}
	if resp.StatusCode() != r.WantStatus {
		return 0, fmt.Errorf("status %d", resp.StatusCode())
	}
	if r.Items == nil {
		return 1, nil
	}
	return r.Items(resp.Body()) // Items reads the body before it is released
}

// Closed is a closed-loop result. Failed counts requests that were refused
// in whole or in part; Items what was accepted.
type Closed struct {
	FirstError     string
	OK, Failed     int64
	Items          int64
	Elapsed        time.Duration
	PerSecond      float64
	ItemsPerSecond float64
}

// ClosedLoop runs conns clients back to back for d.
func ClosedLoop(ctx context.Context, s *Sender, r Request, conns int, d time.Duration) Closed {
	var ok, failed, items atomic.Int64
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
				n, err := s.do(r)
				if ctx.Err() != nil {
					return // ended after the phase: not counted
				}
				items.Add(int64(n))
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	res := Closed{OK: ok.Load(), Failed: failed.Load(), Items: items.Load(), Elapsed: el,
		PerSecond: float64(ok.Load()) / el.Seconds(), ItemsPerSecond: float64(items.Load()) / el.Seconds()}
	if e, ok := firstErr.Load().(string); ok {
		res.FirstError = e
	}
	return res
}

// Open is an open-loop result; latencies are from the scheduled send time.
type Open struct {
	FirstError       string
	Rate             float64
	Sent, OK, Failed int64
	Items            int64
	P50, P99, P999   time.Duration
	Max              time.Duration
	// SendLagP99 is how late the tool itself sent requests (99th
	// percentile): the part of the latencies that is the tool's, not the
	// server's, when both share the cores.
	SendLagP99        time.Duration
	AchievedPerSecond float64 // successful requests per second
	ItemsPerSecond    float64 // accepted items per second
}

// OpenLoop schedules rate requests per second for d and waits for them.
// When ctx ends it sends no more; the requests in flight end on their own
// (the Sender's timeouts bound them).
func OpenLoop(ctx context.Context, s *Sender, r Request, rate float64, d time.Duration) Open {
	interval := time.Duration(float64(time.Second) / rate)
	n := int(d / interval)
	lat := make([]time.Duration, n)
	lag := make([]time.Duration, n)
	okFlags := make([]bool, n)
	var items atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		if w := time.Until(at); w > 0 {
			t := time.NewTimer(w)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			n = i // what was sent
			break
		}
		wg.Add(1)
		go func(i int, at time.Time) {
			defer wg.Done()
			lag[i] = time.Since(at)
			got, err := s.do(r)
			lat[i] = time.Since(at)
			items.Add(int64(got))
			okFlags[i] = err == nil
			if err != nil {
				firstErr.CompareAndSwap(nil, err.Error())
			}
		}(i, at)
	}
	wg.Wait()
	el := time.Since(start)
	res := Open{Rate: rate, Sent: int64(n), Items: items.Load()}
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
	lag = lag[:n]
	slices.Sort(lag)
	if n > 0 {
		res.SendLagP99 = lag[int(0.99*float64(n-1))]
	}
	res.AchievedPerSecond = float64(res.OK) / el.Seconds()
	res.ItemsPerSecond = float64(res.Items) / el.Seconds()
	return res
}
