// Package api is the ingest HTTP interface: the original app's POST
// /api/events/, a batch endpoint, and health checks. Handlers read and
// validate with intake, publish with publish, and answer only after Kafka
// acknowledged the event.
package api

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/eventtarget/eventtarget/ingest/internal/intake"
	"github.com/eventtarget/eventtarget/ingest/internal/publish"
	"github.com/eventtarget/eventtarget/schemas/event"
)

const contentTypeJSON = "application/json; charset=utf-8"

// Handler serves the ingest endpoints.
type Handler struct {
	pub               *publish.Publisher
	limits            intake.Limits
	produceTimeout    time.Duration
	retryAfterSeconds int
	log               *slog.Logger
	bodies            sync.Pool // *bytes.Buffer
	ready             readiness
}

// Options configures a Handler.
type Options struct {
	Limits         intake.Limits
	ProduceTimeout time.Duration
	RetryAfter     time.Duration
	TrustedProxies []netip.Prefix
}

// NewRouter returns the gin engine serving every ingest route.
func NewRouter(pub *publish.Publisher, opts Options, log *slog.Logger) (*gin.Engine, *Handler, error) {
	h := &Handler{
		pub:               pub,
		limits:            opts.Limits,
		produceTimeout:    opts.ProduceTimeout,
		retryAfterSeconds: int((opts.RetryAfter + time.Second - 1) / time.Second),
		log:               log,
		ready:             readiness{ping: pub.Ping},
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = true
	// Client IP: gin walks X-Forwarded-For from the right, skipping trusted
	// hops, and believes the headers only when the socket peer is trusted.
	r.ForwardedByClientIP = true
	r.RemoteIPHeaders = []string{"X-Forwarded-For", "X-Real-IP"}
	trusted := make([]string, len(opts.TrustedProxies))
	for i, p := range opts.TrustedProxies {
		trusted[i] = p.String()
	}
	if err := r.SetTrustedProxies(trusted); err != nil {
		return nil, nil, fmt.Errorf("trusted proxies: %w", err)
	}
	r.Use(gin.CustomRecoveryWithWriter(nil, func(c *gin.Context, err any) {
		log.ErrorContext(c, "panic serving request", "path", c.Request.URL.Path, "panic", fmt.Sprint(err))
		writeError(c, &intake.Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error"})
		c.Abort()
	}))
	r.NoRoute(notFound)
	r.NoMethod(methodNotAllowed)

	for _, p := range []string{"/api/events", "/api/events/"} {
		r.POST(p, h.postEvent)
	}
	for _, p := range []string{"/api/events/batch", "/api/events/batch/"} {
		r.POST(p, h.postBatch)
	}
	r.GET("/healthz", func(c *gin.Context) { c.Data(http.StatusOK, contentTypeJSON, []byte(`{"status":"ok"}`)) })
	r.GET("/readyz", h.readyz)
	return r, h, nil
}

func (h *Handler) body() *bytes.Buffer {
	if b, ok := h.bodies.Get().(*bytes.Buffer); ok {
		b.Reset()
		return b
	}
	return new(bytes.Buffer)
}

func (h *Handler) putBody(b *bytes.Buffer) {
	if b.Cap() <= 64<<10 { // do not pin the occasional huge batch in memory
		h.bodies.Put(b)
	}
}

// rawEvent stamps a validated event with its identity and origin.
func (h *Handler) rawEvent(c *gin.Context, in intake.Event, now time.Time) (*event.RawEvent, error) {
	id := in.ID
	if id == uuid.Nil {
		var err error
		if id, err = uuid.NewV7(); err != nil {
			return nil, fmt.Errorf("new uuid: %w", err)
		}
	}
	ua := c.Request.UserAgent()
	if len(ua) > h.limits.MaxUserAgentBytes {
		ua = ua[:h.limits.MaxUserAgentBytes]
	}
	return &event.RawEvent{
		SchemaVersion: event.RawSchemaVersion,
		ID:            id,
		Name:          in.Name,
		Data:          in.Data,
		ReceivedAt:    event.NewTimestamp(now),
		SourceIP:      clientIP(c),
		UserAgent:     ua,
	}, nil
}

// clientIP normalises gin's answer: IPv4-mapped IPv6 becomes plain IPv4.
func clientIP(c *gin.Context) string {
	s := c.ClientIP()
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().String()
	}
	return s
}

func (h *Handler) postEvent(c *gin.Context) {
	if _, e := intake.ContentFormat(c.GetHeader("Content-Type"), false); e != nil {
		writeError(c, e)
		return
	}
	buf := h.body()
	defer h.putBody(buf)
	if e := intake.ReadBody(c.Request, h.limits.MaxBodyBytes, buf); e != nil {
		writeError(c, e)
		return
	}
	in, e := intake.ParseEvent(buf.Bytes(), h.limits)
	if e != nil {
		writeError(c, e)
		return
	}
	ev, err := h.rawEvent(c, in, time.Now())
	if err != nil {
		h.writeUnavailable(c, err, uuid.Nil)
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), h.produceTimeout)
	defer cancel()
	if err := h.pub.PublishOne(ctx, ev); err != nil {
		h.log.WarnContext(ctx, "event not acknowledged", "uuid", ev.ID, "error", err)
		h.writeUnavailable(c, err, ev.ID)
		return
	}
	view := event.ViewOfRaw(ev)
	out := view.AppendJSON(make([]byte, 0, 320+len(ev.Data)))
	c.Header("Location", "/api/events/"+ev.ID.String()+"/")
	c.Data(http.StatusCreated, contentTypeJSON, out)
}
