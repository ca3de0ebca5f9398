// Package event defines the versioned envelopes that travel on Event Target's
// Kafka topics: the raw event written by ingest and the enriched event written
// by the enricher. Every service shares these types; nothing else defines them.
//
// The JSON Schemas in ../jsonschema describe the same envelopes for consumers
// in other languages, and the tests keep the two in step.
package event
