package load

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// ClickHouse runs statements over ClickHouse's HTTP interface; the load tool
// uses it only to fill the events table with synthetic rows, server-side.
type ClickHouse struct {
	URL, Database string
	client        *http.Client
}

// NewClickHouse points at an HTTP interface, e.g. http://127.0.0.1:8123.
func NewClickHouse(u, db string) *ClickHouse {
	return &ClickHouse{URL: u, Database: db, client: &http.Client{Timeout: 10 * time.Minute}}
}

// Exec runs one statement and returns its output.
func (c *ClickHouse) Exec(ctx context.Context, sql string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL+"/?database="+url.QueryEscape(c.Database), strings.NewReader(sql))
	if err != nil {
		return "", err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("clickhouse: %s", strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

// Fill appends n synthetic enriched events: a month of receive times and
// coordinates spread over the globe. Ids are random (version 4), so id_time
// is 0 for all of them: lookups then search the id alone, the harder case.
func (c *ClickHouse) Fill(ctx context.Context, n int) error {
	const chunk = 1_000_000
	for done := 0; done < n; done += chunk {
		m := min(chunk, n-done)
		_, err := c.Exec(ctx, fmt.Sprintf(`INSERT INTO events (id, id_time, version, name, data, received_at, received_ms,
  source_ip, user_agent, city, country_iso, country_name, latitude, longitude, geo_source, geo_database, geo_status, enriched_ms)
SELECT generateUUIDv4(), 0, 1, 'page_view', '{"path":"/pricing"}', toDateTime(intDiv(ms, 1000)), ms,
  '81.2.69.142', 'loadgen', 'City', 'GB', 'United Kingdom', (rand() %% 17000) / 100.0 - 85, (rand(1) %% 36000) / 100.0 - 180,
  'mmdb', 'synthetic', 'resolved', ms
FROM (SELECT number, 1764547200000 + (rand(2) %% 2592000000) AS ms FROM numbers(%d))`, m))
		if err != nil {
			return err
		}
	}
	return nil
}

// SampleIDs returns up to n stored ids.
func (c *ClickHouse) SampleIDs(ctx context.Context, n int) ([]string, error) {
	out, err := c.Exec(ctx, fmt.Sprintf("SELECT toString(id) FROM events WHERE rand() %% 100 = 0 LIMIT %d", n))
	if err != nil {
		return nil, err
	}
	return strings.Fields(out), nil
}

// Latencies is a sample's p50/p99.
type Latencies struct {
	Requests   int           `json:"requests"`
	Failed     int           `json:"failed"`
	P50, P99   time.Duration `json:"-"`
	P50ms      float64       `json:"p50_ms"`
	P99ms      float64       `json:"p99_ms"`
	FirstError string        `json:"first_error,omitempty"`
}

func summarise(d []time.Duration, failed int, firstErr string) Latencies {
	sort.Slice(d, func(a, b int) bool { return d[a] < d[b] })
	l := Latencies{Requests: len(d) + failed, Failed: failed, FirstError: firstErr}
	if len(d) > 0 {
		l.P50, l.P99 = d[int(0.5*float64(len(d)-1))], d[int(0.99*float64(len(d)-1))]
		l.P50ms, l.P99ms = float64(l.P50.Microseconds())/1000, float64(l.P99.Microseconds())/1000
	}
	return l
}

// GetLatencies times GET /api/events/<uuid>/ one at a time.
func GetLatencies(ctx context.Context, c *http.Client, base string, ids []string, n int) Latencies {
	var d []time.Duration
	failed, first := 0, ""
	for i := range n {
		t0 := time.Now()
		err := get(ctx, c, base+"/api/events/"+ids[i%len(ids)]+"/")
		if err != nil {
			failed++
			if first == "" {
				first = err.Error()
			}
			continue
		}
		d = append(d, time.Since(t0))
	}
	return summarise(d, failed, first)
}

// BoxLatencies times searches of random 10°×10° boxes (first page of 10 and
// its count), one at a time.
func BoxLatencies(ctx context.Context, c *http.Client, base string, n int) Latencies {
	r := rand.New(rand.NewPCG(1, 2))
	var d []time.Duration
	failed, first := 0, ""
	for range n {
		lat, lon := r.Float64()*160-80, r.Float64()*340-170
		u := fmt.Sprintf("%s/api/events/?latitude_min=%.2f&latitude_max=%.2f&longitude_min=%.2f&longitude_max=%.2f",
			base, lat-5, lat+5, lon-5, lon+5)
		t0 := time.Now()
		if err := get(ctx, c, u); err != nil {
			failed++
			if first == "" {
				first = err.Error()
			}
			continue
		}
		d = append(d, time.Since(t0))
	}
	return summarise(d, failed, first)
}

func get(ctx context.Context, c *http.Client, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d", u, resp.StatusCode)
	}
	return nil
}
