package intake

import (
	"bytes"
	"fmt"
	"net/http"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Item is one entry of a batch: a valid event, or why it was refused.
type Item struct {
	Event Event
	Err   *Error
}

// ParseBatch splits a batch body into items. A body that cannot be split at
// all (not an array, broken JSON, too many events) is one request-level error;
// otherwise each item is validated on its own, so one bad event does not
// reject its neighbours.
func ParseBatch(body []byte, format Format, lim Limits) ([]Item, *Error) {
	var raws []jsontext.Value
	if format == FormatNDJSON {
		raws = splitLines(body)
	} else if err := jsonv2.Unmarshal(body, &raws, decodeOptions); err != nil {
		return nil, jsonError(body, err, "a batch must be a JSON array of events (or NDJSON with Content-Type application/x-ndjson)")
	}
	switch {
	case len(raws) == 0:
		return nil, badRequest("empty_batch", "", "the batch holds no events")
	case len(raws) > lim.MaxBatchEvents:
		return nil, &Error{Status: http.StatusRequestEntityTooLarge, Code: "batch_too_large",
			Message: fmt.Sprintf("the batch holds %d events; the limit is %d", len(raws), lim.MaxBatchEvents)}
	}
	items := make([]Item, len(raws))
	for i, raw := range raws {
		items[i].Event, items[i].Err = ParseEvent(raw, lim)
	}
	return items, nil
}

// splitLines returns the non-blank lines of an NDJSON body.
func splitLines(body []byte) []jsontext.Value {
	var lines []jsontext.Value
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		if line = bytes.TrimSpace(line); len(line) > 0 {
			lines = append(lines, line)
		}
	}
	return lines
}
