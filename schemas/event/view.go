package event

import "github.com/google/uuid"

// View is an event as the HTTP API shows it: the original Event Target
// representation (uuid, name, data, datetime_created, source_ip and the
// location fields, null until known), plus provenance once enriched. Ingest
// answers a POST with it and query serves it, so both stay identical.
type View struct {
	UUID            uuid.UUID
	Name            string
	Data            []byte // verbatim JSON
	DatetimeCreated Timestamp
	SourceIP        string
	City            *string
	CountryISO      *string
	CountryName     *string
	Latitude        *float64
	Longitude       *float64
	// Provenance is nil until the event has been enriched; the fields are
	// then added to the representation.
	Provenance *Provenance
}

// Provenance says where a location came from and which enrichment produced it.
type Provenance struct {
	GeoSource         GeoSource
	GeoDatabase       string
	GeoStatus         GeoStatus
	EnrichedAt        Timestamp
	EnrichmentVersion uint32
}

// ViewOfRaw is the representation of an event not yet enriched.
func ViewOfRaw(e *RawEvent) View {
	return View{UUID: e.ID, Name: e.Name, Data: e.Data, DatetimeCreated: e.ReceivedAt, SourceIP: e.SourceIP}
}

// AppendJSON appends the representation to b, keeping Data verbatim.
func (v *View) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	b = appendKey(b, "uuid")
	b = append(b, '"')
	b = appendUUID(b, v.UUID)
	b = append(b, '"', ',')
	b = appendKey(b, "name")
	b = appendString(b, v.Name)
	b = append(b, ',')
	b = appendKey(b, "data")
	if len(v.Data) == 0 {
		b = append(b, '{', '}')
	} else {
		b = append(b, v.Data...)
	}
	b = append(b, ',')
	b = appendKey(b, "datetime_created")
	b = append(b, '"')
	b = v.DatetimeCreated.AppendFormat(b)
	b = append(b, '"', ',')
	b = appendKey(b, "source_ip")
	b = appendString(b, v.SourceIP)
	b = append(b, ',')
	b = appendKey(b, "city")
	b = appendOptString(b, v.City)
	b = append(b, ',')
	b = appendKey(b, "country_iso")
	b = appendOptString(b, v.CountryISO)
	b = append(b, ',')
	b = appendKey(b, "country_name")
	b = appendOptString(b, v.CountryName)
	b = append(b, ',')
	b = appendKey(b, "latitude")
	b = appendOptFloat(b, v.Latitude)
	b = append(b, ',')
	b = appendKey(b, "longitude")
	b = appendOptFloat(b, v.Longitude)
	if p := v.Provenance; p != nil {
		b = append(b, ',')
		b = appendKey(b, "geo_source")
		b = appendString(b, string(p.GeoSource))
		b = append(b, ',')
		b = appendKey(b, "geo_database")
		b = appendString(b, p.GeoDatabase)
		b = append(b, ',')
		b = appendKey(b, "geo_status")
		b = appendString(b, string(p.GeoStatus))
		b = append(b, ',')
		b = appendKey(b, "enriched_at")
		b = append(b, '"')
		b = p.EnrichedAt.AppendFormat(b)
		b = append(b, '"', ',')
		b = appendKey(b, "enrichment_version")
		b = appendUint(b, p.EnrichmentVersion)
	}
	return append(b, '}')
}

// AppendString appends s as a JSON string (for callers that build JSON by hand
// around envelopes and views).
func AppendString(b []byte, s string) []byte { return appendString(b, s) }

// AppendUUID appends the canonical lowercase form of id.
func AppendUUID(b []byte, id uuid.UUID) []byte { return appendUUID(b, id) }
