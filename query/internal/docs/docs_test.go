package docs_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"

	"github.com/eventtarget/eventtarget/query/internal/docs"
	"github.com/eventtarget/eventtarget/schemas/openapi"
)

func loadSpec(t *testing.T, data []byte) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		t.Fatalf("load spec: %v", err)
	}
	return doc
}

func TestSpecValidates(t *testing.T) {
	doc := loadSpec(t, openapi.Spec)
	if !doc.IsOpenAPI31OrLater() {
		t.Errorf("openapi %q: want 3.1", doc.OpenAPI)
	}
	// Validate also checks every example against its schema.
	if err := doc.Validate(context.Background(), openapi3.EnableMultiError()); err != nil {
		t.Fatalf("spec does not validate:\n%v", err)
	}
}

// A static page and the health checks have no client error to describe.
var no4xx = map[string]bool{"getHealthz": true, "getReadyz": true, "getDocsPage": true}

func TestSpecOperationsAreComplete(t *testing.T) {
	doc := loadSpec(t, openapi.Spec)
	ids := map[string]string{}
	for p, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + p
			if op.OperationID == "" {
				t.Errorf("%s: no operationId", where)
			} else if prev, dup := ids[op.OperationID]; dup {
				t.Errorf("%s: operationId %s already used by %s", where, op.OperationID, prev)
			}
			ids[op.OperationID] = where
			if len(op.Tags) != 1 || !map[string]bool{"ingest": true, "query": true, "operations": true}[op.Tags[0]] {
				t.Errorf("%s: tags %v, want one of ingest, query, operations", where, op.Tags)
			}
			served, _ := op.Extensions["x-served-by"].([]any)
			if len(served) == 0 {
				t.Errorf("%s: no x-served-by", where)
			}
			for _, s := range served {
				if s != "ingest" && s != "query" {
					t.Errorf("%s: x-served-by names %v, want ingest or query", where, s)
				}
			}
			var has2xx, has4xx bool
			for code := range op.Responses.Map() {
				has2xx = has2xx || strings.HasPrefix(code, "2")
				has4xx = has4xx || strings.HasPrefix(code, "4")
			}
			if !has2xx {
				t.Errorf("%s (%s): no 2xx response", where, op.OperationID)
			}
			if !has4xx && !no4xx[op.OperationID] {
				t.Errorf("%s (%s): no 4xx response", where, op.OperationID)
			}
		}
	}
	for _, id := range []string{"createEvent", "createEventBatch", "getEvent", "listEvents",
		"getSchema", "getDocsPage", "getDocsAsset", "getHealthz", "getReadyz"} {
		if ids[id] == "" {
			t.Errorf("operation %s missing", id)
		}
	}

	// What ingest answers, and what a client retrying after a 503 needs.
	for _, id := range []string{"createEvent", "createEventBatch"} {
		op := doc.Paths.Find(strings.Fields(ids[id])[1]).Post
		for _, code := range []string{"400", "413", "415", "503"} {
			if op.Responses.Value(code) == nil {
				t.Errorf("%s: no %s response", id, code)
			}
		}
		if op.Responses.Value("503").Value.Headers["Retry-After"] == nil {
			t.Errorf("%s: 503 without Retry-After", id)
		}
	}
}

func TestSpecOperationsHelpers(t *testing.T) {
	doc := loadSpec(t, openapi.Spec)
	want := map[string][]string{}
	for p, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			want[p] = append(want[p], method)
		}
		sort.Strings(want[p])
	}
	got, err := docs.SpecOperations()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SpecOperations() = %v\nwant %v", got, want)
	}

	ingest, err := docs.SpecOperationsServedBy("ingest")
	if err != nil {
		t.Fatal(err)
	}
	wantIngest := map[string][]string{"/api/events/": {"POST"}, "/api/events/batch": {"POST"},
		"/healthz": {"GET"}, "/readyz": {"GET"}}
	if !reflect.DeepEqual(ingest, wantIngest) {
		t.Errorf("SpecOperationsServedBy(ingest) = %v\nwant %v", ingest, wantIngest)
	}
	query, err := docs.SpecOperationsServedBy("query")
	if err != nil {
		t.Fatal(err)
	}
	wantQuery := map[string][]string{"/api/events/": {"GET"}, "/api/events/{uuid}/": {"GET"},
		"/api/schema/": {"GET"}, "/api/docs/": {"GET"}, "/api/docs/assets/{file}": {"GET"},
		"/healthz": {"GET"}, "/readyz": {"GET"}}
	if !reflect.DeepEqual(query, wantQuery) {
		t.Errorf("SpecOperationsServedBy(query) = %v\nwant %v", query, wantQuery)
	}
	if _, err := docs.SpecOperationsServedBy(""); err == nil {
		t.Error("SpecOperationsServedBy(\"\"): want an error")
	}
}

func newServer(t *testing.T) *gin.Engine {
	t.Helper()
	gin.SetMode(gin.TestMode)
	r := gin.New()
	docs.Register(r)
	return r
}

func get(t *testing.T, h http.Handler, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestSchemaServesYAML(t *testing.T) {
	r := newServer(t)
	for _, target := range []string{"/api/schema/", "/api/schema", "/api/schema/?format=yaml"} {
		rec := get(t, r, target)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: status %d", target, rec.Code)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/vnd.oai.openapi") {
			t.Errorf("GET %s: Content-Type %q", target, ct)
		}
		if !bytes.Equal(rec.Body.Bytes(), openapi.Spec) {
			t.Errorf("GET %s: body differs from the embedded openapi.yaml", target)
		}
	}

	etag := get(t, r, "/api/schema/").Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if rec := get(t, r, "/api/schema/", "If-None-Match", etag); rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match %s: status %d, want 304", etag, rec.Code)
	}
}

func TestSchemaServesJSONOfTheSameDocument(t *testing.T) {
	r := newServer(t)
	rec := get(t, r, "/api/schema/?format=json")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	if !json.Valid(rec.Body.Bytes()) {
		t.Fatal("body is not JSON")
	}
	// kin-openapi reads the YAML with its own parser (go.yaml.in/yaml), so
	// this compares the converter's output with an independent reading.
	fromYAML, err := json.Marshal(loadSpec(t, openapi.Spec))
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := json.Marshal(loadSpec(t, rec.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(fromYAML, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(fromJSON, &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Error("the JSON form is not the same document as the YAML")
	}
	// And the raw conversion keeps what kin-openapi might normalise away.
	var raw map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if raw["openapi"] != "3.1.0" || raw["paths"].(map[string]any)["/api/events/{uuid}/"] == nil {
		t.Errorf("JSON form lacks openapi 3.1.0 or a path: openapi=%v", raw["openapi"])
	}
}

func TestSchemaRefusesUnknownFormat(t *testing.T) {
	rec := get(t, newServer(t), "/api/schema/?format=xml")
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", rec.Code)
	}
	var body struct {
		Error  struct{ Code, Field, Message string }
		Format []string
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	if body.Error.Code != "invalid_choice" || body.Error.Field != "format" || len(body.Format) != 1 {
		t.Errorf("body %s", rec.Body)
	}
}

var (
	refAttr = regexp.MustCompile(`<(script|link)\b[^>]*\b(?:src|href)="([^"]*)"`)
	anyTag  = regexp.MustCompile(`<(script|link)\b`)
)

func TestDocsPageLoadsOnlyLocalAssets(t *testing.T) {
	r := newServer(t)
	for _, target := range []string{"/api/docs/", "/api/docs"} {
		rec := get(t, r, target)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: status %d", target, rec.Code)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q", target, ct)
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", target, csp)
		}
	}
	page := get(t, r, "/api/docs/").Body.String()
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Error("the page names an absolute URL")
	}
	refs := refAttr.FindAllStringSubmatch(page, -1)
	if n := len(anyTag.FindAllString(page, -1)); n != len(refs) || n == 0 {
		t.Fatalf("%d script/link tags, %d with a src/href: want every one to load a file", n, len(refs))
	}
	want := map[string]string{ // what the page needs, and its type
		"/api/docs/assets/swagger-ui-bundle.js": "text/javascript; charset=utf-8",
		"/api/docs/assets/swagger-ui.css":       "text/css; charset=utf-8",
		"/api/docs/assets/docs.js":              "text/javascript; charset=utf-8",
		"/api/docs/assets/favicon-32x32.png":    "image/png",
	}
	for _, m := range refs {
		u := m[2]
		if !strings.HasPrefix(u, docs.AssetsPath) {
			t.Errorf("<%s> loads %q, outside %s", m[1], u, docs.AssetsPath)
			continue
		}
		rec := get(t, r, u)
		if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
			t.Errorf("GET %s: status %d, %d bytes", u, rec.Code, rec.Body.Len())
		}
		if ct := rec.Header().Get("Content-Type"); ct != want[u] {
			t.Errorf("GET %s: Content-Type %q, want %q", u, ct, want[u])
		}
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", u)
		}
		delete(want, u)
	}
	for u := range want {
		t.Errorf("the page does not load %s", u)
	}

	// The page's script renders the spec served here.
	js := get(t, r, "/api/docs/assets/docs.js").Body.String()
	if !strings.Contains(js, "SwaggerUIBundle(") || !strings.Contains(page, `data-spec-url="/api/schema/?format=json"`) {
		t.Error("the page does not render /api/schema/?format=json with Swagger UI")
	}
	if !strings.Contains(js, "validatorUrl: null") {
		t.Error("Swagger UI would call its online validator")
	}
}

func TestAssetsMatchTheirChecksumsAndCarryTheLicence(t *testing.T) {
	r := newServer(t)
	rec := get(t, r, "/api/docs/assets/SHA256SUMS")
	if rec.Code != http.StatusNotFound {
		t.Errorf("the checksum list is served: status %d", rec.Code)
	}
	sums := readFile(t, "assets/SHA256SUMS")
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(sums), "\n") {
		sum, name, _ := strings.Cut(line, "  ")
		body := get(t, r, docs.AssetsPath+name).Body.Bytes()
		got := sha256.Sum256(body)
		if hex.EncodeToString(got[:]) != sum {
			t.Errorf("served %s does not match SHA256SUMS", name)
		}
		names = append(names, name)
	}
	for _, need := range []string{"LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt"} {
		if !contains(names, need) {
			t.Errorf("%s is not shipped", need)
		}
	}
	lic := get(t, r, docs.AssetsPath+"LICENSE")
	if ct := lic.Header().Get("Content-Type"); ct != "text/plain; charset=utf-8" || !strings.Contains(lic.Body.String(), "Apache License") {
		t.Errorf("LICENSE: Content-Type %q, want the Apache licence as text/plain", ct)
	}
	if v := strings.TrimSpace(readFile(t, "assets/VERSION")); v != "swagger-ui-dist@5.35.0" {
		t.Errorf("assets/VERSION %q", v)
	}
}

func TestAssetsCompressAndRevalidate(t *testing.T) {
	r := newServer(t)
	const u = "/api/docs/assets/swagger-ui.css"
	plain := get(t, r, u)
	zipped := get(t, r, u, "Accept-Encoding", "br, gzip;q=0.8")
	if zipped.Header().Get("Content-Encoding") != "gzip" || zipped.Header().Get("Vary") != "Accept-Encoding" {
		t.Fatalf("headers %v: want gzip, Vary", zipped.Header())
	}
	if zipped.Body.Len() >= plain.Body.Len()/2 {
		t.Errorf("gzip %d bytes, plain %d", zipped.Body.Len(), plain.Body.Len())
	}
	zr, err := gzip.NewReader(zipped.Body)
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(unzipped, plain.Body.Bytes()) {
		t.Errorf("gzip body does not decompress to the file (%v)", err)
	}
	if e1, e2 := plain.Header().Get("ETag"), zipped.Header().Get("ETag"); e1 == "" || e1 == e2 {
		t.Errorf("ETags %q and %q: want two different ones", e1, e2)
	}
	if rec := get(t, r, u, "Accept-Encoding", "gzip;q=0"); rec.Header().Get("Content-Encoding") != "" {
		t.Error("gzip;q=0 got gzip")
	}
	if rec := get(t, r, u, "If-None-Match", plain.Header().Get("ETag")); rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", rec.Code)
	}
	if rec := get(t, r, "/api/docs/assets/favicon-32x32.png", "Accept-Encoding", "gzip"); rec.Header().Get("Content-Encoding") != "" {
		t.Error("a PNG got gzip")
	}
}

func TestUnknownAssetIsNotFound(t *testing.T) {
	r := newServer(t)
	for _, u := range []string{"/api/docs/assets/jquery.js", "/api/docs/assets/..%2Fdocs.go", "/api/docs/assets/VERSION"} {
		rec := get(t, r, u)
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", u, rec.Code)
			continue
		}
		if strings.Contains(u, "%2F") {
			continue // gin finds no route: the service's own 404 answers
		}
		var body struct{ Error struct{ Code string } }
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code != "not_found" {
			t.Errorf("GET %s: body %s", u, rec.Body)
		}
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// The request schema says what ingest's validation does (ingest/internal/intake).
func TestEventInputSchema(t *testing.T) {
	doc := loadSpec(t, openapi.Spec)
	schema := doc.Components.Schemas["EventInput"].Value
	long := strings.Repeat("x", 257)
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{`{"name":"signup"}`, true},
		{`{"name":"signup","data":{"plan":"pro"}}`, true},
		{`{"name":"signup","data":42}`, true},
		{`{"name":"signup","data":[]}`, true},
		{`{"name":"signup","uuid":null}`, true},
		{`{"name":"signup","uuid":"0193A5E2-7C41-7D2B-8F7E-3C9A1B2C4D5E"}`, true},
		{`{"name":"signup","extra":"ignored"}`, true},
		{`{}`, false},
		{`{"name":""}`, false},
		{`{"name":"   "}`, false},
		{`{"name":null}`, false},
		{`{"name":7}`, false},
		{`{"name":"` + long + `"}`, false},
		{`{"name":"signup","data":null}`, false},
		{`{"name":"signup","uuid":"00000000-0000-0000-0000-000000000000"}`, false},
		{`{"name":"signup","uuid":"{0193a5e2-7c41-7d2b-8f7e-3c9a1b2c4d5e}"}`, false},
		{`{"name":"signup","uuid":42}`, false},
		{`[]`, false},
	} {
		var v any
		if err := json.Unmarshal([]byte(tc.body), &v); err != nil {
			t.Fatal(err)
		}
		err := schema.VisitJSON(v, openapi3.EnableJSONSchema2020())
		if (err == nil) != tc.ok {
			t.Errorf("%.60s: valid=%v, want %v (%v)", tc.body, err == nil, tc.ok, err)
		}
	}
}
