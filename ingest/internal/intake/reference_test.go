package intake

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// referenceParse is how ParseEvent read an event before it moved to
// github.com/go-json-experiment/json: encoding/json, which scans each value
// twice (once to check it, once to decode it). It is kept here as the
// oracle FuzzParseEventMatchesEncodingJSON compares ParseEvent with, for
// the shape of the input: which fields were found, and whether the body
// was valid JSON and an object at all.
func referenceParse(body []byte) (in referenceInput, code string) {
	if err := json.Unmarshal(body, &in); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && typ.Field == "" {
			return referenceInput{}, "invalid_shape"
		}
		return referenceInput{}, "invalid_json"
	}
	return in, ""
}

type referenceInput struct {
	Name json.RawMessage `json:"name"`
	Data json.RawMessage `json:"data"`
	UUID json.RawMessage `json:"uuid"`
}

// referenceName decodes a JSON string (a name, a uuid) the way the old
// parser did.
func referenceName(raw json.RawMessage) (string, bool) {
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err == nil
}

func FuzzParseEventMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{"name":"click","data":{"a":[1]}}`, `{"NAME":"x"}`, `{"Name":"a","name":"b"}`, `{"name":"a","name":"b"}`,
		`{"name":"x","data":null}`, `{"name":null}`, `[{"name":"x"}]`, `"name"`, `{"name":"x"`, ``, `  `,
		`{"name":"x"} {}`, `{"name":"\u00e9\ud800"}`, "{\"name\":\"\xff\"}", `{"name":"x","uuid":"0190a3c4-1d2e-7f00-8000-000000000001"}`,
		`{"name":"x","data":[[[[1]]]]}`, `{"data":{"name":1}}`, `null`, `[1`, `{"name":1e400}`, `{"ｎａｍｅ":"x"}`, `{"name_":"x"}`,
	} {
		f.Add([]byte(s))
	}
	lim := DefaultLimits()
	f.Fuzz(func(t *testing.T, body []byte) {
		ref, refCode := referenceParse(body)
		ev, err := ParseEvent(body, lim)
		switch {
		case refCode != "":
			if err == nil || err.Code != refCode {
				t.Fatalf("%q: got %+v, %+v; encoding/json says %s", body, ev, err, refCode)
			}
			return
		case err != nil && (err.Code == "invalid_json" || err.Code == "invalid_shape"):
			t.Fatalf("%q: got %+v; encoding/json accepts it as %+v", body, err, ref)
		}
		// Same body, same fields: the checks after decoding are the same code.
		if err != nil {
			_, want := parseName(ref.Name, lim.MaxNameLength)
			if want == nil {
				_, want = parseData(ref.Data, lim.MaxDataDepth)
			}
			if want == nil {
				_, want = parseUUID(ref.UUID)
			}
			if want == nil || want.Code != err.Code || want.Field != err.Field {
				t.Fatalf("%q: got %+v; encoding/json's fields give %+v", body, err, want)
			}
			return
		}
		name, _ := referenceName(ref.Name)
		data := ref.Data
		if data == nil {
			data = emptyObject
		}
		if ev.Name != strings.TrimSpace(name) || string(ev.Data) != string(data) {
			t.Fatalf("%q: got name %q data %s; encoding/json gives name %q data %s", body, ev.Name, ev.Data, name, ref.Data)
		}
		if id, _ := referenceName(ref.UUID); (ev.ID == uuid.Nil) != (len(ref.UUID) == 0 || string(ref.UUID) == "null") ||
			(ev.ID != uuid.Nil && !strings.EqualFold(ev.ID.String(), id)) {
			t.Fatalf("%q: got uuid %s; encoding/json gives %s", body, ev.ID, ref.UUID)
		}
	})
}

func FuzzParseBatchMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{`[{"name":"a"},{"name":""},{"name":"c","data":[1]}]`, `[]`, `null`, `{"name":"a"}`, `[{"name":"a"},`,
		`[1,"x",null,{}]`, `[{"name":"a"}] x`, ``, `[[{"name":"a"}]]`} {
		f.Add([]byte(s))
	}
	lim := DefaultLimits()
	f.Fuzz(func(t *testing.T, body []byte) {
		var raws []json.RawMessage
		refErr := json.Unmarshal(body, &raws)
		items, err := ParseBatch(body, FormatJSON, lim)
		switch {
		case refErr != nil:
			var typ *json.UnmarshalTypeError
			want := "invalid_json"
			if errors.As(refErr, &typ) && typ.Field == "" {
				want = "invalid_shape"
			}
			if err == nil || err.Code != want {
				t.Fatalf("%q: got %d items, %+v; encoding/json says %s", body, len(items), err, want)
			}
		case len(raws) == 0 || len(raws) > lim.MaxBatchEvents:
			if err == nil {
				t.Fatalf("%q: got %d items; encoding/json found %d", body, len(items), len(raws))
			}
		case err != nil || len(items) != len(raws):
			t.Fatalf("%q: got %d items, %+v; encoding/json found %d", body, len(items), err, len(raws))
		default:
			for i, raw := range raws {
				ev, e := ParseEvent(raw, lim)
				if (e == nil) != (items[i].Err == nil) || (e != nil && e.Code != items[i].Err.Code) ||
					ev.Name != items[i].Event.Name || string(ev.Data) != string(items[i].Event.Data) {
					t.Fatalf("%q item %d: got %+v; encoding/json's item %s gives %+v, %+v", body, i, items[i], raw, ev, e)
				}
			}
		}
	})
}
