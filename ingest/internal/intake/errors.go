// Package intake turns HTTP request bodies into validated events: it enforces
// content type, encoding and size limits, parses the original Event Target
// event shape and checks every field. It knows nothing of Kafka or gin.
package intake

import "net/http"

// Error is a client mistake, with the HTTP status and a stable code to answer with.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	// UUID, on 503 answers, is the event's id: retrying with it cannot
	// create a duplicate, whether or not the first attempt landed.
	UUID string `json:"uuid,omitempty"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func badRequest(code, field, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: code, Field: field, Message: msg}
}
