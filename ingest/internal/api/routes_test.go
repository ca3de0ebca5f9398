package api_test

import (
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/eventtarget/eventtarget/ingest/internal/api"
	"github.com/eventtarget/eventtarget/ingest/internal/intake"
	"github.com/eventtarget/eventtarget/schemas/openapi"
)

// TestSpecMatchesRoutes checks the OpenAPI description against the routes
// ingest really registers, both ways.
func TestSpecMatchesRoutes(t *testing.T) {
	r, _, err := api.NewRouter(nil, api.Options{Limits: intake.DefaultLimits()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	routes := map[string][]string{}
	for _, rt := range r.Routes() {
		routes[rt.Path] = append(routes[rt.Path], rt.Method)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			ServedBy []string `yaml:"x-served-by"`
		} `yaml:"paths"`
	}
	if err := yaml.Unmarshal(openapi.Spec, &doc); err != nil {
		t.Fatal(err)
	}
	spec := map[string][]string{}
	for p, ops := range doc.Paths {
		for m, op := range ops {
			for _, s := range op.ServedBy {
				if s == "ingest" {
					spec[p] = append(spec[p], strings.ToUpper(m))
				}
			}
		}
	}
	for _, m := range []map[string][]string{routes, spec} {
		for p := range m {
			sort.Strings(m[p])
		}
	}
	if len(spec) == 0 {
		t.Fatal("the spec lists no ingest operation")
	}
	for p, ms := range spec {
		if strings.Join(routes[p], ",") != strings.Join(ms, ",") {
			t.Errorf("spec says %s %v; ingest serves %v", p, ms, routes[p])
		}
	}
	// Every route is in the spec, as written or as its other-slash alias.
	for p, ms := range routes {
		alias := strings.TrimSuffix(p, "/")
		if alias == p {
			alias = p + "/"
		}
		_, ok := spec[p]
		_, okAlias := spec[alias]
		if !ok && !okAlias {
			t.Errorf("route %s %v is not in the spec", p, ms)
		}
	}
}
