package app_test

import (
	"sort"
	"strings"
	"testing"

	"github.com/eventtarget/eventtarget/query/internal/app"
	"github.com/eventtarget/eventtarget/query/internal/config"
	"github.com/eventtarget/eventtarget/query/internal/docs"
	"github.com/eventtarget/eventtarget/query/internal/store"
)

// TestSpecMatchesRoutes checks the OpenAPI description against the routes
// the query service really registers, both ways.
func TestSpecMatchesRoutes(t *testing.T) {
	r := app.Router(store.New(nil), config.DefaultQuery(), nil)
	routes := map[string][]string{}
	for _, rt := range r.Routes() {
		p := rt.Path
		p = strings.NewReplacer(":id", "{uuid}", ":file", "{file}").Replace(p)
		routes[p] = append(routes[p], rt.Method)
	}
	for p := range routes {
		sort.Strings(routes[p])
	}
	spec, err := docs.SpecOperationsServedBy("query")
	if err != nil {
		t.Fatal(err)
	}
	for p, ms := range spec {
		if strings.Join(routes[p], ",") != strings.Join(ms, ",") {
			t.Errorf("spec says %s %v; the service serves %v", p, ms, routes[p])
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
