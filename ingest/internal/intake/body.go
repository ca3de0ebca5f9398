package intake

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/klauspost/compress/gzip"
)

// Format is how a body's events are laid out.
type Format int

// The accepted body formats.
const (
	FormatJSON   Format = iota // one JSON value (an object, or an array for batches)
	FormatNDJSON               // one JSON object per line
)

// ContentFormat maps a Content-Type to a Format. A missing Content-Type is
// taken as JSON, as most HTTP clients of the original app sent JSON without
// always saying so. ndjson is accepted only where allowNDJSON is set.
func ContentFormat(contentType string, allowNDJSON bool) (Format, *Error) {
	if contentType == "" {
		return FormatJSON, nil
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return 0, unsupportedType(contentType, allowNDJSON)
	}
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		return FormatJSON, nil
	case allowNDJSON && (mt == "application/x-ndjson" || mt == "application/ndjson" || mt == "application/jsonl"):
		return FormatNDJSON, nil
	}
	return 0, unsupportedType(contentType, allowNDJSON)
}

func unsupportedType(ct string, allowNDJSON bool) *Error {
	want := "application/json"
	if allowNDJSON {
		want += " or application/x-ndjson"
	}
	return &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
		Message: fmt.Sprintf("Content-Type %q is not supported; send %s", ct, want)}
}

// ReadBody reads the request body, decompressing gzip, and refuses anything
// larger than limit bytes. Both the bytes on the wire and the decompressed
// bytes are capped, and reading stops at the first byte past the cap, so a
// gzip bomb costs at most limit bytes of memory. buf is reused if it is large
// enough.
func ReadBody(r *http.Request, limit int64, buf *bytes.Buffer) *Error {
	var gz bool
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		gz = true
	default:
		return &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_encoding",
			Message: fmt.Sprintf("Content-Encoding %q is not supported; send gzip or identity", enc)}
	}
	if r.ContentLength > limit {
		return tooLarge(limit)
	}
	wire := &countingReader{r: io.LimitReader(r.Body, limit+1)}
	var src io.Reader = wire
	if gz {
		zr, err := gzip.NewReader(src)
		if err != nil {
			if wire.n > limit {
				return tooLarge(limit)
			}
			return badRequest("invalid_gzip", "", "body is not valid gzip: "+err.Error())
		}
		defer zr.Close()
		src = io.LimitReader(zr, limit+1)
	}
	n, err := buf.ReadFrom(src)
	switch {
	case n > limit || wire.n > limit:
		return tooLarge(limit)
	case err != nil && gz:
		return badRequest("invalid_gzip", "", "body is not valid gzip: "+err.Error())
	case err != nil:
		return badRequest("unreadable_body", "", "reading body: "+err.Error())
	}
	return nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func tooLarge(limit int64) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large",
		Message: fmt.Sprintf("body exceeds the limit of %d bytes (after decompression)", limit)}
}
