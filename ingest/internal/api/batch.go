package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/eventtarget/eventtarget/ingest/internal/intake"
	"github.com/eventtarget/eventtarget/ingest/internal/publish"
	"github.com/eventtarget/eventtarget/schemas/event"
)

// BatchResponse answers POST /api/events/batch. Results are in request order,
// one per event; Status is what a single POST of that event would have got.
type BatchResponse struct {
	Accepted int           `json:"accepted"`
	Rejected int           `json:"rejected"`
	Results  []BatchResult `json:"results"`
}

// BatchResult is the outcome of one event of a batch.
type BatchResult struct {
	Index           int           `json:"index"`
	Status          int           `json:"status"`
	UUID            string        `json:"uuid,omitempty"`
	DatetimeCreated string        `json:"datetime_created,omitempty"`
	Error           *intake.Error `json:"error,omitempty"`
}

// postBatch publishes every valid event of a batch. The answer is 200 when at
// least one event was accepted, 503 (with Retry-After) when none was and
// Kafka is to blame, and 400 when every event was invalid.
func (h *Handler) postBatch(c *gin.Context) {
	format, e := intake.ContentFormat(c.GetHeader("Content-Type"), true)
	if e != nil {
		writeError(c, e)
		return
	}
	buf := h.body()
	defer h.putBody(buf)
	if e := intake.ReadBody(c.Request, h.limits.MaxBatchBytes, buf); e != nil {
		writeError(c, e)
		return
	}
	items, e := intake.ParseBatch(buf.Bytes(), format, h.limits)
	if e != nil {
		writeError(c, e)
		return
	}

	resp := BatchResponse{Results: make([]BatchResult, len(items))}
	events := make([]*event.RawEvent, 0, len(items))
	positions := make([]int, 0, len(items))
	now := time.Now()
	for i, it := range items {
		resp.Results[i].Index = i
		if it.Err != nil {
			resp.Results[i].Status, resp.Results[i].Error = it.Err.Status, it.Err
			continue
		}
		ev, err := h.rawEvent(c, it.Event, now)
		if err != nil {
			resp.Results[i].Status, resp.Results[i].Error = http.StatusServiceUnavailable, publishError(err)
			continue
		}
		resp.Results[i].UUID = ev.ID.String()
		events = append(events, ev)
		positions = append(positions, i)
	}

	ctx, cancel := context.WithTimeout(c.Request.Context(), h.produceTimeout)
	defer cancel()
	var unavailable bool
	for j, err := range h.pub.Publish(ctx, events) {
		r := &resp.Results[positions[j]]
		if err != nil {
			r.Status, r.Error = http.StatusServiceUnavailable, publishError(err)
			unavailable = true
			continue
		}
		r.Status = http.StatusCreated
		r.DatetimeCreated = events[j].ReceivedAt.String()
		resp.Accepted++
	}
	resp.Rejected = len(items) - resp.Accepted
	if unavailable {
		h.log.WarnContext(ctx, "batch events not acknowledged", "accepted", resp.Accepted, "rejected", resp.Rejected)
	}

	status := http.StatusOK
	switch {
	case resp.Accepted > 0:
	case unavailable:
		status = http.StatusServiceUnavailable
		c.Header("Retry-After", strconv.Itoa(h.retryAfterSeconds))
	default:
		status = http.StatusBadRequest
	}
	out, err := json.Marshal(resp)
	if err != nil {
		h.writeUnavailable(c, errors.Join(publish.ErrUnavailable, err), uuid.Nil)
		return
	}
	c.Data(status, contentTypeJSON, out)
}
