package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventtarget/eventtarget/query/internal/chtest"
	"github.com/eventtarget/eventtarget/query/internal/store"
	"github.com/eventtarget/eventtarget/schemas/event"
)

func ptr[T any](v T) *T { return &v }

func raw(id uuid.UUID, at time.Time, ip string) event.RawEvent {
	return event.RawEvent{SchemaVersion: 1, ID: id, Name: "visit", Data: json.RawMessage(`{"k": [1, 2]}`),
		ReceivedAt: event.NewTimestamp(at), SourceIP: ip, UserAgent: "test"}
}

func enriched(r event.RawEvent, version uint32, city, iso string, lat, lon float64) event.EnrichedEvent {
	return event.EnrichedEvent{RawEvent: r, City: ptr(city), CountryISO: ptr(iso), CountryName: ptr(iso + " land"),
		Latitude: ptr(lat), Longitude: ptr(lon), GeoSource: event.GeoSourceMMDB, GeoDatabase: "test-db",
		GeoStatus: event.GeoStatusResolved, EnrichedAt: event.NewTimestamp(time.Now()), EnrichmentVersion: version}
}

func insert(t *testing.T, s *store.Store, rows ...store.Row) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}
}

func TestIntegrationNewestVersionWins(t *testing.T) {
	_, s, _ := chtest.Open(t)
	ctx := context.Background()
	id := uuid.Must(uuid.NewV7())
	r := raw(id, time.Now(), "81.2.69.142")

	insert(t, s, store.RawRow(&r))
	got, err := s.Get(ctx, id)
	if err != nil || got.Version != 0 || got.City != nil || got.View().Provenance != nil {
		t.Fatalf("before enrichment: %+v %v", got, err)
	}
	if string(got.View().Data) != `{"k": [1, 2]}` || got.ReceivedMS != uint64(r.ReceivedAt.UnixMilli()) {
		t.Errorf("raw fields changed: %+v", got)
	}

	v1 := enriched(r, 1, "London", "GB", 51.5, -0.09)
	insert(t, s, store.EnrichedRow(&v1), store.EnrichedRow(&v1)) // a duplicate delivery
	insert(t, s, store.RawRow(&r))                               // a late raw redelivery
	if got, _ = s.Get(ctx, id); got.Version != 1 || *got.City != "London" {
		t.Fatalf("after enrichment: %+v", got)
	}
	v9 := enriched(r, 9, "Paris", "FR", 48.85, 2.35) // a replay moved it
	insert(t, s, store.EnrichedRow(&v9))
	if got, _ = s.Get(ctx, id); got.Version != 9 || *got.City != "Paris" || got.View().Provenance.EnrichmentVersion != 9 {
		t.Fatalf("after replay: %+v", got)
	}

	// Lists see one event, in its newest version only: the old London
	// version must not match a box around London.
	all, err := s.List(ctx, store.Filter{}, nil, 0, 100)
	if err != nil || len(all) != 1 || all[0].Version != 9 {
		t.Fatalf("list: %+v %v", all, err)
	}
	london := store.Filter{LatMin: ptr(51.0), LatMax: ptr(52.0), LonMin: ptr(-1.0), LonMax: ptr(1.0)}
	if rows, err := s.List(ctx, london, nil, 0, 100); err != nil || len(rows) != 0 {
		t.Errorf("an outdated version matched the London box: %+v %v", rows, err)
	}
	if n, err := s.Count(ctx, store.Filter{}); err != nil || n != 1 {
		t.Errorf("count %d %v", n, err)
	}
	if _, err := s.Get(ctx, uuid.New()); err != store.ErrNotFound {
		t.Errorf("unknown id: %v", err)
	}
}

// fixture is a random population of events, kept in Go for brute-force checks.
type fixture struct {
	rows []store.Row // newest version of each event
}

var places = []struct {
	city, iso string
	lat, lon  float64
}{
	{"London", "GB", 51.51, -0.09}, {"Paris", "FR", 48.85, 2.35}, {"Suva", "FJ", -18.14, 178.44},
	{"Apia", "WS", -13.83, -171.76}, {"Anadyr", "RU", 64.73, 177.51}, {"Nome", "US", 64.5, -165.4},
}

func populate(t *testing.T, s *store.Store, n int, seed uint64) fixture {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, seed+1))
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var f fixture
	var batch []store.Row
	for i := range n {
		// Ties in received_ms on purpose: pagination must still be exact.
		at := base.Add(time.Duration(r.IntN(30*24*3600)) * time.Second).Add(time.Duration(r.IntN(3)) * time.Millisecond)
		id := uuid.Must(uuid.NewV7())
		if i%10 == 0 {
			id = uuid.New() // client-supplied v4 ids sort differently
		}
		ev := raw(id, at, "192.0.2.1")
		batch = append(batch, store.RawRow(&ev))
		switch k := r.IntN(10); {
		case k == 0: // never enriched
			f.rows = append(f.rows, store.RawRow(&ev))
		case k == 1: // unresolved
			en := event.EnrichedEvent{RawEvent: ev, GeoSource: event.GeoSourceNone, GeoStatus: event.GeoStatusUnresolved,
				EnrichedAt: event.NewTimestamp(at), EnrichmentVersion: 1}
			batch = append(batch, store.EnrichedRow(&en))
			f.rows = append(f.rows, store.EnrichedRow(&en))
		default:
			p := places[r.IntN(len(places))]
			lat := max(-90, min(90, p.lat+r.NormFloat64()*5))
			lon := p.lon + r.NormFloat64()*5
			if lon > 180 {
				lon -= 360
			} else if lon < -180 {
				lon += 360
			}
			en := enriched(ev, 1, p.city, p.iso, lat, lon)
			batch = append(batch, store.EnrichedRow(&en))
			switch k {
			case 2: // replayed to a new place
				q := places[r.IntN(len(places))]
				en = enriched(ev, 5, q.city, q.iso, q.lat, q.lon)
				batch = append(batch, store.EnrichedRow(&en))
			case 3: // replayed, and the new database has no location for it
				en = event.EnrichedEvent{RawEvent: ev, GeoSource: event.GeoSourceNone, GeoStatus: event.GeoStatusUnresolved,
					EnrichedAt: event.NewTimestamp(at), EnrichmentVersion: 5}
				batch = append(batch, store.EnrichedRow(&en))
			case 4: // delivered twice
				batch = append(batch, store.EnrichedRow(&en))
			}
			f.rows = append(f.rows, store.EnrichedRow(&en))
		}
		if len(batch) >= 5000 {
			insert(t, s, batch...)
			batch = batch[:0]
		}
	}
	insert(t, s, batch...)
	return f
}

func matches(f store.Filter, r *store.Row) bool {
	eq := func(want, got *string) bool { return want == nil || (got != nil && *got == *want) }
	if f.After != nil && r.ReceivedMS < uint64(f.After.UnixMilli()) || f.Before != nil && r.ReceivedMS > uint64(f.Before.UnixMilli()) {
		return false
	}
	if !eq(f.Name, &r.Name) || !eq(f.CountryISO, r.CountryISO) || !eq(f.CountryName, r.CountryName) || !eq(f.City, r.City) {
		return false
	}
	if f.LatMin != nil || f.LatMax != nil || f.LonMin != nil || f.LonMax != nil {
		if r.Latitude == nil || r.Longitude == nil {
			return false
		}
	}
	if f.LatMin != nil && *r.Latitude < *f.LatMin || f.LatMax != nil && *r.Latitude > *f.LatMax {
		return false
	}
	if f.LonMin != nil && f.LonMax != nil && *f.LonMin > *f.LonMax {
		return *r.Longitude >= *f.LonMin || *r.Longitude <= *f.LonMax
	}
	return (f.LonMin == nil || *r.Longitude >= *f.LonMin) && (f.LonMax == nil || *r.Longitude <= *f.LonMax)
}

// listAll walks every cursor page and returns the ids in order.
func listAll(t *testing.T, s *store.Store, f store.Filter, pageSize int) []uuid.UUID {
	t.Helper()
	var ids []uuid.UUID
	var cur *store.Cursor
	for page := 0; ; page++ {
		rows, err := s.List(context.Background(), f, cur, 0, pageSize)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			ids = append(ids, r.ID)
		}
		if len(rows) < pageSize {
			return ids
		}
		last := rows[len(rows)-1]
		cur = &store.Cursor{ReceivedMS: last.ReceivedMS, ID: last.ID}
		if page > 10_000 {
			t.Fatal("pagination does not end")
		}
	}
}

func sameSet(t *testing.T, what string, got []uuid.UUID, want []store.Row) {
	t.Helper()
	seen := map[uuid.UUID]int{}
	for _, id := range got {
		seen[id]++
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("%s: %s returned %d times", what, id, n)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("%s: %d events returned, brute force finds %d", what, len(seen), len(want))
	}
	for _, r := range want {
		if seen[r.ID] != 1 {
			t.Errorf("%s: %s (%v,%v) missing", what, r.ID, deref(r.Latitude), deref(r.Longitude))
			return
		}
	}
}

func deref(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

func TestIntegrationBoxSearchMatchesBruteForce(t *testing.T) {
	_, s, _ := chtest.Open(t)
	f := populate(t, s, 10_000, 7)
	r := rand.New(rand.NewPCG(11, 12))
	antimeridian := 0
	for i := range 60 {
		var flt store.Filter
		latA, latB := r.Float64()*180-90, r.Float64()*180-90
		flt.LatMin, flt.LatMax = ptr(min(latA, latB)), ptr(max(latA, latB))
		lonA, lonB := r.Float64()*360-180, r.Float64()*360-180
		if i%3 == 0 { // force boxes across the antimeridian, where Suva, Apia and Anadyr are
			lonA, lonB = 150+r.Float64()*30, -180+r.Float64()*30
		}
		flt.LonMin, flt.LonMax = ptr(lonA), ptr(lonB)
		if lonA > lonB {
			antimeridian++
		}
		if i%4 == 1 {
			from := time.Date(2026, 11, 1+r.IntN(20), 0, 0, 0, 0, time.UTC)
			to := from.Add(time.Duration(1+r.IntN(10)) * 24 * time.Hour)
			flt.After, flt.Before = &from, &to
		}
		var want []store.Row
		for j := range f.rows {
			if matches(flt, &f.rows[j]) {
				want = append(want, f.rows[j])
			}
		}
		got := listAll(t, s, flt, 1000)
		sameSet(t, fmt.Sprintf("box %d lat [%.2f,%.2f] lon [%.2f,%.2f]", i, *flt.LatMin, *flt.LatMax, *flt.LonMin, *flt.LonMax), got, want)
		if n, err := s.Count(context.Background(), flt); err != nil || n != uint64(len(want)) {
			t.Errorf("box %d: count %d (%v), want %d", i, n, err, len(want))
		}
	}
	if antimeridian < 15 {
		t.Errorf("only %d antimeridian boxes tested", antimeridian)
	}
}

func TestIntegrationFiltersAndPagination(t *testing.T) {
	_, s, _ := chtest.Open(t)
	f := populate(t, s, 3000, 3)
	after := time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)
	before := time.Date(2026, 11, 12, 12, 0, 0, 0, time.UTC)
	for name, flt := range map[string]store.Filter{
		"none":            {},
		"datetime_after":  {After: &after},
		"datetime_before": {Before: &before},
		"time window":     {After: &after, Before: &before},
		"name":            {Name: ptr("visit")},
		"name miss":       {Name: ptr("other")},
		"country_iso":     {CountryISO: ptr("FJ")},
		"country_name":    {CountryName: ptr("GB land")},
		"city":            {City: ptr("Nome")},
		"latitude_min":    {LatMin: ptr(50.0)},
		"latitude_max":    {LatMax: ptr(-10.0)},
		"longitude_min":   {LonMin: ptr(170.0)},
		"longitude_max":   {LonMax: ptr(-170.0)},
		"antimeridian":    {LonMin: ptr(170.0), LonMax: ptr(-170.0)},
		"city and time":   {City: ptr("Paris"), After: &after},
		"box and city":    {LatMin: ptr(40.0), LonMax: ptr(10.0), City: ptr("Paris"), Before: &before},
	} {
		var want []store.Row
		for j := range f.rows {
			if matches(flt, &f.rows[j]) {
				want = append(want, f.rows[j])
			}
		}
		got := listAll(t, s, flt, 97) // an odd page size: pages end mid-tie
		sameSet(t, name, got, want)
		// Newest first, and offset pages agree with cursor pages.
		sort.SliceStable(want, func(a, b int) bool { return want[a].ReceivedMS > want[b].ReceivedMS })
		for k := 1; k < len(got); k++ {
			if ms(f, got[k]) > ms(f, got[k-1]) {
				t.Fatalf("%s: not newest first at %d", name, k)
			}
		}
		var byOffset []uuid.UUID
		for off := 0; off < len(want)+97; off += 97 {
			rows, err := s.List(context.Background(), flt, nil, off, 97)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				byOffset = append(byOffset, r.ID)
			}
		}
		sameSet(t, name+" (page numbers)", byOffset, want)
	}
}

func ms(f fixture, id uuid.UUID) uint64 {
	for _, r := range f.rows {
		if r.ID == id {
			return r.ReceivedMS
		}
	}
	return 0
}
