// Package store is Event Target's ClickHouse data layer: the schema
// migrations, the rows the loader writes and the reads the query API makes.
// Every value reaches SQL as a bound parameter.
package store

import (
	"encoding/binary"
	"time"

	"github.com/google/uuid"

	"github.com/eventtarget/eventtarget/schemas/event"
)

// Row is one version of one event as stored in the events table.
type Row struct {
	ID          uuid.UUID
	IDTime      uint64
	Version     uint32
	Name        string
	Data        string
	ReceivedAt  time.Time
	ReceivedMS  uint64
	SourceIP    string
	UserAgent   string
	City        *string
	CountryISO  *string
	CountryName *string
	Latitude    *float64
	Longitude   *float64
	GeoSource   string
	GeoDatabase string
	GeoStatus   string
	EnrichedMS  uint64
}

// IDTime is the sort prefix of an id: the Unix milliseconds a UUIDv7 carries
// in its first 48 bits, or 0 for every other version (see the migration).
func IDTime(id uuid.UUID) uint64 {
	if id.Version() != 7 {
		return 0
	}
	var b [8]byte
	copy(b[2:], id[:6])
	return binary.BigEndian.Uint64(b[:])
}

// RawRow is the version-0 row of an event not yet enriched.
func RawRow(e *event.RawEvent) Row {
	return Row{
		ID:         e.ID,
		IDTime:     IDTime(e.ID),
		Version:    0,
		Name:       e.Name,
		Data:       string(e.Data),
		ReceivedAt: e.ReceivedAt.Truncate(time.Second),
		ReceivedMS: uint64(e.ReceivedAt.UnixMilli()),
		SourceIP:   e.SourceIP,
		UserAgent:  e.UserAgent,
	}
}

// EnrichedRow is the row of one enrichment of an event.
func EnrichedRow(e *event.EnrichedEvent) Row {
	r := RawRow(&e.RawEvent)
	r.Version = e.EnrichmentVersion
	r.City, r.CountryISO, r.CountryName = e.City, e.CountryISO, e.CountryName
	r.Latitude, r.Longitude = e.Latitude, e.Longitude
	r.GeoSource, r.GeoDatabase, r.GeoStatus = string(e.GeoSource), e.GeoDatabase, string(e.GeoStatus)
	r.EnrichedMS = uint64(e.EnrichedAt.UnixMilli())
	return r
}

// View turns a stored row into the API representation.
func (r *Row) View() event.View {
	v := event.View{
		UUID:            r.ID,
		Name:            r.Name,
		Data:            []byte(r.Data),
		DatetimeCreated: event.NewTimestamp(time.UnixMilli(int64(r.ReceivedMS))),
		SourceIP:        r.SourceIP,
		City:            r.City,
		CountryISO:      r.CountryISO,
		CountryName:     r.CountryName,
		Latitude:        r.Latitude,
		Longitude:       r.Longitude,
	}
	if r.Version > 0 {
		v.Provenance = &event.Provenance{
			GeoSource:         event.GeoSource(r.GeoSource),
			GeoDatabase:       r.GeoDatabase,
			GeoStatus:         event.GeoStatus(r.GeoStatus),
			EnrichedAt:        event.NewTimestamp(time.UnixMilli(int64(r.EnrichedMS))),
			EnrichmentVersion: r.Version,
		}
	}
	return v
}

// columns are the events table's columns the loader writes and the API
// reads, in Row field order.
const columns = "id, id_time, version, name, data, received_at, received_ms, source_ip, user_agent, " +
	"city, country_iso, country_name, latitude, longitude, geo_source, geo_database, geo_status, enriched_ms"

func (r *Row) values() []any {
	return []any{r.ID, r.IDTime, r.Version, r.Name, r.Data, r.ReceivedAt, r.ReceivedMS, r.SourceIP, r.UserAgent,
		r.City, r.CountryISO, r.CountryName, r.Latitude, r.Longitude, r.GeoSource, r.GeoDatabase, r.GeoStatus, r.EnrichedMS}
}

func (r *Row) pointers() []any {
	return []any{&r.ID, &r.IDTime, &r.Version, &r.Name, &r.Data, &r.ReceivedAt, &r.ReceivedMS, &r.SourceIP, &r.UserAgent,
		&r.City, &r.CountryISO, &r.CountryName, &r.Latitude, &r.Longitude, &r.GeoSource, &r.GeoDatabase, &r.GeoStatus, &r.EnrichedMS}
}
