// Package docs serves Event Target's OpenAPI description (GET /api/schema/,
// the file embedded by schemas/openapi) and a Swagger UI page rendering it
// (GET /api/docs/). Everything the page loads is embedded in the binary and
// served under /api/docs/assets/, so the docs work without Internet access
// and the page's Content-Security-Policy can refuse scripts from anywhere
// else. The Swagger UI files come from npm (deploy/docs/fetch-docs-assets.sh).
package docs

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/goccy/go-yaml"

	"github.com/eventtarget/eventtarget/platform/apierror"
	"github.com/eventtarget/eventtarget/schemas/openapi"
)

// The URLs this package serves. Register also routes the spellings without
// the trailing slash, as ingest does for its endpoints.
const (
	SchemaPath = "/api/schema/"
	DocsPath   = "/api/docs/"
	AssetsPath = "/api/docs/assets/"
)

// Content types of the description. application/vnd.oai.openapi is the
// registered type of an OpenAPI document in YAML.
const (
	contentTypeYAML = "application/vnd.oai.openapi;charset=utf-8"
	contentTypeJSON = "application/json; charset=utf-8"
	contentTypeHTML = "text/html; charset=utf-8"
)

// pagePolicy lets the docs page run only scripts served by this service.
// Styles may be inline (Swagger UI sets style attributes) and images may be
// data: URIs (its stylesheet draws icons with them). connect-src stays open
// for "Try it out" against the servers the description names.
const pagePolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; connect-src *; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// assets holds the npm files, listed with their checksums in SHA256SUMS;
// ui holds this package's own page and script.
var (
	//go:embed assets
	assetFS embed.FS
	//go:embed ui/index.html ui/docs.js
	uiFS embed.FS
)

// Register routes GET /api/schema/, /api/docs/ and /api/docs/assets/:file on r.
// The description's JSON form is built at the first call; it panics if the
// embedded files are broken, which the package's tests rule out.
func Register(r gin.IRoutes) {
	s, err := load()
	if err != nil {
		panic("docs: " + err.Error())
	}
	for _, p := range []string{SchemaPath, strings.TrimSuffix(SchemaPath, "/")} {
		r.GET(p, s.schema)
	}
	for _, p := range []string{DocsPath, strings.TrimSuffix(DocsPath, "/")} {
		r.GET(p, s.page.serve)
	}
	r.GET(AssetsPath+":file", s.asset)
}

// SpecOperations returns every operation of the description: path → HTTP
// methods, upper case and sorted ({"/api/events/": ["GET", "POST"], …}).
// Paths are written as in the description, e.g. /api/events/{uuid}/.
func SpecOperations() (map[string][]string, error) {
	return specOperations("")
}

// SpecOperationsServedBy returns the operations that the description says
// (in each operation's x-served-by) the named service, "ingest" or "query",
// serves. Health checks are served by both.
func SpecOperationsServedBy(service string) (map[string][]string, error) {
	if service == "" {
		return nil, fmt.Errorf("spec operations: empty service name")
	}
	return specOperations(service)
}

var methods = map[string]bool{"get": true, "put": true, "post": true, "delete": true,
	"options": true, "head": true, "patch": true, "trace": true}

func specOperations(service string) (map[string][]string, error) {
	s, err := load()
	if err != nil {
		return nil, err
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(s.json.body, &doc); err != nil {
		return nil, fmt.Errorf("spec operations: %w", err)
	}
	ops := make(map[string][]string)
	for p, item := range doc.Paths {
		for m, raw := range item {
			if !methods[m] {
				continue // parameters, summary, servers…
			}
			if service != "" {
				var op struct {
					ServedBy []string `json:"x-served-by"`
				}
				if err := json.Unmarshal(raw, &op); err != nil {
					return nil, fmt.Errorf("spec operations: %s %s: %w", m, p, err)
				}
				if len(op.ServedBy) == 0 {
					return nil, fmt.Errorf("spec operations: %s %s has no x-served-by", m, p)
				}
				if !contains(op.ServedBy, service) {
					continue
				}
			}
			ops[p] = append(ops[p], strings.ToUpper(m))
		}
		sort.Strings(ops[p])
	}
	return ops, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// site is everything Register serves, built once.
type site struct {
	yaml, json, page *file
	assets           map[string]*file
}

var load = sync.OnceValues(func() (*site, error) {
	js, err := yamlToJSON(openapi.Spec)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml to JSON: %w", err)
	}
	html, err := uiFS.ReadFile("ui/index.html")
	if err != nil {
		return nil, err
	}
	s := &site{
		yaml:   newFile(openapi.Spec, contentTypeYAML, true),
		json:   newFile(js, contentTypeJSON, true),
		page:   newFile(html, contentTypeHTML, false),
		assets: make(map[string]*file),
	}
	s.page.policy = pagePolicy
	if err := s.loadAssets(); err != nil {
		return nil, err
	}
	return s, nil
})

// loadAssets takes the npm files listed in assets/SHA256SUMS, checking each
// against its sum, and the page's own script.
func (s *site) loadAssets() error {
	sums, err := assetFS.ReadFile("assets/SHA256SUMS")
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(sums))
	for sc.Scan() {
		want, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || name == "" || strings.Contains(name, "/") {
			return fmt.Errorf("assets/SHA256SUMS: bad line %q", sc.Text())
		}
		b, err := assetFS.ReadFile("assets/" + name)
		if err != nil {
			return err
		}
		if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != want {
			return fmt.Errorf("assets/%s does not match SHA256SUMS: run deploy/docs/fetch-docs-assets.sh", name)
		}
		if err := s.addAsset(name, b); err != nil {
			return err
		}
	}
	js, err := uiFS.ReadFile("ui/docs.js")
	if err != nil {
		return err
	}
	return s.addAsset("docs.js", js)
}

func (s *site) addAsset(name string, b []byte) error {
	ctype, compress := assetType(name)
	if ctype == "" {
		return fmt.Errorf("asset %s: no content type for its extension", name)
	}
	if _, dup := s.assets[name]; dup {
		return fmt.Errorf("asset %s: served twice", name)
	}
	s.assets[name] = newFile(b, ctype, compress)
	return nil
}

// assetType maps a file name to its content type, and says whether it is
// worth compressing. The table is explicit rather than mime.TypeByExtension,
// which reads the host's mime.types and so varies between machines.
func assetType(name string) (ctype string, compress bool) {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8", true
	case ".css":
		return "text/css; charset=utf-8", true
	case ".png":
		return "image/png", false
	case ".txt", "":
		return "text/plain; charset=utf-8", true // LICENSE, NOTICE
	}
	return "", false
}

func (s *site) schema(c *gin.Context) {
	switch f := c.Query("format"); f {
	case "", "yaml":
		s.yaml.serve(c)
	case "json":
		s.json.serve(c)
	default:
		writeError(c, http.StatusBadRequest, "invalid_choice", "format",
			fmt.Sprintf("format %q is not one of yaml, json", f))
	}
}

func (s *site) asset(c *gin.Context) {
	name := c.Param("file")
	f, ok := s.assets[name]
	if !ok {
		writeError(c, http.StatusNotFound, "not_found", "", fmt.Sprintf("no documentation asset %q", name))
		return
	}
	f.serve(c)
}

// file is one response body with its validators, and a gzip-compressed
// variant made at the first request that accepts it.
type file struct {
	body     []byte
	ctype    string
	etag     string
	policy   string // Content-Security-Policy, for the page
	compress bool
	gzipped  func() []byte
}

func newFile(b []byte, ctype string, compress bool) *file {
	sum := sha256.Sum256(b)
	f := &file{body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, compress: compress}
	f.gzipped = sync.OnceValue(func() []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(b) // writes to a bytes.Buffer do not fail
		_ = zw.Close()
		return buf.Bytes()
	})
	return f
}

// serve answers with the file, honouring If-None-Match and Range through
// http.ServeContent. Clients revalidate every time (no-cache) because the
// URLs do not change when a new build changes the files; a match costs a 304.
func (f *file) serve(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	if f.policy != "" {
		h.Set("Content-Security-Policy", f.policy)
	}
	body, etag := f.body, f.etag
	if f.compress {
		h.Add("Vary", "Accept-Encoding")
		if acceptsGzip(c.GetHeader("Accept-Encoding")) {
			body, etag = f.gzipped(), strings.TrimSuffix(f.etag, `"`)+`-gzip"`
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("ETag", etag)
	http.ServeContent(c.Writer, c.Request, "", time.Time{}, bytes.NewReader(body))
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip
// ("gzip", "gzip;q=0.5"; not "gzip;q=0"). A bare "*" is not taken as gzip:
// the identity body is always acceptable.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		for _, p := range strings.Split(params, ";") {
			k, v, _ := strings.Cut(p, "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				return err == nil && q > 0
			}
		}
		return true
	}
	return false
}

// yamlToJSON converts the description once at start. goccy/go-yaml is
// already in the binary (gin uses it) and keeps the keys in their order.
func yamlToJSON(y []byte) ([]byte, error) {
	js, err := yaml.YAMLToJSON(y)
	if err != nil {
		return nil, err
	}
	// Checks the output is JSON and drops the converter's layout.
	var out bytes.Buffer
	if err := json.Compact(&out, js); err != nil {
		return nil, fmt.Errorf("converter produced invalid JSON: %w", err)
	}
	return out.Bytes(), nil
}

// writeError answers with the error body every Event Target API shares.
func writeError(c *gin.Context, status int, code, field, msg string) {
	c.Data(status, contentTypeJSON, apierror.New(status, code, field, msg).Body())
}
