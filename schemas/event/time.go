package event

import (
	"fmt"
	"time"
)

// TimeLayout is how every timestamp in an envelope is written: RFC 3339 in UTC
// with exactly three fractional digits, the precision ClickHouse stores.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// Timestamp is a UTC instant with millisecond precision.
type Timestamp struct{ time.Time }

// NewTimestamp truncates t to milliseconds and converts it to UTC.
func NewTimestamp(t time.Time) Timestamp {
	return Timestamp{t.UTC().Truncate(time.Millisecond)}
}

// AppendFormat appends the timestamp in TimeLayout to b.
func (t Timestamp) AppendFormat(b []byte) []byte {
	return t.UTC().AppendFormat(b, TimeLayout)
}

// String returns the timestamp in TimeLayout.
func (t Timestamp) String() string { return string(t.AppendFormat(nil)) }

// MarshalJSON writes the timestamp as a quoted TimeLayout string.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(TimeLayout)+2)
	b = append(b, '"')
	b = t.AppendFormat(b)
	return append(b, '"'), nil
}

// UnmarshalJSON accepts any RFC 3339 timestamp and normalises it.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("timestamp: want a JSON string, got %s", b)
	}
	parsed, err := time.Parse(time.RFC3339Nano, string(b[1:len(b)-1]))
	if err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	*t = NewTimestamp(parsed)
	return nil
}
