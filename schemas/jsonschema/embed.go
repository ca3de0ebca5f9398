// Package jsonschema embeds the JSON Schemas of the event envelopes so that
// services and tests can validate against exactly the published files.
package jsonschema

import "embed"

// Files holds every *.schema.json in this folder.
//
//go:embed *.schema.json
var Files embed.FS

// The file names of the envelope schemas.
const (
	RawEventV1      = "raw-event.v1.schema.json"
	EnrichedEventV1 = "enriched-event.v1.schema.json"
)
