// Package fakegeo is an in-memory fake of the two remote geolocation APIs
// the enricher speaks: the original app's geoip-api (GET /info?ip=) and
// ip-api.com (GET /json/{ip}, POST /batch). It answers from a settable
// table and can be told, through methods or HTTP control endpoints, to fail,
// to be slow and to rate-limit with each API's signals. It records every
// API request it receives so that tests can assert calls made, calls not
// made and when they came.
package fakegeo

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/eventtarget/eventtarget/enricher/internal/geo"
)

// The API endpoints, as recorded in Request.Endpoint.
const (
	EndpointInfo  = "/info"  // geoip-api
	EndpointJSON  = "/json"  // ip-api single
	EndpointBatch = "/batch" // ip-api batch
)

// The rate-limit signals the fake can send (RateLimit.Signal).
const (
	// SignalRetryAfter refuses over-limit requests with 429 and
	// Retry-After: <seconds until the window resets>.
	SignalRetryAfter = "retry-after"
	// SignalXRl is ip-api's: every answer carries X-Rl (requests left in
	// the window) and X-Ttl (seconds until it resets); over the limit, 429.
	SignalXRl = "x-rl"
	// SignalPeriodRemaining is geoip-api's: over-limit requests get a
	// non-200 (RateLimit.Status) with {"period_remaining": <seconds>}.
	SignalPeriodRemaining = "period-remaining"
)

// maxBatch is ip-api's limit on addresses per /batch request.
const maxBatch = 100

// RateLimit allows Limit requests per Window and endpoint, the window
// starting with its first request as ip-api's does. The zero value is off.
type RateLimit struct {
	Signal string
	Limit  int
	Window time.Duration
	// Status answers over-limit requests with SignalPeriodRemaining
	// (default 429); the other signals always use 429.
	Status int
}

func (l RateLimit) validate() error {
	switch l.Signal {
	case "":
		return nil
	case SignalRetryAfter, SignalXRl, SignalPeriodRemaining:
	default:
		return fmt.Errorf("signal %q: want %s, %s, %s or empty (off)", l.Signal, SignalRetryAfter, SignalXRl, SignalPeriodRemaining)
	}
	switch {
	case l.Limit < 0:
		return fmt.Errorf("limit %d: want 0 or more", l.Limit)
	case l.Window <= 0:
		return fmt.Errorf("window %v: want more than 0", l.Window)
	case l.Status != 0 && (l.Status < 400 || l.Status > 599):
		return fmt.Errorf("status %d: want a 4xx or 5xx status", l.Status)
	}
	return nil
}

// Request is one API request as the fake saw it.
type Request struct {
	Endpoint string    `json:"endpoint"` // EndpointInfo, EndpointJSON or EndpointBatch
	Path     string    `json:"path"`     // path and query as sent
	IPs      int       `json:"ips"`      // addresses asked for
	Time     time.Time `json:"time"`     // arrival, before any injected latency
	// Status is the answer's status; 0 when the client gave up first.
	Status int `json:"status"`
	// WaitSeconds is the pause the answer asked for: Retry-After,
	// period_remaining, or X-Ttl when X-Rl was 0.
	WaitSeconds int `json:"wait_seconds"`
}

// fault applies to the next count requests, or to all when count < 0.
type fault struct {
	count int
	on    bool
}

func (f *fault) take() bool {
	if !f.on {
		return false
	}
	if f.count > 0 {
		f.count--
		f.on = f.count > 0
	}
	return true
}

type window struct {
	start time.Time
	used  int
}

// Server is the fake. Its methods are safe for concurrent use, also while
// it serves.
type Server struct {
	mux *http.ServeMux

	mu         sync.Mutex
	table      map[netip.Addr]geo.Location
	fail       fault
	failStatus int
	slow       fault
	latency    time.Duration
	limit      RateLimit
	windows    map[string]*window
	requests   []*Request
	synthetic  bool
}

// New returns a fake answering from a copy of table (nil: empty).
func New(table map[netip.Addr]geo.Location) *Server {
	s := &Server{mux: http.NewServeMux(), windows: map[string]*window{}}
	s.SetTable(table)
	s.mux.Handle("GET /info", s.api(EndpointInfo, s.serveInfo))
	s.mux.Handle("GET /json/{ip}", s.api(EndpointJSON, s.serveJSON))
	s.mux.Handle("POST /batch", s.api(EndpointBatch, s.serveBatch))
	s.routeControl()
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// SetTable replaces the table with a copy of table.
func (s *Server) SetTable(table map[netip.Addr]geo.Location) {
	cp := make(map[netip.Addr]geo.Location, len(table))
	for ip, loc := range table {
		cp[ip] = loc
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.table = cp
}

// Put adds or replaces one row.
func (s *Server) Put(ip netip.Addr, loc geo.Location) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.table[ip] = loc
}

// Table returns a copy of the table.
func (s *Server) Table() map[netip.Addr]geo.Location {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := make(map[netip.Addr]geo.Location, len(s.table))
	for ip, loc := range s.table {
		cp[ip] = loc
	}
	return cp
}

// Fail answers the next count API requests (all when count <= 0) with
// status and a JSON error body. Status 0 stops failing.
func (s *Server) Fail(status, count int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failStatus = status
	s.fail = newFault(status != 0, count)
}

// Slow delays the next count API requests (all when count <= 0) by d
// before answering. A client that gives up ends the wait. 0 stops it.
func (s *Server) Slow(d time.Duration, count int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
	s.slow = newFault(d > 0, count)
}

func newFault(on bool, count int) fault {
	if !on {
		return fault{}
	}
	if count <= 0 {
		count = -1
	}
	return fault{on: true, count: count}
}

// SetRateLimit starts rate limiting with fresh windows; the zero RateLimit
// stops it.
func (s *Server) SetRateLimit(l RateLimit) error {
	if err := l.validate(); err != nil {
		return err
	}
	if l.Status == 0 {
		l.Status = http.StatusTooManyRequests
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limit = l
	s.windows = map[string]*window{}
	return nil
}

// Reset clears faults, latency, rate limiting and the request log; the
// table stays.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail, s.failStatus, s.slow, s.latency = fault{}, 0, fault{}, 0
	s.limit, s.windows = RateLimit{}, map[string]*window{}
	s.requests = nil
}

// Requests returns the API requests received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = *r
	}
	return out
}

// Count is the number of API requests received at endpoint ("" for all).
func (s *Server) Count(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if endpoint == "" || r.Endpoint == endpoint {
			n++
		}
	}
	return n
}

// ClearRequests empties the request log.
func (s *Server) ClearRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// api wraps an endpoint: it records the request, then applies the injected
// latency, failure and rate limit in that order, then serves. serve returns
// the number of addresses asked for.
func (s *Server) api(endpoint string, serve func(http.ResponseWriter, *http.Request) int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &Request{Endpoint: endpoint, Path: r.URL.RequestURI(), Time: time.Now()}
		s.mu.Lock()
		s.requests = append(s.requests, rec)
		var delay time.Duration
		if s.slow.take() {
			delay = s.latency
		}
		s.mu.Unlock()

		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-r.Context().Done():
				t.Stop()
				return // Status stays 0: nobody is listening
			case <-t.C:
			}
		}

		s.mu.Lock()
		failStatus := 0
		if s.fail.take() {
			failStatus = s.failStatus
		}
		var verdict limitVerdict
		if failStatus == 0 {
			verdict = s.admit(endpoint, time.Now())
		}
		s.mu.Unlock()

		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		switch {
		case failStatus != 0:
			writeJSON(sw, failStatus, map[string]string{"message": "injected failure"})
		case verdict.refuse != nil:
			verdict.refuse(sw)
		default:
			if verdict.headers != nil {
				verdict.headers(sw.Header())
			}
			n := serve(sw, r)
			s.mu.Lock()
			rec.IPs = n
			s.mu.Unlock()
		}
		s.mu.Lock()
		rec.Status, rec.WaitSeconds = sw.status, verdict.wait
		s.mu.Unlock()
	})
}

// limitVerdict is the rate limiter's decision on one request.
type limitVerdict struct {
	wait    int                         // seconds advertised, 0 for none
	headers func(http.Header)           // for an admitted request
	refuse  func(w http.ResponseWriter) // non-nil: refuse the request so
}

// admit counts the request against its endpoint's window. Called with mu
// held.
func (s *Server) admit(endpoint string, now time.Time) limitVerdict {
	l := s.limit
	var v limitVerdict
	if l.Signal == "" {
		return v
	}
	win := s.windows[endpoint]
	if win == nil || !now.Before(win.start.Add(l.Window)) {
		win = &window{start: now}
		s.windows[endpoint] = win
	}
	// Whole seconds, rounded up: a client waiting this long finds the
	// window reset, one waiting a rounded-down value might not.
	ttl := max(int(math.Ceil(win.start.Add(l.Window).Sub(now).Seconds())), 1)
	admitted := win.used < l.Limit
	if admitted {
		win.used++
	}
	left := l.Limit - win.used

	switch {
	case l.Signal == SignalXRl:
		set := func(h http.Header) {
			h.Set("X-Rl", strconv.Itoa(left))
			h.Set("X-Ttl", strconv.Itoa(ttl))
		}
		if left == 0 {
			v.wait = ttl
		}
		v.headers = set
		if !admitted {
			v.refuse = func(w http.ResponseWriter) {
				set(w.Header())
				writeJSON(w, http.StatusTooManyRequests, map[string]string{"message": "too many requests"})
			}
		}
	case admitted:
	case l.Signal == SignalRetryAfter:
		v.wait = ttl
		v.refuse = func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", strconv.Itoa(ttl))
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"message": "too many requests"})
		}
	case l.Signal == SignalPeriodRemaining:
		v.wait = ttl
		v.refuse = func(w http.ResponseWriter) {
			writeJSON(w, l.Status, map[string]int{"period_remaining": ttl})
		}
	}
	return v
}

// Synthesize makes the fake answer every public address missing from its
// table with a made-up place derived from the address, so that load tests
// can send millions of distinct addresses without a table to match.
func (s *Server) Synthesize(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.synthetic = on
}

// lookup finds ip in the table, also by its IPv4 form.
func (s *Server) lookup(ip netip.Addr) (geo.Location, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if loc, ok := s.table[ip]; ok {
		return loc, true
	}
	if loc, ok := s.table[ip.Unmap()]; ok {
		return loc, true
	}
	if s.synthetic && geo.IsPublic(ip) {
		return syntheticPlace(ip), true
	}
	return geo.Location{}, false
}

// syntheticPlace spreads addresses over the globe: the same address always
// gets the same place.
func syntheticPlace(ip netip.Addr) geo.Location {
	h := fnv.New64a()
	b := ip.As16()
	h.Write(b[:])
	v := h.Sum64()
	lat := float64(v%17_000)/100 - 85
	lon := float64((v>>20)%36_000)/100 - 180
	return geo.Location{City: "Synthetic " + strconv.FormatUint(v%1000, 10), CountryISO: "ZZ", CountryName: "Synthetic",
		Latitude: lat, Longitude: lon, HasCoordinates: true}
}

type geoIPAPICountry struct {
	ISOCode string `json:"iso_code,omitempty"`
	Name    string `json:"name,omitempty"`
}

type geoIPAPILocation struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

type geoIPAPIAnswer struct {
	City     string            `json:"city,omitempty"`
	Country  *geoIPAPICountry  `json:"country,omitempty"`
	Location *geoIPAPILocation `json:"location,omitempty"`
}

// serveInfo is geoip-api: 200 with the record, 404 for anything unknown
// (private and reserved addresses included), 400 for a malformed ip.
func (s *Server) serveInfo(w http.ResponseWriter, r *http.Request) int {
	ip, err := netip.ParseAddr(r.URL.Query().Get("ip"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "invalid ip"})
		return 0
	}
	loc, ok := s.lookup(ip)
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "not found"})
		return 1
	}
	a := geoIPAPIAnswer{City: loc.City}
	if loc.CountryISO != "" || loc.CountryName != "" {
		a.Country = &geoIPAPICountry{ISOCode: loc.CountryISO, Name: loc.CountryName}
	}
	if loc.HasCoordinates {
		a.Location = &geoIPAPILocation{Latitude: loc.Latitude, Longitude: loc.Longitude}
	}
	writeJSON(w, http.StatusOK, a)
	return 1
}

type ipAPIAnswer struct {
	Status      string   `json:"status"`
	Message     string   `json:"message,omitempty"`
	Country     string   `json:"country,omitempty"`
	CountryCode string   `json:"countryCode,omitempty"`
	City        string   `json:"city,omitempty"`
	Lat         *float64 `json:"lat,omitempty"`
	Lon         *float64 `json:"lon,omitempty"`
	Query       string   `json:"query"`
}

// ipAPI answers one query the way ip-api does. The table is consulted
// first, so tests may place documentation addresses. An unknown public
// address gets a success that says nothing.
func (s *Server) ipAPI(query string) ipAPIAnswer {
	ip, err := netip.ParseAddr(query)
	if err != nil {
		return ipAPIAnswer{Status: "fail", Message: "invalid query", Query: query}
	}
	if loc, ok := s.lookup(ip); ok {
		a := ipAPIAnswer{Status: "success", Country: loc.CountryName, CountryCode: loc.CountryISO, City: loc.City, Query: query}
		if loc.HasCoordinates {
			lat, lon := loc.Latitude, loc.Longitude
			a.Lat, a.Lon = &lat, &lon
		}
		return a
	}
	switch {
	case ip.Unmap().IsPrivate():
		return ipAPIAnswer{Status: "fail", Message: "private range", Query: query}
	case !geo.IsPublic(ip):
		return ipAPIAnswer{Status: "fail", Message: "reserved range", Query: query}
	}
	return ipAPIAnswer{Status: "success", Query: query}
}

func (s *Server) serveJSON(w http.ResponseWriter, r *http.Request) int {
	writeJSON(w, http.StatusOK, s.ipAPI(r.PathValue("ip")))
	return 1
}

// serveBatch is ip-api's /batch: a JSON array of addresses, or of objects
// with a "query" field, answered in order. More than 100 is refused (422).
func (s *Server) serveBatch(w http.ResponseWriter, r *http.Request) int {
	var items []json.RawMessage
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&items); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "invalid JSON array"})
		return 0
	}
	if len(items) > maxBatch {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "too many queries"})
		return len(items)
	}
	out := make([]ipAPIAnswer, len(items))
	for i, raw := range items {
		var q string
		if json.Unmarshal(raw, &q) != nil {
			var obj struct {
				Query string `json:"query"`
			}
			_ = json.Unmarshal(raw, &obj) // left empty: answered "invalid query"
			q = obj.Query
		}
		out[i] = s.ipAPI(q)
	}
	writeJSON(w, http.StatusOK, out)
	return len(items)
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"message":"encode answer"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
