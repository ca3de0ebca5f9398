package app_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventtarget/eventtarget/enricher/internal/app"
	"github.com/eventtarget/eventtarget/enricher/internal/config"
	"github.com/eventtarget/eventtarget/enricher/internal/fakegeo"
	"github.com/eventtarget/eventtarget/enricher/internal/geo"
	"github.com/eventtarget/eventtarget/platform/kafkatest"
	"github.com/eventtarget/eventtarget/schemas/event"
)

type cityRow struct {
	cidr, iso, country, city string
	lat, lon                 float64
}

// writeCityDB writes a GeoIP2-City database with mmdbwriter.
func writeCityDB(t *testing.T, rows ...cityRow) string {
	t.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoIP2-City", RecordSize: 28, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		_, n, err := net.ParseCIDR(r.cidr)
		if err != nil {
			t.Fatal(err)
		}
		err = w.Insert(n, mmdbtype.Map{
			"country":  mmdbtype.Map{"iso_code": mmdbtype.String(r.iso), "names": mmdbtype.Map{"en": mmdbtype.String(r.country)}},
			"city":     mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(r.city)}},
			"location": mmdbtype.Map{"latitude": mmdbtype.Float64(r.lat), "longitude": mmdbtype.Float64(r.lon)},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "city.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := w.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestIntegrationEnricherAPIThenFallback runs the whole service: the fake
// remote API answers first; when it fails for good, the local database does.
func TestIntegrationEnricherAPIThenFallback(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, b kafkatest.Backend) {
		api := fakegeo.New(map[netip.Addr]geo.Location{
			netip.MustParseAddr("81.2.69.142"): {City: "London", CountryISO: "GB", CountryName: "United Kingdom", Latitude: 51.5142, Longitude: -0.0931, HasCoordinates: true},
		})
		srv := httptest.NewServer(api)
		defer srv.Close()
		db := writeCityDB(t,
			cityRow{"81.2.69.142/32", "GB", "United Kingdom", "Not London", 1, 1},
			cityRow{"89.160.20.112/32", "SE", "Sweden", "Linköping", 58.4167, 15.6167},
			cityRow{"2.125.160.216/32", "GB", "United Kingdom", "Boxford", 51.75, -1.25},
		)

		name := kafkatest.UniqueName(t)
		cfg := config.Default()
		cfg.HealthAddr = "127.0.0.1:0"
		cfg.Brokers = b.Brokers
		cfg.RawTopic, cfg.EnrichedTopic, cfg.DLQTopic = "app.raw."+name, "app.enriched."+name, "app.dlq."+name
		cfg.TopicPartitions, cfg.ReplicationFactor = 2, 1
		cfg.Group, cfg.TransactionalID, cfg.InstanceID = "app."+name, "app.txn."+name, ""
		cfg.APIFormat, cfg.Remote.Format, cfg.Remote.BaseURL = "ip-api", "ip-api", srv.URL
		cfg.Remote.MaxElapsed, cfg.Remote.MaxAttempts, cfg.Remote.InitialBackoff = time.Second, 3, 20*time.Millisecond
		cfg.Remote.MaxRateLimitPause = time.Second
		cfg.TransactionTimeout = time.Minute
		cfg.MMDB.Paths = []string{db}
		cfg.SessionTimeout = 6 * time.Second
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}

		ctx, cancel := context.WithCancel(context.Background())
		healthc, done := make(chan string, 1), make(chan error, 1)
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		go func() { done <- app.Run(ctx, cfg, log, func(a string) { healthc <- a }) }()
		var health string
		select {
		case health = <-healthc:
		case err := <-done:
			t.Fatalf("enricher did not start: %v", err)
		}
		waitFor(t, "/readyz 200", 20*time.Second, func() bool {
			resp, err := http.Get("http://" + health + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})

		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Brokers...), kgo.DefaultProduceTopic(cfg.RawTopic))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		send := func(ips ...string) map[uuid.UUID]string {
			out := map[uuid.UUID]string{}
			for _, ip := range ips {
				ev := event.RawEvent{SchemaVersion: 1, ID: uuid.Must(uuid.NewV7()), Name: "visit", Data: json.RawMessage(`{}`),
					ReceivedAt: event.NewTimestamp(time.Now()), SourceIP: ip}
				if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(ev.ID.String()), Value: ev.AppendJSON(nil)}).FirstErr(); err != nil {
					t.Fatal(err)
				}
				out[ev.ID] = ip
			}
			return out
		}
		reader := readContinuously(ctx, t, b, cfg.EnrichedTopic)
		results := map[uuid.UUID]event.EnrichedEvent{}
		collect := func(ids map[uuid.UUID]string) {
			waitFor(t, "enriched events", 30*time.Second, func() bool {
				d, _, _ := reader.snapshot()
				return d >= len(results)+len(ids)
			})
			for _, e := range reader.events() {
				results[e.ID] = e
			}
		}

		first := send("81.2.69.142", "89.160.20.112", "10.0.0.1", "::ffff:81.2.69.142")
		collect(first)
		api.Fail(http.StatusServiceUnavailable, 0) // down for good
		callsBefore := api.Count("")
		second := send("2.125.160.216", "81.2.69.142")
		collect(second)

		want := []struct {
			ids    map[uuid.UUID]string
			ip     string
			source event.GeoSource
			city   string
		}{
			{first, "81.2.69.142", event.GeoSourceAPI, "London"},
			{first, "::ffff:81.2.69.142", event.GeoSourceCache, "London"},
			{first, "89.160.20.112", event.GeoSourceMMDB, "Linköping"},
			{first, "10.0.0.1", event.GeoSourcePrivate, ""},
			{second, "2.125.160.216", event.GeoSourceMMDB, "Boxford"},
			{second, "81.2.69.142", event.GeoSourceCache, "London"},
		}
		for _, w := range want {
			for id, ip := range w.ids {
				if ip != w.ip {
					continue
				}
				e, ok := results[id]
				if !ok {
					t.Fatalf("event %s from %s not enriched", id, ip)
				}
				city := ""
				if e.City != nil {
					city = *e.City
				}
				if e.GeoSource != w.source || city != w.city {
					t.Errorf("%s: source %s city %q, want %s %q (database %q)", ip, e.GeoSource, city, w.source, w.city, e.GeoDatabase)
				}
			}
		}
		if api.Count("") <= callsBefore {
			t.Error("the failing API was not tried before falling back")
		}
		_, total, dupes := reader.snapshot()
		if total != 6 || len(dupes) != 0 {
			t.Errorf("%d enriched records, duplicates %v; want 6 once each", total, dupes)
		}

		cancel()
		if err := <-done; err != nil {
			t.Fatalf("enricher stopped with %v", err)
		}
		adm := kadm.NewClient(cl)
		topics, err := adm.ListTopics(context.Background(), cfg.EnrichedTopic, cfg.DLQTopic)
		if err != nil || len(topics) != 2 {
			t.Errorf("enricher should have created its topics: %v %v", topics, err)
		}
	})
}
