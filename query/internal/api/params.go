package api

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/eventtarget/eventtarget/platform/apierror"
	"github.com/eventtarget/eventtarget/query/internal/store"
)

// listParams are the list endpoint's validated query parameters.
type listParams struct {
	filter   store.Filter
	page     int
	pageSize int
	cursor   *store.Cursor
}

func badParam(field, format string, args ...any) *apierror.Error {
	return apierror.New(http.StatusBadRequest, "invalid_parameter", field, field+": "+fmt.Sprintf(format, args...))
}

// parseList validates the query string. Empty values are ignored, as the
// original app's filters ignored them; unknown parameters are ignored too.
func parseList(q url.Values, defaultSize, maxSize int) (listParams, *apierror.Error) {
	p := listParams{page: 1, pageSize: defaultSize}
	var e *apierror.Error
	if p.page, e = intParam(q, "page", 1, 1, math.MaxInt32); e != nil {
		return p, e
	}
	if p.pageSize, e = intParam(q, "page_size", defaultSize, 1, maxSize); e != nil {
		return p, e
	}
	if s := q.Get("cursor"); s != "" {
		c, err := store.DecodeCursor(s)
		if err != nil {
			return p, badParam("cursor", "%v", err)
		}
		p.cursor = &c
	}
	f := &p.filter
	if f.After, e = timeParam(q, "datetime_after"); e != nil {
		return p, e
	}
	if f.Before, e = timeParam(q, "datetime_before"); e != nil {
		return p, e
	}
	f.Name, f.CountryISO, f.CountryName, f.City = strParam(q, "name"), strParam(q, "country_iso"), strParam(q, "country_name"), strParam(q, "city")
	if f.CountryISO != nil {
		upper := strings.ToUpper(*f.CountryISO)
		f.CountryISO = &upper
	}
	for _, b := range []struct {
		name     string
		dst      **float64
		min, max float64
	}{
		{"latitude_min", &f.LatMin, -90, 90}, {"latitude_max", &f.LatMax, -90, 90},
		{"longitude_min", &f.LonMin, -180, 180}, {"longitude_max", &f.LonMax, -180, 180},
	} {
		if *b.dst, e = floatParam(q, b.name, b.min, b.max); e != nil {
			return p, e
		}
	}
	if f.LatMin != nil && f.LatMax != nil && *f.LatMin > *f.LatMax {
		return p, badParam("latitude_min", "%v is above latitude_max %v", *f.LatMin, *f.LatMax)
	}
	if f.After != nil && f.Before != nil && f.After.After(*f.Before) {
		return p, badParam("datetime_after", "%s is after datetime_before %s", q.Get("datetime_after"), q.Get("datetime_before"))
	}
	// longitude_min > longitude_max is valid: a box across the antimeridian.
	return p, nil
}

func strParam(q url.Values, name string) *string {
	if v := q.Get(name); v != "" {
		return &v
	}
	return nil
}

func intParam(q url.Values, name string, def, min, max int) (int, *apierror.Error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		return 0, badParam(name, "%q is not an integer from %d to %d", s, min, max)
	}
	return n, nil
}

func floatParam(q url.Values, name string, min, max float64) (*float64, *apierror.Error) {
	s := q.Get(name)
	if s == "" {
		return nil, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < min || f > max {
		return nil, badParam(name, "%q is not a number from %v to %v", s, min, max)
	}
	return &f, nil
}

// timeLayouts are the ISO 8601 forms accepted, as the original app's
// date-time filters accepted them; a time without an offset is UTC.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"}

func timeParam(q url.Values, name string) (*time.Time, *apierror.Error) {
	s := q.Get(name)
	if s == "" {
		return nil, nil
	}
	// A + in a query string arrives as a space unless it was escaped.
	s = strings.Replace(s, " ", "+", 1)
	for _, layout := range timeLayouts {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return &t, nil
		}
	}
	return nil, badParam(name, "%q is not an ISO 8601 date-time such as 2026-12-03T10:00:00Z", q.Get(name))
}
