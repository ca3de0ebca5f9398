package intake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
	"github.com/google/uuid"
)

// Limits bound what one request may carry. They are documented in the README
// and the OpenAPI spec; change both with them.
type Limits struct {
	MaxBodyBytes      int64 // single-event body, after decompression
	MaxBatchBytes     int64 // batch body, after decompression
	MaxBatchEvents    int   // events in one batch
	MaxNameLength     int   // characters in name
	MaxDataDepth      int   // nesting of arrays and objects in data
	MaxUserAgentBytes int   // longer User-Agent headers are truncated, not refused
}

// DefaultLimits are the limits a fresh install runs with.
func DefaultLimits() Limits {
	return Limits{
		MaxBodyBytes:      1 << 20,
		MaxBatchBytes:     10 << 20,
		MaxBatchEvents:    1000,
		MaxNameLength:     256,
		MaxDataDepth:      64,
		MaxUserAgentBytes: 512,
	}
}

// Validate names the bad limit.
func (l Limits) Validate() error {
	switch {
	case l.MaxBodyBytes < 1024:
		return fmt.Errorf("max-body-bytes %d: want at least 1024", l.MaxBodyBytes)
	case l.MaxBatchBytes < l.MaxBodyBytes:
		return fmt.Errorf("max-batch-bytes %d: want at least max-body-bytes (%d)", l.MaxBatchBytes, l.MaxBodyBytes)
	case l.MaxBatchEvents < 1:
		return fmt.Errorf("max-batch-events %d: want at least 1", l.MaxBatchEvents)
	case l.MaxNameLength < 1:
		return fmt.Errorf("max-name-length %d: want at least 1", l.MaxNameLength)
	case l.MaxDataDepth < 1:
		return fmt.Errorf("max-data-depth %d: want at least 1", l.MaxDataDepth)
	case l.MaxUserAgentBytes < 0:
		return fmt.Errorf("max-user-agent-bytes %d: want 0 or more", l.MaxUserAgentBytes)
	}
	return nil
}

// Event is a validated client event: what the client said, nothing derived.
type Event struct {
	Name string
	Data json.RawMessage // verbatim; {} when the client sent none
	// ID is the client-supplied uuid for idempotent retries, or uuid.Nil.
	ID uuid.UUID
}

var emptyObject = json.RawMessage(`{}`)

// input mirrors the original app's POST body. Unknown fields are ignored, as
// the original serializer ignored them (clients sent read-only fields back).
type input struct {
	Name jsontext.Value `json:"name"`
	Data jsontext.Value `json:"data"`
	UUID jsontext.Value `json:"uuid"`
}

// decodeOptions make github.com/go-json-experiment/json read a body as
// encoding/json did before it (FuzzParseEventMatchesEncodingJSON compares
// the two): field names match case-insensitively (as strings.EqualFold
// does: "name_" is not "name"), a repeated field keeps its last value, and
// invalid UTF-8 is kept in data and replaced in strings. It reads a body in
// one pass, where encoding/json scanned it twice (once to check it, once to
// decode it).
var decodeOptions = jsonv2.JoinOptions(
	jsonv2.MatchCaseInsensitiveNames(true),
	jsonv1.MatchCaseSensitiveDelimiter(true),
	jsontext.AllowDuplicateNames(true),
	jsontext.AllowInvalidUTF8(true),
)

// ParseEvent parses and validates one event object.
func ParseEvent(body []byte, lim Limits) (Event, *Error) {
	var in input
	if err := jsonv2.Unmarshal(body, &in, decodeOptions); err != nil {
		return Event{}, jsonError(body, err, "an event must be a JSON object")
	}
	var ev Event
	var e *Error
	if ev.Name, e = parseName(in.Name, lim.MaxNameLength); e != nil {
		return Event{}, e
	}
	if ev.Data, e = parseData(in.Data, lim.MaxDataDepth); e != nil {
		return Event{}, e
	}
	if ev.ID, e = parseUUID(in.UUID); e != nil {
		return Event{}, e
	}
	return ev, nil
}

// jsonError explains why body did not decode: broken JSON, or JSON of the
// wrong kind (shapeMsg says which kind it should be).
func jsonError(body []byte, err error, shapeMsg string) *Error {
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("invalid_json", "", "body is empty; "+shapeMsg)
	}
	var sem *jsonv2.SemanticError
	if errors.As(err, &sem) {
		// The decoder reports a value of the wrong kind as soon as it sees
		// it; a body that is also broken further on is reported as broken,
		// the more basic problem (as encoding/json did).
		if serr := jsonv2.Unmarshal(body, new(jsontext.Value), decodeOptions); serr != nil {
			err = serr
		} else if sem.JSONPointer == "" && sem.JSONKind != 0 {
			return badRequest("invalid_shape", "", fmt.Sprintf("%s, got %s", shapeMsg, kindName(sem.JSONKind)))
		}
	}
	var syn *jsontext.SyntacticError
	if errors.As(err, &syn) {
		return badRequest("invalid_json", "", fmt.Sprintf("body is not valid JSON at byte %d: %v", syn.ByteOffset, syn.Err))
	}
	return badRequest("invalid_json", "", "body is not valid JSON: "+err.Error())
}

func parseName(raw []byte, maxLen int) (string, *Error) {
	switch {
	case raw == nil:
		return "", badRequest("required", "name", "name is required")
	case string(raw) == "null":
		return "", badRequest("null", "name", "name may not be null")
	case raw[0] != '"':
		return "", badRequest("invalid_type", "name", fmt.Sprintf("name must be a string, got %s", jsonKind(raw)))
	}
	var name string
	if err := jsonv2.Unmarshal(raw, &name, decodeOptions); err != nil {
		return "", badRequest("invalid_type", "name", "name must be a string")
	}
	// The original serializer trimmed surrounding whitespace before checking
	// for blanks; so do we, so that "  " stays an error and " a " stays "a".
	name = strings.TrimSpace(name)
	if name == "" {
		return "", badRequest("blank", "name", "name may not be blank")
	}
	if n := utf8.RuneCountInString(name); n > maxLen {
		return "", badRequest("too_long", "name", fmt.Sprintf("name has %d characters; the limit is %d", n, maxLen))
	}
	return name, nil
}

func parseData(raw []byte, maxDepth int) (json.RawMessage, *Error) {
	switch {
	case raw == nil:
		return emptyObject, nil
	case string(raw) == "null":
		return nil, badRequest("null", "data", "data may not be null; omit it or send {}")
	}
	if d := Depth(raw); d > maxDepth {
		return nil, badRequest("too_deep", "data", fmt.Sprintf("data nests %d levels deep; the limit is %d", d, maxDepth))
	}
	return raw, nil
}

func parseUUID(raw []byte) (uuid.UUID, *Error) {
	if raw == nil || string(raw) == "null" {
		return uuid.Nil, nil
	}
	var s string
	if raw[0] != '"' || jsonv2.Unmarshal(raw, &s, decodeOptions) != nil {
		return uuid.Nil, badRequest("invalid_type", "uuid", fmt.Sprintf("uuid must be a string, got %s", jsonKind(raw)))
	}
	// Only the canonical 8-4-4-4-12 form: uuid.Parse also takes braces and
	// urn: prefixes, which would let one id be spelt several ways.
	id, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return uuid.Nil, badRequest("invalid_uuid", "uuid", fmt.Sprintf("uuid %q is not a UUID in the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", s))
	}
	if id == uuid.Nil {
		return uuid.Nil, badRequest("invalid_uuid", "uuid", "uuid may not be the nil UUID")
	}
	return id, nil
}

func jsonKind(raw []byte) string { return kindName(jsontext.Kind(raw[0])) }

// kindName names a kind of JSON value for an error message.
func kindName(k jsontext.Kind) string {
	switch k {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// Depth returns how deeply arrays and objects nest in a valid JSON value:
// 0 for a scalar, 1 for {} or [], 2 for [[]], and so on.
func Depth(b []byte) int {
	depth, maxDepth := 0, 0
	inString, escaped := false, false
	for _, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > maxDepth {
				maxDepth = depth
			}
		case '}', ']':
			depth--
		}
	}
	return maxDepth
}
