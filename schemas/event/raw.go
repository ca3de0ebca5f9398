package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/google/uuid"

	jsonv2 "github.com/go-json-experiment/json"
)

// RawSchemaVersion is the version of the raw envelope this package writes.
// Bump it only for incompatible changes; readers accept every version they know.
const RawSchemaVersion = 1

// Kafka record headers carried by every envelope, so consumers can route or
// reject a record without decoding its value.
const (
	HeaderSchema      = "schema"       // e.g. "event.raw/v1"
	HeaderContentType = "content-type" // always "application/json"
	HeaderEventName   = "event-name"   // the event's name, for cheap filtering
	ContentTypeJSON   = "application/json"
)

// RawSchema is the value of the HeaderSchema header on raw events.
var RawSchema = "event.raw/v" + strconv.Itoa(RawSchemaVersion)

// RawEvent is what ingest appends to the raw topic, keyed by ID. It is the
// source of truth: enrichment can always be recomputed from it.
type RawEvent struct {
	SchemaVersion int       `json:"schema_version"`
	ID            uuid.UUID `json:"id"`
	Name          string    `json:"name"`
	// Data is the client's JSON value exactly as it was posted.
	Data       json.RawMessage `json:"data"`
	ReceivedAt Timestamp       `json:"received_at"`
	// SourceIP is the client address ingest resolved (trusted proxies applied).
	SourceIP  string `json:"source_ip"`
	UserAgent string `json:"user_agent"`
}

// ErrInvalidEnvelope marks a record that is not a usable envelope.
var ErrInvalidEnvelope = errors.New("invalid envelope")

// AppendJSON appends the event's JSON encoding to b, keeping Data verbatim.
func (e *RawEvent) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	b = e.appendFields(b)
	return append(b, '}')
}

func (e *RawEvent) appendFields(b []byte) []byte {
	b = appendKey(b, "schema_version")
	b = strconv.AppendInt(b, int64(e.SchemaVersion), 10)
	b = append(b, ',')
	b = appendKey(b, "id")
	b = append(b, '"')
	b = appendUUID(b, e.ID)
	b = append(b, '"', ',')
	b = appendKey(b, "name")
	b = appendString(b, e.Name)
	b = append(b, ',')
	b = appendKey(b, "data")
	if len(e.Data) == 0 {
		b = append(b, '{', '}')
	} else {
		b = append(b, e.Data...)
	}
	b = append(b, ',')
	b = appendKey(b, "received_at")
	b = append(b, '"')
	b = e.ReceivedAt.AppendFormat(b)
	b = append(b, '"', ',')
	b = appendKey(b, "source_ip")
	b = appendString(b, e.SourceIP)
	b = append(b, ',')
	b = appendKey(b, "user_agent")
	return appendString(b, e.UserAgent)
}

// MarshalJSON implements json.Marshaler. Note that json.Marshal compacts the
// result; use AppendJSON where Data must stay byte-for-byte.
func (e RawEvent) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil), nil }

// DecodeRaw parses and checks a raw envelope from a record value.
func DecodeRaw(value []byte) (RawEvent, error) {
	var e RawEvent
	if err := jsonv2.Unmarshal(value, &e, decodeOptions); err != nil {
		return RawEvent{}, fmt.Errorf("%w: %w", ErrInvalidEnvelope, err)
	}
	if err := e.Validate(); err != nil {
		return RawEvent{}, err
	}
	return e, nil
}

// Validate reports whether the envelope carries everything a consumer needs.
func (e *RawEvent) Validate() error {
	switch {
	case e.SchemaVersion != RawSchemaVersion:
		return fmt.Errorf("%w: unsupported schema_version %d", ErrInvalidEnvelope, e.SchemaVersion)
	case e.ID == uuid.Nil:
		return fmt.Errorf("%w: missing id", ErrInvalidEnvelope)
	case e.Name == "":
		return fmt.Errorf("%w: missing name", ErrInvalidEnvelope)
	case len(e.Data) == 0:
		return fmt.Errorf("%w: missing data", ErrInvalidEnvelope)
	case e.ReceivedAt.IsZero():
		return fmt.Errorf("%w: missing received_at", ErrInvalidEnvelope)
	}
	return nil
}

func appendUUID(b []byte, id uuid.UUID) []byte {
	var buf [36]byte
	encodeUUID(buf[:], id)
	return append(b, buf[:]...)
}

// encodeUUID writes the canonical 36-character form without allocating.
func encodeUUID(dst []byte, id uuid.UUID) {
	const hex = hexDigits
	j := 0
	for i, c := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst[j] = '-'
			j++
		}
		dst[j] = hex[c>>4]
		dst[j+1] = hex[c&0xF]
		j += 2
	}
}
