package event

import (
	"fmt"
	"strconv"

	jsonv2 "github.com/go-json-experiment/json"
)

// EnrichedSchemaVersion is the version of the enriched envelope.
const EnrichedSchemaVersion = 1

// EnrichedSchema is the value of the HeaderSchema header on enriched events.
var EnrichedSchema = "event.enriched/v" + strconv.Itoa(EnrichedSchemaVersion)

// GeoSource says where a location came from.
type GeoSource string

// The geolocation sources, in the order the enricher tries them.
const (
	GeoSourcePrivate GeoSource = "private" // not routable; never looked up
	GeoSourceCache   GeoSource = "cache"   // an earlier answer still fresh
	GeoSourceAPI     GeoSource = "api"     // the remote geolocation API
	GeoSourceMMDB    GeoSource = "mmdb"    // the local MaxMind-format database
	GeoSourceNone    GeoSource = "none"    // nothing resolved the address
)

// GeoStatus is the outcome of geolocating an event.
type GeoStatus string

// The geolocation outcomes.
const (
	GeoStatusResolved   GeoStatus = "resolved"
	GeoStatusPrivate    GeoStatus = "private"
	GeoStatusUnresolved GeoStatus = "unresolved"
)

// EnrichedEvent is the raw event plus its location and the provenance of that
// location. The enricher writes one per raw event and enrichment version;
// downstream keeps the highest EnrichmentVersion for each ID.
type EnrichedEvent struct {
	RawEvent

	City        *string  `json:"city"`
	CountryISO  *string  `json:"country_iso"`
	CountryName *string  `json:"country_name"`
	Latitude    *float64 `json:"latitude"`
	Longitude   *float64 `json:"longitude"`

	GeoSource GeoSource `json:"geo_source"`
	// GeoDatabase names what answered, e.g. "dbip-city-lite 2026-11" or the
	// API's base URL, so a location can be traced back to its origin.
	GeoDatabase       string    `json:"geo_database"`
	GeoStatus         GeoStatus `json:"geo_status"`
	EnrichedAt        Timestamp `json:"enriched_at"`
	EnrichmentVersion uint32    `json:"enrichment_version"`
}

// AppendJSON appends the event's JSON encoding to b, keeping Data verbatim.
// schema_version is the enriched envelope's version, not the raw one's.
func (e *EnrichedEvent) AppendJSON(b []byte) []byte {
	raw := e.RawEvent
	raw.SchemaVersion = EnrichedSchemaVersion
	b = append(b, '{')
	b = raw.appendFields(b)
	b = append(b, ',')
	b = appendKey(b, "city")
	b = appendOptString(b, e.City)
	b = append(b, ',')
	b = appendKey(b, "country_iso")
	b = appendOptString(b, e.CountryISO)
	b = append(b, ',')
	b = appendKey(b, "country_name")
	b = appendOptString(b, e.CountryName)
	b = append(b, ',')
	b = appendKey(b, "latitude")
	b = appendOptFloat(b, e.Latitude)
	b = append(b, ',')
	b = appendKey(b, "longitude")
	b = appendOptFloat(b, e.Longitude)
	b = append(b, ',')
	b = appendKey(b, "geo_source")
	b = appendString(b, string(e.GeoSource))
	b = append(b, ',')
	b = appendKey(b, "geo_database")
	b = appendString(b, e.GeoDatabase)
	b = append(b, ',')
	b = appendKey(b, "geo_status")
	b = appendString(b, string(e.GeoStatus))
	b = append(b, ',')
	b = appendKey(b, "enriched_at")
	b = append(b, '"')
	b = e.EnrichedAt.AppendFormat(b)
	b = append(b, '"', ',')
	b = appendKey(b, "enrichment_version")
	b = appendUint(b, e.EnrichmentVersion)
	return append(b, '}')
}

// MarshalJSON implements json.Marshaler (json.Marshal compacts Data).
func (e EnrichedEvent) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil), nil }

// DecodeEnriched parses and checks an enriched envelope from a record value.
func DecodeEnriched(value []byte) (EnrichedEvent, error) {
	var w enrichedWire
	if err := jsonv2.Unmarshal(value, &w, decodeOptions); err != nil {
		return EnrichedEvent{}, fmt.Errorf("%w: %w", ErrInvalidEnvelope, err)
	}
	e := EnrichedEvent{RawEvent: RawEvent(w.rawFields), City: w.City, CountryISO: w.CountryISO, CountryName: w.CountryName,
		Latitude: w.Latitude, Longitude: w.Longitude, GeoSource: w.GeoSource, GeoDatabase: w.GeoDatabase, GeoStatus: w.GeoStatus,
		EnrichedAt: w.EnrichedAt, EnrichmentVersion: w.EnrichmentVersion}
	if e.SchemaVersion != EnrichedSchemaVersion {
		return EnrichedEvent{}, fmt.Errorf("%w: unsupported enriched schema_version %d", ErrInvalidEnvelope, e.SchemaVersion)
	}
	raw := e.RawEvent
	raw.SchemaVersion = RawSchemaVersion
	if err := raw.Validate(); err != nil {
		return EnrichedEvent{}, err
	}
	switch e.GeoStatus {
	case GeoStatusResolved, GeoStatusPrivate, GeoStatusUnresolved:
	default:
		return EnrichedEvent{}, fmt.Errorf("%w: unknown geo_status %q", ErrInvalidEnvelope, e.GeoStatus)
	}
	return e, nil
}
