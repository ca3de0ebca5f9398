package api

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// readiness caches the broker check briefly so that frequent probes do not
// each cost a round trip to Kafka.
type readiness struct {
	ping func(context.Context) error

	mu       sync.Mutex
	checked  time.Time
	err      error
	draining bool
}

const readinessTTL = time.Second

func (r *readiness) check(ctx context.Context) (bool, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.draining {
		return false, "shutting down"
	}
	if time.Since(r.checked) > readinessTTL {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		r.err = r.ping(pctx)
		cancel()
		r.checked = time.Now()
	}
	if r.err != nil {
		return false, "kafka unreachable: " + r.err.Error()
	}
	return true, ""
}

// Drain makes /readyz fail so load balancers stop sending traffic while
// in-flight requests finish.
func (h *Handler) Drain() {
	h.ready.mu.Lock()
	h.ready.draining = true
	h.ready.mu.Unlock()
}

func (h *Handler) readyz(c *gin.Context) {
	if ok, why := h.ready.check(c.Request.Context()); !ok {
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "reason": why})
		return
	}
	c.Data(http.StatusOK, contentTypeJSON, []byte(`{"status":"ready"}`))
}
