package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/eventtarget/eventtarget/ingest/internal/intake"
	"github.com/eventtarget/eventtarget/ingest/internal/publish"
)

// errorBody is the shared error answer; a 503 carries the event's uuid in
// error.uuid: retrying with it cannot create a duplicate.
func errorBody(e *intake.Error, id uuid.UUID) []byte {
	if id != uuid.Nil {
		e.UUID = id.String()
	}
	return e.Body()
}

func writeError(c *gin.Context, e *intake.Error) {
	if e.Status == http.StatusRequestEntityTooLarge {
		// The rest of the body is unread; do not make the server drain it.
		c.Header("Connection", "close")
	}
	c.Data(e.Status, contentTypeJSON, errorBody(e, uuid.Nil))
}

// publishError turns a failed publish into a 503 the client can act on.
func publishError(err error) *intake.Error {
	code := "broker_unavailable"
	switch {
	case errors.Is(err, publish.ErrOverloaded):
		code = "overloaded"
	case errors.Is(err, publish.ErrTimeout):
		code = "broker_timeout"
	}
	return &intake.Error{Status: http.StatusServiceUnavailable, Code: code,
		Message: "the event was not acknowledged by Kafka (" + err.Error() + "); retry later with the same uuid"}
}

func (h *Handler) writeUnavailable(c *gin.Context, err error, id uuid.UUID) {
	c.Header("Retry-After", strconv.Itoa(h.retryAfterSeconds))
	c.Data(http.StatusServiceUnavailable, contentTypeJSON, errorBody(publishError(err), id))
}

func notFound(c *gin.Context) {
	writeError(c, &intake.Error{Status: http.StatusNotFound, Code: "not_found",
		Message: "no route for " + c.Request.Method + " " + c.Request.URL.Path})
}

func methodNotAllowed(c *gin.Context) {
	writeError(c, &intake.Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed",
		Message: c.Request.Method + " is not allowed on " + c.Request.URL.Path})
}
