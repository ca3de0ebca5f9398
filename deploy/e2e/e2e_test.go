// Package e2e drives the whole pipeline as real processes: POST through the
// single origin, read back through the query API, with faults injected while
// a stream of events runs. It runs once on the embedded broker and once on
// the real Apache Kafka broker.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eventtarget/eventtarget/deploy/e2e/internal/driver"
	"github.com/eventtarget/eventtarget/deploy/e2e/internal/stack"
)

// places are the addresses the suite posts from. The fake API knows some;
// the local database knows all, with the same answers, so every public
// address has a location whichever source answers.
var places = []stack.Location{
	{IP: "81.2.69.142", City: "London", CountryISO: "GB", CountryName: "United Kingdom", Lat: 51.5142, Lon: -0.0931, InAPI: true},
	{IP: "89.160.20.112", City: "Linköping", CountryISO: "SE", CountryName: "Sweden", Lat: 58.4167, Lon: 15.6167, InAPI: true},
	{IP: "216.160.83.56", City: "Milton", CountryISO: "US", CountryName: "United States", Lat: 47.2513, Lon: -122.3149, InAPI: true},
	{IP: "2.125.160.216", City: "Boxford", CountryISO: "GB", CountryName: "United Kingdom", Lat: 51.75, Lon: -1.25},
	{IP: "175.16.199.1", City: "Changchun", CountryISO: "CN", CountryName: "China", Lat: 43.88, Lon: 125.3228},
	{IP: "2001:480::1", City: "San Diego", CountryISO: "US", CountryName: "United States", Lat: 32.7203, Lon: -117.1552},
}

const privateIP = "10.1.2.3"

func ips() []string {
	out := []string{privateIP}
	for _, p := range places {
		out = append(out, p.IP)
	}
	return out
}

func cityOf(ip string) string {
	for _, p := range places {
		if p.IP == ip {
			return p.City
		}
	}
	return ""
}

func runName(what string) string {
	var r [3]byte
	_, _ = rand.Read(r[:])
	return "e2e-" + what + "-" + hex.EncodeToString(r[:])
}

func TestEndToEndEmbeddedBroker(t *testing.T) { suite(t, stack.Embedded) }

func TestEndToEndApacheKafka(t *testing.T) { suite(t, stack.ApacheKafka) }

func suite(t *testing.T, kind stack.Kind) {
	s := stack.Start(t, kind, places)
	t.Run("london", func(t *testing.T) { london(t, s) })
	t.Run("freshness", func(t *testing.T) { freshness(t, s) })
	for _, f := range []struct {
		name   string
		inject func(t *testing.T)
	}{
		{"sigkill-enricher", func(t *testing.T) { restart(t, s, "enricher") }},
		{"sigkill-loader", func(t *testing.T) { restart(t, s, "loader") }},
		{"sigkill-query", func(t *testing.T) { restart(t, s, "query") }},
		{"sigkill-broker", func(t *testing.T) {
			s.KillBroker(t)
			time.Sleep(time.Second)
			s.RestartBroker(t)
		}},
		{"geo-api-failing", func(t *testing.T) {
			control(t, s, "/control/fail", `{"status":503,"count":0}`)
			time.Sleep(5 * time.Second)
			control(t, s, "/control/reset", ``)
		}},
		{"geo-api-rate-limited", func(t *testing.T) {
			control(t, s, "/control/ratelimit", `{"signal":"x-rl","limit":3,"window":"3s"}`)
			time.Sleep(3 * time.Second)
			control(t, s, "/control/ratelimit", `{"signal":"retry-after","limit":3,"window":"2s","status":429}`)
			time.Sleep(3 * time.Second)
			control(t, s, "/control/reset", ``)
		}},
		{"clickhouse-stopped-30s", func(t *testing.T) {
			stopped := time.Now()
			s.StopClickHouse(t)
			time.Sleep(30*time.Second - time.Since(stopped))
			s.StartClickHouse(t)
		}},
	} {
		t.Run(f.name, func(t *testing.T) { fault(t, s, f.name, f.inject) })
	}
}

// london is the README's promise: a POST from London is back with its
// country within 2 s, and a box around London finds it.
func london(t *testing.T, s *stack.Stack) {
	ctx := context.Background()
	run := driver.New(s.URL, runName("london"))
	id, ok := run.Post(ctx, "81.2.69.142")
	if !ok {
		t.Fatal("POST with X-Forwarded-For: 81.2.69.142 was not acknowledged")
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		e, code, err := run.Get(ctx, id)
		if err == nil && code == http.StatusOK && e.CountryISO != nil && *e.CountryISO == "GB" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s after 2 s: %d %+v %v", id, code, e, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Get(s.URL + "/api/events/?latitude_min=51&latitude_max=52&longitude_min=-1&longitude_max=1&page_size=1000&name=" + run.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Results []driver.Event `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || len(page.Results) != 1 || page.Results[0].UUID != id {
		t.Fatalf("box around London: %+v %v", page, err)
	}
}

func freshness(t *testing.T, s *stack.Stack) {
	run := driver.New(s.URL, runName("freshness"))
	var public []string
	for _, p := range places {
		public = append(public, p.IP)
	}
	d, err := run.Freshness(context.Background(), 300, 50, public, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: freshness (POST acknowledged → queryable with location) over %d events: p50 %v, p99 %v, max %v",
		s.Kind, len(d), driver.Percentile(d, 0.5).Round(time.Millisecond), driver.Percentile(d, 0.99).Round(time.Millisecond),
		driver.Percentile(d, 1).Round(time.Millisecond))
	if len(d) != 300 {
		t.Errorf("%d of 300 events measured", len(d))
	}
}

func restart(t *testing.T, s *stack.Stack, name string) {
	s.Procs[name].Kill(t)
	time.Sleep(time.Second)
	s.Procs[name].Start(t)
}

func control(t *testing.T, s *stack.Stack, path, body string) {
	resp, err := http.Post(s.FakeGeo+path, "application/json", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("fake geo API %s: %d", path, resp.StatusCode)
	}
}

// fault runs a stream of events, injects the fault in its middle, and checks
// that every acknowledged event ends up queryable once, with its location.
func fault(t *testing.T, s *stack.Stack, name string, inject func(t *testing.T)) {
	ctx := context.Background()
	run := driver.New(s.URL, runName(name))
	streamed := make(chan struct{})
	go func() {
		defer close(streamed)
		run.Stream(ctx, 100, 12*time.Second, ips())
	}()
	time.Sleep(3 * time.Second)
	inject(t)
	<-streamed
	rep, err := run.Verify(ctx, cityOf, 3*time.Minute)
	t.Logf("%s, %s: %s", s.Kind, name, rep)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Duplicates != 0 || rep.Queryable != rep.Acknowledged || rep.Acknowledged == 0 {
		t.Fatalf("want every acknowledged event queryable once: %s", rep)
	}
	if !strings.HasPrefix(name, "sigkill-broker") && rep.Acknowledged < rep.Sent*9/10 {
		t.Errorf("only %d of %d events acknowledged without a broker fault", rep.Acknowledged, rep.Sent)
	}
}
