package event_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	sjs "github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/eventtarget/eventtarget/schemas/event"
	"github.com/eventtarget/eventtarget/schemas/jsonschema"
)

const schemaBase = "https://eventtarget.dev/schemas/"

func compileSchemas(t *testing.T) (raw, enriched *sjs.Schema) {
	t.Helper()
	c := sjs.NewCompiler()
	names, err := fs.Glob(jsonschema.Files, "*.schema.json")
	if err != nil || len(names) != 2 {
		t.Fatalf("embedded schemas: %v %v", names, err)
	}
	for _, name := range names {
		b, err := jsonschema.Files.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := sjs.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := c.AddResource(schemaBase+name, doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	raw, err = c.Compile(schemaBase + jsonschema.RawEventV1)
	if err != nil {
		t.Fatal(err)
	}
	enriched, err = c.Compile(schemaBase + jsonschema.EnrichedEventV1)
	if err != nil {
		t.Fatal(err)
	}
	return raw, enriched
}

func validate(t *testing.T, s *sjs.Schema, b []byte) error {
	t.Helper()
	inst, err := sjs.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("encoded envelope is not JSON: %v\n%s", err, b)
	}
	return s.Validate(inst)
}

func sampleRaw(data string) event.RawEvent {
	return event.RawEvent{
		SchemaVersion: event.RawSchemaVersion,
		ID:            uuid.Must(uuid.NewV7()),
		Name:          "page \"view\"\n<é>\u2028",
		Data:          json.RawMessage(data),
		ReceivedAt:    event.NewTimestamp(time.Date(2026, 12, 3, 16, 4, 5, 123456789, time.FixedZone("x", 3600))),
		SourceIP:      "2001:db8::1",
		UserAgent:     "curl/8.0\x01",
	}
}

func ptr[T any](v T) *T { return &v }

func TestRawEventMatchesSchemaAndRoundTrips(t *testing.T) {
	rawSchema, _ := compileSchemas(t)
	for _, data := range []string{`{}`, `{ "a" : [1, 2.50, {"b": null}] }`, `"text"`, `42`, `[true,false]`, "{\n\t\"k\": \"\\u00e9\"\n}"} {
		ev := sampleRaw(data)
		b := ev.AppendJSON(nil)
		if err := validate(t, rawSchema, b); err != nil {
			t.Fatalf("data %s: %v\n%s", data, err, b)
		}
		got, err := event.DecodeRaw(b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Data, []byte(data)) {
			t.Errorf("data not kept byte-for-byte: got %q want %q", got.Data, data)
		}
		want := ev
		want.ReceivedAt = event.NewTimestamp(ev.ReceivedAt.Time)
		if got.ID != want.ID || got.Name != want.Name || got.SourceIP != want.SourceIP ||
			got.UserAgent != want.UserAgent || !got.ReceivedAt.Equal(want.ReceivedAt.Time) {
			t.Errorf("round trip changed the event:\n got %+v\nwant %+v", got, want)
		}
		if got.ReceivedAt.Nanosecond()%int(time.Millisecond) != 0 {
			t.Errorf("received_at kept sub-millisecond precision: %v", got.ReceivedAt)
		}
	}
}

func TestEnrichedEventMatchesSchemaAndRoundTrips(t *testing.T) {
	_, enrichedSchema := compileSchemas(t)
	resolved := event.EnrichedEvent{
		RawEvent:    sampleRaw(`{"x": 1}`),
		City:        ptr("London"),
		CountryISO:  ptr("GB"),
		CountryName: ptr("United Kingdom"),
		Latitude:    ptr(51.5142),
		Longitude:   ptr(-0.0931),
		GeoSource:   event.GeoSourceMMDB, GeoDatabase: "dbip-city-lite 2026-11",
		GeoStatus: event.GeoStatusResolved, EnrichedAt: event.NewTimestamp(time.Now()),
		EnrichmentVersion: 3,
	}
	unresolved := event.EnrichedEvent{
		RawEvent:  sampleRaw(`[]`),
		GeoSource: event.GeoSourceNone, GeoStatus: event.GeoStatusUnresolved,
		EnrichedAt: event.NewTimestamp(time.Now()), EnrichmentVersion: 1,
	}
	for _, ev := range []event.EnrichedEvent{resolved, unresolved} {
		b := ev.AppendJSON(nil)
		if err := validate(t, enrichedSchema, b); err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
		got, err := event.DecodeEnriched(b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Data, ev.Data) || got.ID != ev.ID || got.GeoStatus != ev.GeoStatus ||
			got.EnrichmentVersion != ev.EnrichmentVersion || (got.Latitude == nil) != (ev.Latitude == nil) {
			t.Errorf("round trip changed the event:\n got %+v\nwant %+v", got, ev)
		}
		if ev.Latitude != nil && (*got.Latitude != *ev.Latitude || *got.Longitude != *ev.Longitude || *got.City != *ev.City ||
			*got.CountryISO != *ev.CountryISO || *got.CountryName != *ev.CountryName) {
			t.Errorf("location changed: got %+v", got)
		}
		if got.GeoSource != ev.GeoSource || got.GeoDatabase != ev.GeoDatabase || !got.EnrichedAt.Equal(ev.EnrichedAt.Time) ||
			!got.ReceivedAt.Equal(ev.ReceivedAt.Time) || got.Name != ev.Name || got.SourceIP != ev.SourceIP || got.UserAgent != ev.UserAgent {
			t.Errorf("provenance or envelope changed:\n got %+v\nwant %+v", got, ev)
		}
	}
}

func TestSchemaRejectsBrokenEnvelopes(t *testing.T) {
	rawSchema, _ := compileSchemas(t)
	good := sampleRaw(`{}`)
	for name, mutate := range map[string]func(string) string{
		"missing name":   func(s string) string { return strings.Replace(s, `"name":`, `"nome":`, 1) },
		"bad timestamp":  func(s string) string { return strings.Replace(s, `.123Z`, `Z`, 1) },
		"future version": func(s string) string { return strings.Replace(s, `"schema_version":1`, `"schema_version":2`, 1) },
	} {
		b := mutate(string(good.AppendJSON(nil)))
		if err := validate(t, rawSchema, []byte(b)); err == nil {
			t.Errorf("%s: schema accepted %s", name, b)
		}
	}
}

func TestDecodeRejectsInvalidEnvelopes(t *testing.T) {
	for name, value := range map[string]string{
		"not json":      `{"schema_version":`,
		"wrong version": `{"schema_version":9,"id":"0190a3c4-1d2e-7f00-8000-000000000001","name":"a","data":{},"received_at":"2026-01-01T00:00:00.000Z"}`,
		"nil id":        `{"schema_version":1,"id":"00000000-0000-0000-0000-000000000000","name":"a","data":{},"received_at":"2026-01-01T00:00:00.000Z"}`,
		"no data":       `{"schema_version":1,"id":"0190a3c4-1d2e-7f00-8000-000000000001","name":"a","received_at":"2026-01-01T00:00:00.000Z"}`,
	} {
		if _, err := event.DecodeRaw([]byte(value)); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

// FuzzDecodeKeepsAcceptedData: whatever data ingest accepts (valid for
// encoding/json) the consumers must decode exactly as encoding/json would
// have: a refusal would send a client's event to the dead letters.
func FuzzDecodeKeepsAcceptedData(f *testing.F) {
	for _, d := range []string{`{}`, `{"a":1,"a":2}`, "{\"bad\":\"\xff\xfe\"}", `[1e400, -0.0, 123456789012345678901234567890]`,
		"{ \"spaced\" :\n [ true , null ] }", `"\ud800"`, `{"deep":[[[[[[[[[[{}]]]]]]]]]]}`} {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, data string) {
		if !json.Valid([]byte(data)) {
			t.Skip()
		}
		raw := sampleRaw(data)
		value := raw.AppendJSON(nil)
		var v1 struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(value, &v1); err != nil {
			t.Fatal(err)
		}
		got, err := event.DecodeRaw(value)
		if err != nil {
			t.Fatalf("data %q: %v", data, err)
		}
		if !bytes.Equal(got.Data, v1.Data) {
			t.Fatalf("data %q: decoded as %q, encoding/json reads %q", raw.Data, got.Data, v1.Data)
		}
		en := event.EnrichedEvent{RawEvent: raw, GeoSource: event.GeoSourceNone, GeoStatus: event.GeoStatusUnresolved,
			EnrichedAt: raw.ReceivedAt, EnrichmentVersion: 1}
		gotEn, err := event.DecodeEnriched(en.AppendJSON(nil))
		if err != nil || !bytes.Equal(gotEn.Data, v1.Data) {
			t.Fatalf("enriched, data %q: %v, %q", data, err, gotEn.Data)
		}
	})
}

// FuzzStringEncoding checks the hand-written string encoder against
// encoding/json: whatever it writes must decode back to what encoding/json
// reads from its own output.
func FuzzStringEncoding(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\"back\\slash", "\x00\x1f\x7f", "é\u2028\u2029", "\xff\xfe bad utf8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ev := event.RawEvent{SchemaVersion: 1, ID: uuid.New(), Name: s, Data: json.RawMessage(`{}`), UserAgent: s}
		b := ev.AppendJSON(nil)
		var got struct {
			Name      string `json:"name"`
			UserAgent string `json:"user_agent"`
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("invalid JSON for %q: %v\n%s", s, err, b)
		}
		std, _ := json.Marshal(s)
		var want string
		if err := json.Unmarshal(std, &want); err != nil {
			t.Fatal(err)
		}
		if got.Name != want || got.UserAgent != want {
			t.Fatalf("encoded %q as %q, want %q", s, got.Name, want)
		}
	})
}

func TestViewKeepsOriginalFieldNames(t *testing.T) {
	raw := sampleRaw(`{"k": [1, 2]}`)
	v := event.ViewOfRaw(&raw)
	var got map[string]json.RawMessage
	if err := json.Unmarshal(v.AppendJSON(nil), &got); err != nil {
		t.Fatal(err)
	}
	want := []string{"uuid", "name", "data", "datetime_created", "source_ip", "city", "country_iso", "country_name", "latitude", "longitude"}
	if len(got) != len(want) {
		t.Errorf("got fields %v, want exactly %v", got, want)
	}
	for _, k := range want[5:] {
		if string(got[k]) != "null" {
			t.Errorf("%s = %s, want null before enrichment", k, got[k])
		}
	}
	if string(got["data"]) != `{"k": [1, 2]}` || string(got["uuid"]) != `"`+raw.ID.String()+`"` {
		t.Errorf("data/uuid changed: %s %s", got["data"], got["uuid"])
	}
	v.Provenance = &event.Provenance{GeoSource: event.GeoSourceAPI, GeoStatus: event.GeoStatusResolved, EnrichmentVersion: 2}
	if err := json.Unmarshal(v.AppendJSON(nil), &got); err != nil {
		t.Fatal(err)
	}
	if string(got["geo_source"]) != `"api"` || string(got["enrichment_version"]) != `2` {
		t.Errorf("provenance missing: %v", got)
	}
}
