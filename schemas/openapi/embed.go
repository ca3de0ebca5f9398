// Package openapi embeds the OpenAPI description of Event Target's HTTP API
// (ingest and query), so that services serve, and tests check, exactly the
// published file. It has no dependencies: the query service parses and
// validates it (query/internal/docs).
package openapi

import _ "embed"

// Spec is openapi.yaml, an OpenAPI 3.1 document.
//
//go:embed openapi.yaml
var Spec []byte
