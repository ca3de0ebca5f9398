// Package driver plays the users of the end-to-end suite: it posts events
// through the single origin as a producer behind a trusted proxy would
// (X-Forwarded-For), keeps what was acknowledged, and reads everything back
// through the query API to count what is queryable, doubled or unlocated.
package driver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Run is one named stream of events; the name tells its events apart.
type Run struct {
	Name   string
	base   string
	client *http.Client

	sent     atomic.Int64
	mu       sync.Mutex
	acked    map[string]ack // uuid → what was sent
	refused  map[int]int    // status → count, for the report
	inFlight chan struct{}
}

type ack struct {
	ip string
	at time.Time
}

// New starts a run against the single origin base.
func New(base, name string) *Run {
	return &Run{
		Name: name, base: base,
		client:   &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}},
		acked:    map[string]ack{},
		refused:  map[int]int{},
		inFlight: make(chan struct{}, 256),
	}
}

// Post sends one event from ip and returns its uuid when acknowledged.
func (r *Run) Post(ctx context.Context, ip string) (string, bool) {
	r.sent.Add(1)
	body := fmt.Sprintf(`{"name":%q,"data":{"ip":%q,"n":%d}}`, r.Name, ip, r.sent.Load())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+"/api/events/", strings.NewReader(body))
	if err != nil {
		return "", false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", ip)
	resp, err := r.client.Do(req)
	if err != nil {
		r.refuse(0)
		return "", false
	}
	defer resp.Body.Close()
	var created struct {
		UUID string `json:"uuid"`
	}
	if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&created) != nil || created.UUID == "" {
		r.refuse(resp.StatusCode)
		return "", false
	}
	r.mu.Lock()
	r.acked[created.UUID] = ack{ip: ip, at: time.Now()}
	r.mu.Unlock()
	return created.UUID, true
}

func (r *Run) refuse(status int) {
	r.mu.Lock()
	r.refused[status]++
	r.mu.Unlock()
}

// Stream posts at a constant rate for d (open loop: a slow answer does not
// slow the arrivals), cycling through ips, and waits for the last answers.
func (r *Run) Stream(ctx context.Context, rate int, d time.Duration, ips []string) {
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	end := time.After(d)
	var wg sync.WaitGroup
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-end:
			wg.Wait()
			return
		case <-tick.C:
		}
		r.inFlight <- struct{}{}
		wg.Add(1)
		go func(ip string) {
			defer wg.Done()
			defer func() { <-r.inFlight }()
			r.Post(ctx, ip)
		}(ips[i%len(ips)])
	}
}

// Report is what a run found.
type Report struct {
	Sent, Acknowledged, Queryable, Duplicates, WithoutLocation int
	Refused                                                    map[int]int
}

func (rep Report) String() string {
	return fmt.Sprintf("sent %d, acknowledged %d, queryable %d, duplicates %d, without their location %d (refused by status: %v)",
		rep.Sent, rep.Acknowledged, rep.Queryable, rep.Duplicates, rep.WithoutLocation, rep.Refused)
}

// Event is an event as the query API shows it.
type Event struct {
	UUID       string  `json:"uuid"`
	SourceIP   string  `json:"source_ip"`
	City       *string `json:"city"`
	CountryISO *string `json:"country_iso"`
	GeoStatus  string  `json:"geo_status"`
	GeoSource  string  `json:"geo_source"`
}

// Verify reads the run back through the list API until every acknowledged
// event is queryable with its expected city (cityOf returns "" for an
// address with no location), or until timeout, and reports.
func (r *Run) Verify(ctx context.Context, cityOf func(ip string) string, timeout time.Duration) (Report, error) {
	r.mu.Lock()
	acked := make(map[string]ack, len(r.acked))
	for k, v := range r.acked {
		acked[k] = v
	}
	refused := map[int]int{}
	for k, v := range r.refused {
		refused[k] = v
	}
	r.mu.Unlock()
	deadline := time.Now().Add(timeout)
	var rep Report
	for {
		events, err := r.list(ctx)
		rep = Report{Sent: int(r.sent.Load()), Acknowledged: len(acked), Refused: refused}
		if err == nil {
			seen := map[string]int{}
			for _, e := range events {
				seen[e.UUID]++
				if seen[e.UUID] == 2 {
					rep.Duplicates++
				}
			}
			for id := range acked {
				if seen[id] > 0 {
					rep.Queryable++
				}
			}
			for _, e := range events {
				a, ok := acked[e.UUID]
				if !ok {
					continue
				}
				want := cityOf(a.ip)
				if want != "" && (e.City == nil || *e.City != want) {
					rep.WithoutLocation++
				}
			}
			if rep.Queryable == rep.Acknowledged && rep.WithoutLocation == 0 {
				return rep, nil
			}
		}
		if time.Now().After(deadline) {
			return rep, fmt.Errorf("not every acknowledged event is queryable with its location after %v (last list error: %v)", timeout, err)
		}
		select {
		case <-ctx.Done():
			return rep, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// list follows the cursor through every event of the run.
func (r *Run) list(ctx context.Context) ([]Event, error) {
	var out []Event
	next := r.base + "/api/events/?page_size=1000&name=" + url.QueryEscape(r.Name)
	for next != "" {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, next, nil)
		resp, err := r.client.Do(req)
		if err != nil {
			return nil, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("list: %d %s", resp.StatusCode, bytes.TrimSpace(b))
		}
		var page struct {
			Results    []Event `json:"results"`
			NextCursor *string `json:"next_cursor"`
		}
		if err := json.Unmarshal(b, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Results...)
		next = ""
		if page.NextCursor != nil {
			next = r.base + "/api/events/?page_size=1000&name=" + url.QueryEscape(r.Name) + "&cursor=" + *page.NextCursor
		}
	}
	return out, nil
}

// Get fetches one event by uuid.
func (r *Run) Get(ctx context.Context, id string) (Event, int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/api/events/"+id+"/", nil)
	resp, err := r.client.Do(req)
	if err != nil {
		return Event{}, 0, err
	}
	defer resp.Body.Close()
	var e Event
	if resp.StatusCode == http.StatusOK {
		err = json.NewDecoder(resp.Body).Decode(&e)
	}
	return e, resp.StatusCode, err
}

// Freshness posts n events at rate, and for each polls GET until it shows a
// location: the time from the POST's acknowledgement to then.
func (r *Run) Freshness(ctx context.Context, n, rate int, ips []string, timeout time.Duration) ([]time.Duration, error) {
	var mu sync.Mutex
	var out []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for i := range n {
		<-tick.C
		wg.Add(1)
		go func(ip string) {
			defer wg.Done()
			id, ok := r.Post(ctx, ip)
			if !ok {
				return
			}
			acked := time.Now()
			for time.Since(acked) < timeout {
				e, code, err := r.Get(ctx, id)
				if err == nil && code == http.StatusOK && e.City != nil {
					mu.Lock()
					out = append(out, time.Since(acked))
					mu.Unlock()
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
			mu.Lock()
			if firstErr == nil {
				firstErr = fmt.Errorf("event %s from %s had no location %v after its acknowledgement", id, ip, timeout)
			}
			mu.Unlock()
		}(ips[i%len(ips)])
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, firstErr
}

// Percentile of sorted durations.
func Percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(q*float64(len(sorted)-1))]
}
