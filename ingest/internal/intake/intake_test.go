package intake_test

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/eventtarget/eventtarget/ingest/internal/intake"
)

func TestParseEvent(t *testing.T) {
	lim := intake.DefaultLimits()
	lim.MaxDataDepth = 3
	lim.MaxNameLength = 5
	tests := []struct {
		body, wantName, wantData, wantCode, wantField string
	}{
		{body: `{"name":"click","data":{"a": [1]}}`, wantName: "click", wantData: `{"a": [1]}`},
		{body: `{"name":"  click ","extra":true}`, wantName: "click", wantData: `{}`},
		{body: `{"name":"héllo"}`, wantName: "héllo", wantData: `{}`},
		{body: `{"name":"x","data":"just text"}`, wantName: "x", wantData: `"just text"`},
		{body: `{"name":"x","data":[[[1]]]}`, wantName: "x", wantData: `[[[1]]]`},
		{body: `{"name":"x","data":[[[[1]]]]}`, wantCode: "too_deep", wantField: "data"},
		{body: `{"name":"x","data":"[[[[[[["}`, wantName: "x", wantData: `"[[[[[[["`},
		{body: `{"name":"x","data":null}`, wantCode: "null", wantField: "data"},
		{body: `{"data":{}}`, wantCode: "required", wantField: "name"},
		{body: `{"name":null}`, wantCode: "null", wantField: "name"},
		{body: `{"name":""}`, wantCode: "blank", wantField: "name"},
		{body: `{"name":"   "}`, wantCode: "blank", wantField: "name"},
		{body: `{"name":42}`, wantCode: "invalid_type", wantField: "name"},
		{body: `{"name":["a"]}`, wantCode: "invalid_type", wantField: "name"},
		{body: `{"name":"héllos"}`, wantCode: "too_long", wantField: "name"},
		{body: `{"name":"x","uuid":"not-a-uuid"}`, wantCode: "invalid_uuid", wantField: "uuid"},
		{body: `{"name":"x","uuid":"{0190a3c4-1d2e-7f00-8000-000000000001}"}`, wantCode: "invalid_uuid", wantField: "uuid"},
		{body: `{"name":"x","uuid":"00000000-0000-0000-0000-000000000000"}`, wantCode: "invalid_uuid", wantField: "uuid"},
		{body: `{"name":"x","uuid":7}`, wantCode: "invalid_type", wantField: "uuid"},
		{body: `{"name":"x"`, wantCode: "invalid_json"},
		{body: ``, wantCode: "invalid_json"},
		{body: `[{"name":"x"}]`, wantCode: "invalid_shape"},
		{body: `"name"`, wantCode: "invalid_shape"},
	}
	for _, tt := range tests {
		ev, err := intake.ParseEvent([]byte(tt.body), lim)
		if tt.wantCode != "" {
			if err == nil || err.Code != tt.wantCode || err.Field != tt.wantField || err.Status != http.StatusBadRequest {
				t.Errorf("%s: got error %+v, want code %q field %q", tt.body, err, tt.wantCode, tt.wantField)
			}
			if err != nil && err.Message == "" {
				t.Errorf("%s: error without a message", tt.body)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: unexpected error %v", tt.body, err)
			continue
		}
		if ev.Name != tt.wantName || string(ev.Data) != tt.wantData {
			t.Errorf("%s: got name %q data %s", tt.body, ev.Name, ev.Data)
		}
	}
}

// TestParseErrorMessages pins the messages the OpenAPI spec shows as
// examples (schemas/openapi/openapi.yaml); change both together.
func TestParseErrorMessages(t *testing.T) {
	lim := intake.DefaultLimits()
	for body, want := range map[string]string{
		`{"name":}`:      "body is not valid JSON at byte 8: invalid character '}' at start of value",
		`[{"name":"x"}]`: "an event must be a JSON object, got an array",
	} {
		if _, err := intake.ParseEvent([]byte(body), lim); err == nil || err.Message != want {
			t.Errorf("%s: got %+v, want message %q", body, err, want)
		}
	}
	want := "a batch must be a JSON array of events (or NDJSON with Content-Type application/x-ndjson), got an object"
	if _, err := intake.ParseBatch([]byte(`{"name":"a"}`), intake.FormatJSON, lim); err == nil || err.Message != want {
		t.Errorf("batch of an object: got %+v, want message %q", err, want)
	}
}

func TestParseEventClientUUID(t *testing.T) {
	ev, err := intake.ParseEvent([]byte(`{"name":"x","uuid":"0190A3C4-1D2E-7F00-8000-00000000000A"}`), intake.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if got := ev.ID.String(); got != "0190a3c4-1d2e-7f00-8000-00000000000a" {
		t.Errorf("uuid = %s", got)
	}
}

func TestDepth(t *testing.T) {
	for in, want := range map[string]int{`1`: 0, `"[{"`: 0, `{}`: 1, `[[],[[]]]`: 3, `{"a":"\"[","b":[{}]}`: 3} {
		if got := intake.Depth([]byte(in)); got != want {
			t.Errorf("Depth(%s) = %d, want %d", in, got, want)
		}
	}
}

func TestParseBatch(t *testing.T) {
	lim := intake.DefaultLimits()
	lim.MaxBatchEvents = 3
	items, err := intake.ParseBatch([]byte(`[{"name":"a"},{"name":""},{"name":"c","data":[1]}]`), intake.FormatJSON, lim)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 3 || items[0].Err != nil || items[1].Err == nil || items[1].Err.Field != "name" || items[2].Event.Name != "c" {
		t.Fatalf("items = %+v", items)
	}
	nd := "{\"name\":\"a\"}\r\n\n  \n{broken\n{\"name\":\"c\"}"
	items, err = intake.ParseBatch([]byte(nd), intake.FormatNDJSON, lim)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 3 || items[0].Event.Name != "a" || items[1].Err == nil || items[1].Err.Code != "invalid_json" || items[2].Event.Name != "c" {
		t.Fatalf("ndjson items = %+v", items)
	}
	for body, code := range map[string]string{
		`[]`:             "empty_batch",
		``:               "invalid_json",
		`{"name":"a"}`:   "invalid_shape",
		`[{"name":"a"},`: "invalid_json",
		`[{"name":"a"},{"name":"b"},{"name":"c"},{"name":"d"}]`: "batch_too_large",
	} {
		if _, err := intake.ParseBatch([]byte(body), intake.FormatJSON, lim); err == nil || err.Code != code {
			t.Errorf("%q: got %+v, want %s", body, err, code)
		}
	}
}

func TestContentFormat(t *testing.T) {
	for _, tt := range []struct {
		ct      string
		ndjson  bool
		want    intake.Format
		wantErr bool
	}{
		{"", false, intake.FormatJSON, false},
		{"application/json; charset=utf-8", false, intake.FormatJSON, false},
		{"application/vnd.api+json", false, intake.FormatJSON, false},
		{"application/x-ndjson", true, intake.FormatNDJSON, false},
		{"application/x-ndjson", false, 0, true},
		{"text/plain", true, 0, true},
		{"application/x-www-form-urlencoded", false, 0, true},
		{"garbage;;", false, 0, true},
	} {
		got, err := intake.ContentFormat(tt.ct, tt.ndjson)
		if (err != nil) != tt.wantErr || (err == nil && got != tt.want) {
			t.Errorf("%q ndjson=%v: got %v %v", tt.ct, tt.ndjson, got, err)
		}
		if err != nil && err.Status != http.StatusUnsupportedMediaType {
			t.Errorf("%q: status %d, want 415", tt.ct, err.Status)
		}
	}
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReadBody(t *testing.T) {
	const limit = 2048
	small := []byte(`{"name":"x"}`)
	bomb := bytes.Repeat([]byte{' '}, 50<<20) // 50 MiB of spaces gzips to ~50 KiB
	tests := []struct {
		name     string
		body     []byte
		encoding string
		want     []byte
		status   int
	}{
		{"plain", small, "", small, 0},
		{"gzip", gzipped(t, small), "gzip", small, 0},
		{"exactly the limit", bytes.Repeat([]byte{'a'}, limit), "", bytes.Repeat([]byte{'a'}, limit), 0},
		{"one byte over", bytes.Repeat([]byte{'a'}, limit+1), "", nil, http.StatusRequestEntityTooLarge},
		{"gzip bomb", gzipped(t, bomb), "gzip", nil, http.StatusRequestEntityTooLarge},
		{"broken gzip", []byte("not gzip at all"), "gzip", nil, http.StatusBadRequest},
		{"brotli", small, "br", nil, http.StatusUnsupportedMediaType},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(tt.body))
		req.Header.Set("Content-Encoding", tt.encoding)
		var buf bytes.Buffer
		err := intake.ReadBody(req, limit, &buf)
		if tt.status != 0 {
			if err == nil || err.Status != tt.status {
				t.Errorf("%s: got %+v, want status %d", tt.name, err, tt.status)
			}
			if buf.Len() > limit+1 {
				t.Errorf("%s: buffered %d bytes, more than the limit", tt.name, buf.Len())
			}
			continue
		}
		if err != nil || !bytes.Equal(buf.Bytes(), tt.want) {
			t.Errorf("%s: got %q, %v", tt.name, buf.Bytes(), err)
		}
	}
}

func TestReadBodyRefusesDeclaredLengthWithoutReading(t *testing.T) {
	body := &countingBody{Reader: strings.NewReader(strings.Repeat("a", 5000))}
	req := httptest.NewRequest(http.MethodPost, "/", body)
	req.ContentLength = 5000
	var buf bytes.Buffer
	if err := intake.ReadBody(req, 2048, &buf); err == nil || err.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("got %+v", err)
	}
	if body.n != 0 {
		t.Errorf("read %d bytes of a body declared too large", body.n)
	}
}

type countingBody struct {
	*strings.Reader
	n int
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.Reader.Read(p)
	c.n += n
	return n, err
}
