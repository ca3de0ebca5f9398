// Package apierror is the error body every Event Target HTTP API answers
// with: {"error": {"code", "message", "field", "uuid"}}. Field errors also
// carry the original app's shape, {"<field>": ["<message>"]}, so clients
// written against it keep reading their errors.
package apierror

import "encoding/json"

// Error is a problem to answer with: the HTTP status and a stable code.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	// UUID, on 503 answers from ingest, is the event's id: retrying with it
	// cannot create a duplicate, whether or not the first attempt landed.
	UUID string `json:"uuid,omitempty"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// New builds an error.
func New(status int, code, field, message string) *Error {
	return &Error{Status: status, Code: code, Field: field, Message: message}
}

// Body is the JSON answer for e.
func (e *Error) Body() []byte {
	body := map[string]any{"error": e}
	if e.Field != "" {
		body[e.Field] = []string{e.Message}
	}
	b, _ := json.Marshal(body) // a map of strings always encodes
	return b
}
