package event

import (
	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Envelopes are decoded with the encoding/json v2 prototype
// (github.com/go-json-experiment/json): it validates and decodes in one pass
// where encoding/json scans every value twice, which made decoding the
// largest single cost of the enricher and the loader (see
// deploy/bench/PROFILE.md).
//
// decodeOptions keep it as lenient as encoding/json, which ingest checked
// the client's data with: invalid UTF-8 in strings and repeated object keys
// are kept, not refused, so that such an event is not sent to the dead
// letters.
var decodeOptions = jsonv2.JoinOptions(jsontext.AllowInvalidUTF8(true), jsontext.AllowDuplicateNames(true))

// rawFields is RawEvent without its methods: the decoder inlines an
// embedded struct only when it has no JSON methods of its own.
type rawFields RawEvent

// enrichedWire is what DecodeEnriched reads: EnrichedEvent's fields, with
// the raw envelope embedded as rawFields. Keep the two in step (the round
// trip test compares every field).
type enrichedWire struct {
	rawFields

	City              *string   `json:"city"`
	CountryISO        *string   `json:"country_iso"`
	CountryName       *string   `json:"country_name"`
	Latitude          *float64  `json:"latitude"`
	Longitude         *float64  `json:"longitude"`
	GeoSource         GeoSource `json:"geo_source"`
	GeoDatabase       string    `json:"geo_database"`
	GeoStatus         GeoStatus `json:"geo_status"`
	EnrichedAt        Timestamp `json:"enriched_at"`
	EnrichmentVersion uint32    `json:"enrichment_version"`
}
