// Package intake turns HTTP request bodies into validated events: it enforces
// content type, encoding and size limits, parses the original Event Target
// event shape and checks every field. It knows nothing of Kafka or gin.
package intake

import (
	"net/http"

	"github.com/eventtarget/eventtarget/platform/apierror"
)

// Error is a client mistake, with the HTTP status and a stable code to
// answer with: the error body every Event Target API shares.
type Error = apierror.Error

func badRequest(code, field, msg string) *Error {
	return apierror.New(http.StatusBadRequest, code, field, msg)
}
