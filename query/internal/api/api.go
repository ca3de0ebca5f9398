// Package api is the query HTTP interface: the original app's GET
// /api/events/<uuid>/ and GET /api/events/ with its filters and pagination,
// plus health checks. It reads through store and answers in the original
// representation (schemas/event.View).
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/eventtarget/eventtarget/platform/apierror"
	"github.com/eventtarget/eventtarget/query/internal/store"
	"github.com/eventtarget/eventtarget/schemas/event"
)

const contentTypeJSON = "application/json; charset=utf-8"

// Options configure the handlers.
type Options struct {
	DefaultPageSize int
	MaxPageSize     int
	QueryTimeout    time.Duration
}

type handler struct {
	store *store.Store
	opts  Options
	log   *slog.Logger
}

// Register adds the query routes to r.
func Register(r *gin.Engine, s *store.Store, opts Options, log *slog.Logger) {
	h := &handler{store: s, opts: opts, log: log}
	for _, p := range []string{"/api/events", "/api/events/"} {
		r.GET(p, h.list)
	}
	for _, p := range []string{"/api/events/:id", "/api/events/:id/"} {
		r.GET(p, h.get)
	}
}

func writeError(c *gin.Context, e *apierror.Error) {
	c.Data(e.Status, contentTypeJSON, e.Body())
}

// unavailable answers a failed ClickHouse call: the client may retry.
func (h *handler) unavailable(c *gin.Context, err error) {
	h.log.WarnContext(c, "query failed", "path", c.Request.URL.Path, "error", err)
	c.Header("Retry-After", "1")
	code, msg := "storage_unavailable", "the event store did not answer; retry later"
	if errors.Is(err, context.DeadlineExceeded) {
		code, msg = "query_timeout", "the query took longer than the configured timeout"
	}
	writeError(c, apierror.New(http.StatusServiceUnavailable, code, "", msg))
}

func (h *handler) get(c *gin.Context) {
	s := c.Param("id")
	id, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		writeError(c, apierror.New(http.StatusBadRequest, "invalid_uuid", "uuid",
			fmt.Sprintf("%q is not a UUID in the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", s)))
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), h.opts.QueryTimeout)
	defer cancel()
	row, err := h.store.Get(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(c, apierror.New(http.StatusNotFound, "not_found", "", "no event with uuid "+id.String()))
		return
	case err != nil:
		h.unavailable(c, err)
		return
	}
	v := row.View()
	c.Data(http.StatusOK, contentTypeJSON, v.AppendJSON(make([]byte, 0, 512+len(v.Data))))
}

func (h *handler) list(c *gin.Context) {
	q := c.Request.URL.Query()
	p, e := parseList(q, h.opts.DefaultPageSize, h.opts.MaxPageSize)
	if e != nil {
		writeError(c, e)
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), h.opts.QueryTimeout)
	defer cancel()

	offset := (p.page - 1) * p.pageSize
	if p.cursor != nil {
		offset = 0
	}
	// The total is what the original pagination promised; cursor pages skip
	// it, so that deep pages stay as cheap as the first. It is counted while
	// the page is read: the two queries take about as long as each other.
	var rows []store.Row
	count := int64(-1)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		rows, err = h.store.List(gctx, p.filter, p.cursor, offset, p.pageSize)
		return err
	})
	if p.cursor == nil {
		g.Go(func() error {
			n, err := h.store.Count(gctx, p.filter)
			count = int64(n)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		h.unavailable(c, err)
		return
	}

	var next, previous, nextCursor string
	if len(rows) == p.pageSize {
		last := rows[len(rows)-1]
		nextCursor = store.Cursor{ReceivedMS: last.ReceivedMS, ID: last.ID}.Encode()
	}
	switch {
	case p.cursor != nil:
		if nextCursor != "" {
			next = pageURL(c, q, map[string]string{"cursor": nextCursor, "page": ""})
		}
	default:
		if int64(offset+len(rows)) < count {
			next = pageURL(c, q, map[string]string{"page": strconv.Itoa(p.page + 1)})
		}
		if p.page > 1 {
			prev := strconv.Itoa(p.page - 1)
			if p.page == 2 {
				prev = "" // the original app's first page has no page parameter
			}
			previous = pageURL(c, q, map[string]string{"page": prev})
		}
	}

	b := make([]byte, 0, 256+len(rows)*400)
	b = append(b, `{"count":`...)
	if count < 0 {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, count, 10)
	}
	b = appendOptString(append(b, `,"next":`...), next)
	b = appendOptString(append(b, `,"previous":`...), previous)
	b = appendOptString(append(b, `,"next_cursor":`...), nextCursor)
	b = append(b, `,"results":[`...)
	for i := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		v := rows[i].View()
		b = v.AppendJSON(b)
	}
	b = append(b, "]}"...)
	c.Data(http.StatusOK, contentTypeJSON, b)
}

func appendOptString(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return event.AppendString(b, s)
}

// pageURL is the absolute URL of another page: the request's own URL with
// some parameters changed ("" removes one), as the original app linked pages.
func pageURL(c *gin.Context, q url.Values, set map[string]string) string {
	out := url.Values{}
	for k, v := range q {
		out[k] = v
	}
	for k, v := range set {
		if v == "" {
			out.Del(k)
		} else {
			out.Set(k, v)
		}
	}
	scheme := "http"
	if c.Request.TLS != nil || c.GetHeader("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: c.Request.Host, Path: c.Request.URL.Path, RawQuery: out.Encode()}
	return u.String()
}
