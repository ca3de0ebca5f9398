package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventtarget/eventtarget/query/internal/app"
	"github.com/eventtarget/eventtarget/query/internal/chtest"
	"github.com/eventtarget/eventtarget/query/internal/config"
	"github.com/eventtarget/eventtarget/query/internal/store"
	"github.com/eventtarget/eventtarget/schemas/event"
)

type page struct {
	Count      *int              `json:"count"`
	Next       *string           `json:"next"`
	Previous   *string           `json:"previous"`
	NextCursor *string           `json:"next_cursor"`
	Results    []json.RawMessage `json:"results"`
}

func get(t *testing.T, u string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: content type %q", u, resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, b
}

func serve(t *testing.T) (*httptest.Server, *store.Store) {
	t.Helper()
	_, s, _ := chtest.Open(t)
	srv := httptest.NewServer(app.Router(s, config.DefaultQuery(), chtest.Quiet()))
	t.Cleanup(srv.Close)
	return srv, s
}

func TestIntegrationGetByUUID(t *testing.T) {
	srv, s := serve(t)
	id := uuid.Must(uuid.NewV7())
	ev := event.RawEvent{SchemaVersion: 1, ID: id, Name: "signup", Data: json.RawMessage(`{"plan": "pro"}`),
		ReceivedAt: event.NewTimestamp(time.Date(2026, 12, 3, 10, 0, 0, 123e6, time.UTC)), SourceIP: "81.2.69.142"}
	city, iso, name, lat, lon := "London", "GB", "United Kingdom", 51.5142, -0.0931
	en := event.EnrichedEvent{RawEvent: ev, City: &city, CountryISO: &iso, CountryName: &name, Latitude: &lat, Longitude: &lon,
		GeoSource: event.GeoSourceAPI, GeoDatabase: "ip-api.com", GeoStatus: event.GeoStatusResolved,
		EnrichedAt: event.NewTimestamp(time.Date(2026, 12, 3, 10, 0, 1, 0, time.UTC)), EnrichmentVersion: 1}
	if err := s.Insert(context.Background(), []store.Row{store.RawRow(&ev), store.EnrichedRow(&en)}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/events/" + id.String() + "/", "/api/events/" + id.String()} {
		code, body := get(t, srv.URL+path)
		if code != http.StatusOK {
			t.Fatalf("%s: %d %s", path, code, body)
		}
		want := `{"uuid":"` + id.String() + `","name":"signup","data":{"plan": "pro"},"datetime_created":"2026-12-03T10:00:00.123Z",` +
			`"source_ip":"81.2.69.142","city":"London","country_iso":"GB","country_name":"United Kingdom","latitude":51.5142,"longitude":-0.0931,` +
			`"geo_source":"api","geo_database":"ip-api.com","geo_status":"resolved","enriched_at":"2026-12-03T10:00:01.000Z","enrichment_version":1}`
		if string(body) != want {
			t.Errorf("%s:\n got %s\nwant %s", path, body, want)
		}
	}
	for path, wantCode := range map[string]int{
		"/api/events/" + uuid.NewString() + "/":   http.StatusNotFound,
		"/api/events/not-a-uuid/":                 http.StatusBadRequest,
		"/api/events/{" + uuid.NewString() + "}/": http.StatusBadRequest,
		"/api/nothing":                            http.StatusNotFound,
	} {
		code, body := get(t, srv.URL+path)
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if code != wantCode || json.Unmarshal(body, &e) != nil || e.Error.Code == "" || e.Error.Message == "" {
			t.Errorf("%s: %d %s, want %d with a JSON error", path, code, body, wantCode)
		}
	}
	resp, err := http.Post(srv.URL+"/api/events/"+id.String()+"/", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST on the query service: %d", resp.StatusCode)
	}
}

func TestIntegrationListValidation(t *testing.T) {
	srv, _ := serve(t)
	for query, field := range map[string]string{
		"page=0": "page", "page=abc": "page", "page_size=0": "page_size", "page_size=1001": "page_size",
		"latitude_min=91": "latitude_min", "latitude_max=-90.5": "latitude_max", "longitude_min=181": "longitude_min",
		"longitude_max=-180.1": "longitude_max", "latitude_min=nan": "latitude_min", "latitude_min=10&latitude_max=5": "latitude_min",
		"datetime_after=yesterday": "datetime_after", "datetime_before=2026-13-01": "datetime_before",
		"datetime_after=2026-12-02&datetime_before=2026-12-01": "datetime_after", "cursor=***": "cursor", "cursor=bm90LWEtY3Vyc29y": "cursor",
	} {
		code, body := get(t, srv.URL+"/api/events/?"+query)
		var e struct {
			Error struct{ Code, Field, Message string } `json:"error"`
		}
		if code != http.StatusBadRequest || json.Unmarshal(body, &e) != nil || e.Error.Field != field || !strings.Contains(e.Error.Message, field) {
			t.Errorf("?%s: %d %s, want 400 naming %s", query, code, body, field)
		}
	}
	// Valid edge values pass, including a box across the antimeridian and
	// the original app's ISO forms.
	for _, query := range []string{"latitude_min=-90&latitude_max=90", "longitude_min=170&longitude_max=-170",
		"datetime_after=2026-12-01", "datetime_after=2026-12-01T10:00:00", "datetime_after=2026-12-01T10:00:00%2B01:00", "page_size=1000", "unknown=1"} {
		if code, body := get(t, srv.URL+"/api/events/?"+query); code != http.StatusOK {
			t.Errorf("?%s: %d %s", query, code, body)
		}
	}
}

func TestIntegrationListPages(t *testing.T) {
	srv, s := serve(t)
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var rows []store.Row
	for i := range 25 {
		ev := event.RawEvent{SchemaVersion: 1, ID: uuid.Must(uuid.NewV7()), Name: "p", Data: json.RawMessage(`{}`),
			ReceivedAt: event.NewTimestamp(base.Add(time.Duration(i) * time.Minute))}
		rows = append(rows, store.RawRow(&ev))
	}
	if err := s.Insert(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	read := func(u string) page {
		t.Helper()
		code, body := get(t, u)
		var p page
		if code != http.StatusOK || json.Unmarshal(body, &p) != nil {
			t.Fatalf("GET %s: %d %s", u, code, body)
		}
		return p
	}
	p1 := read(srv.URL + "/api/events/?page_size=10&name=p")
	if *p1.Count != 25 || len(p1.Results) != 10 || p1.Previous != nil || p1.Next == nil || p1.NextCursor == nil {
		t.Fatalf("page 1: %+v", p1)
	}
	next, _ := url.Parse(*p1.Next)
	if next.Query().Get("page") != "2" || next.Query().Get("name") != "p" || next.Query().Get("page_size") != "10" {
		t.Errorf("next link %s", *p1.Next)
	}
	p2 := read(*p1.Next)
	prev, _ := url.Parse(*p2.Previous)
	if prev.Query().Has("page") || len(p2.Results) != 10 {
		t.Errorf("page 2 previous link %s (the first page has no page parameter)", *p2.Previous)
	}
	p3 := read(*p2.Next)
	if len(p3.Results) != 5 || p3.Next != nil || p3.NextCursor != nil {
		t.Errorf("last page: %+v", p3)
	}
	// Following cursors visits the same 25 events, newest first.
	seen := map[string]bool{}
	u := srv.URL + "/api/events/?page_size=7"
	var lastCreated string
	for u != "" {
		p := read(u)
		if strings.Contains(u, "cursor=") && p.Count != nil {
			t.Errorf("cursor pages do not count: %v", *p.Count)
		}
		for _, r := range p.Results {
			var v struct {
				UUID            string `json:"uuid"`
				DatetimeCreated string `json:"datetime_created"`
			}
			json.Unmarshal(r, &v)
			if seen[v.UUID] {
				t.Fatalf("%s twice", v.UUID)
			}
			if lastCreated != "" && v.DatetimeCreated > lastCreated {
				t.Fatalf("not newest first: %s after %s", v.DatetimeCreated, lastCreated)
			}
			seen[v.UUID], lastCreated = true, v.DatetimeCreated
		}
		u = ""
		if p.Next != nil {
			u = *p.Next
		}
	}
	if len(seen) != 25 {
		t.Errorf("cursor walk saw %d of 25", len(seen))
	}
}
