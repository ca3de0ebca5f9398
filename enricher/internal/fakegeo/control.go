package fakegeo

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// routeControl adds the HTTP control endpoints, which drive the fake from
// outside the process (the fakegeo command under end-to-end tests). Bodies
// are JSON, decoded strictly; durations are Go duration strings ("1.5s").
// Control requests are not recorded.
//
//	POST   /control/fail       {"status": 503, "count": 2}      count 0: every request; status 0: stop
//	POST   /control/latency    {"latency": "300ms", "count": 0} count 0: every request; "0s": stop
//	POST   /control/ratelimit  {"signal": "x-rl", "limit": 5, "window": "2s", "status": 429}
//	                           signal retry-after | x-rl | period-remaining; "" stops
//	POST   /control/reset      faults, latency, rate limit and request log cleared; table kept
//	GET    /control/requests   {"counts": {"/info": 3}, "requests": [...]}; ?endpoint=/batch filters
//	DELETE /control/requests   empties the request log
//	GET    /control/table      [{"ip": …, "city": …, "country_iso": …, "country_name": …, "latitude": …, "longitude": …}]
//	PUT    /control/table      replaces the table with the entries given
//	POST   /control/table      adds or replaces the entries given
func (s *Server) routeControl() {
	s.mux.HandleFunc("POST /control/fail", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Status int `json:"status"`
			Count  int `json:"count"`
		}
		if !decode(w, r, &req) {
			return
		}
		if req.Status != 0 && (req.Status < 100 || req.Status > 599) {
			controlError(w, fmt.Errorf("status %d: want an HTTP status or 0", req.Status))
			return
		}
		s.Fail(req.Status, req.Count)
		w.WriteHeader(http.StatusNoContent)
	})
	s.mux.HandleFunc("POST /control/latency", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Latency duration `json:"latency"`
			Count   int      `json:"count"`
		}
		if !decode(w, r, &req) {
			return
		}
		s.Slow(time.Duration(req.Latency), req.Count)
		w.WriteHeader(http.StatusNoContent)
	})
	s.mux.HandleFunc("POST /control/ratelimit", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Signal string   `json:"signal"`
			Limit  int      `json:"limit"`
			Window duration `json:"window"`
			Status int      `json:"status"`
		}
		if !decode(w, r, &req) {
			return
		}
		err := s.SetRateLimit(RateLimit{Signal: req.Signal, Limit: req.Limit, Window: time.Duration(req.Window), Status: req.Status})
		if err != nil {
			controlError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	s.mux.HandleFunc("POST /control/reset", func(w http.ResponseWriter, r *http.Request) {
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	s.mux.HandleFunc("GET /control/requests", func(w http.ResponseWriter, r *http.Request) {
		endpoint := r.URL.Query().Get("endpoint")
		counts := map[string]int{}
		reqs := []Request{}
		for _, req := range s.Requests() {
			if endpoint == "" || req.Endpoint == endpoint {
				counts[req.Endpoint]++
				reqs = append(reqs, req)
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"counts": counts, "requests": reqs})
	})
	s.mux.HandleFunc("DELETE /control/requests", func(w http.ResponseWriter, r *http.Request) {
		s.ClearRequests()
		w.WriteHeader(http.StatusNoContent)
	})
	s.mux.HandleFunc("GET /control/table", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, Entries(s.Table()))
	})
	setTable := func(replace bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			table, err := ReadTable(io.LimitReader(r.Body, 10<<20))
			if err != nil {
				controlError(w, err)
				return
			}
			if replace {
				s.SetTable(table)
			} else {
				for ip, loc := range table {
					s.Put(ip, loc)
				}
			}
			w.WriteHeader(http.StatusNoContent)
		}
	}
	s.mux.HandleFunc("PUT /control/table", setTable(true))
	s.mux.HandleFunc("POST /control/table", setTable(false))
}

// duration is a JSON Go duration string.
type duration time.Duration

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`want a duration string such as "1.5s"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("duration %s: want 0 or more", s)
	}
	*d = duration(v)
	return nil
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		controlError(w, fmt.Errorf("decode body: %w", err))
		return false
	}
	return true
}

func controlError(w http.ResponseWriter, err error) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
}
