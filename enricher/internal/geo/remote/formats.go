package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/eventtarget/eventtarget/enricher/internal/geo"
)

// geoIPAPIOne asks geoip-api for one address: GET {base}/info?ip=….
func (c *Client) geoIPAPIOne(ip netip.Addr) unit {
	u := c.base.JoinPath("info")
	u.RawQuery = url.Values{"ip": {ip.String()}}.Encode()
	target := u.String()
	return func(ctx context.Context) (map[netip.Addr]geo.Location, error) {
		var loc geo.Location
		var found bool
		err := c.call(ctx, "lookup "+ip.String(), func(ctx context.Context) error {
			a, err := c.exchange(ctx, func(ctx context.Context) (*http.Request, error) {
				return http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
			})
			if err != nil {
				return err
			}
			loc, found, err = parseGeoIPAPI(a)
			return err
		})
		if err != nil || !found {
			return nil, err
		}
		return map[netip.Addr]geo.Location{ip: loc}, nil
	}
}

type geoIPAPIAnswer struct {
	City    string `json:"city"`
	Country struct {
		ISOCode string `json:"iso_code"`
		Name    string `json:"name"`
	} `json:"country"`
	Location struct {
		Latitude  *float64 `json:"latitude"`
		Longitude *float64 `json:"longitude"`
	} `json:"location"`
}

// parseGeoIPAPI reads a 200 or 404 answer. 404, an empty body and a body
// without any known field all mean the service does not know the address.
func parseGeoIPAPI(a answer) (geo.Location, bool, error) {
	if a.status == http.StatusNotFound || len(bytes.TrimSpace(a.body)) == 0 {
		return geo.Location{}, false, nil
	}
	var v geoIPAPIAnswer
	if err := json.Unmarshal(a.body, &v); err != nil {
		return geo.Location{}, false, fmt.Errorf("decode geoip-api answer: %w", err)
	}
	loc := normalise(geo.Location{City: v.City, CountryISO: v.Country.ISOCode, CountryName: v.Country.Name},
		v.Location.Latitude, v.Location.Longitude)
	return loc, !loc.Empty(), nil
}

// ipAPIFields are the fields asked of ip-api: fewer fields, smaller answers.
const ipAPIFields = "status,message,country,countryCode,city,lat,lon,query"

// ipAPIOne asks ip-api for one address: GET {base}/json/{ip}.
func (c *Client) ipAPIOne(ip netip.Addr) unit {
	u := c.base.JoinPath("json", ip.String())
	u.RawQuery = url.Values{"fields": {ipAPIFields}}.Encode()
	target := u.String()
	return func(ctx context.Context) (map[netip.Addr]geo.Location, error) {
		var out map[netip.Addr]geo.Location
		err := c.call(ctx, "lookup "+ip.String(), func(ctx context.Context) error {
			a, err := c.exchange(ctx, func(ctx context.Context) (*http.Request, error) {
				return http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
			})
			if err != nil {
				return err
			}
			if a.status == http.StatusNotFound {
				return nil
			}
			var v ipAPIAnswer
			if err := json.Unmarshal(a.body, &v); err != nil {
				return fmt.Errorf("decode ip-api answer: %w", err)
			}
			if loc, ok := v.location(); ok {
				out = map[netip.Addr]geo.Location{ip: loc}
			}
			return nil
		})
		return out, err
	}
}

// ipAPIBatch asks ip-api for up to 100 addresses: POST {base}/batch with a
// JSON array of addresses, answered by an array matched by "query".
func (c *Client) ipAPIBatch(ips []netip.Addr) unit {
	u := c.base.JoinPath("batch")
	u.RawQuery = url.Values{"fields": {ipAPIFields}}.Encode()
	target := u.String()
	queries := make([]string, len(ips))
	for i, ip := range ips {
		queries[i] = ip.String()
	}
	payload, _ := json.Marshal(queries) // strings always marshal
	what := fmt.Sprintf("batch of %d from %s", len(ips), ips[0])
	return func(ctx context.Context) (map[netip.Addr]geo.Location, error) {
		out := make(map[netip.Addr]geo.Location, len(ips))
		err := c.call(ctx, what, func(ctx context.Context) error {
			a, err := c.exchange(ctx, func(ctx context.Context) (*http.Request, error) {
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(payload))
				if err == nil {
					req.Header.Set("Content-Type", "application/json")
				}
				return req, err
			})
			if err != nil {
				return err
			}
			if a.status != http.StatusOK {
				return statusError{a.status} // no /batch here: not a per-address "not found"
			}
			var vs []ipAPIAnswer
			if err := json.Unmarshal(a.body, &vs); err != nil {
				return fmt.Errorf("decode ip-api batch answer: %w", err)
			}
			for _, v := range vs {
				q, err := netip.ParseAddr(v.Query)
				if err != nil {
					continue // "invalid query" answers may echo anything
				}
				if loc, ok := v.location(); ok {
					out[q.Unmap()] = loc
				}
			}
			return nil
		})
		return out, err
	}
}

type ipAPIAnswer struct {
	Status      string   `json:"status"`
	Message     string   `json:"message"`
	Country     string   `json:"country"`
	CountryCode string   `json:"countryCode"`
	City        string   `json:"city"`
	Lat         *float64 `json:"lat"`
	Lon         *float64 `json:"lon"`
	Query       string   `json:"query"`
}

// location reads one ip-api answer. "fail" (private range, reserved range,
// invalid query) means not found, as does a success that says nothing.
func (v ipAPIAnswer) location() (geo.Location, bool) {
	if v.Status != "success" {
		return geo.Location{}, false
	}
	loc := normalise(geo.Location{City: v.City, CountryISO: v.CountryCode, CountryName: v.Country}, v.Lat, v.Lon)
	return loc, !loc.Empty()
}

// normalise trims names, upper-cases the ISO code and keeps coordinates
// only when the answer carried both and they are on Earth: 0,0 is a real
// place, so a missing field must not become one.
func normalise(l geo.Location, lat, lon *float64) geo.Location {
	l.City = strings.TrimSpace(l.City)
	l.CountryName = strings.TrimSpace(l.CountryName)
	l.CountryISO = strings.ToUpper(strings.TrimSpace(l.CountryISO))
	if len(l.CountryISO) != 2 {
		l.CountryISO = "" // not ISO 3166-1 alpha-2; the name may still say it
	}
	if lat != nil && lon != nil && validCoordinate(*lat, 90) && validCoordinate(*lon, 180) {
		l.Latitude, l.Longitude, l.HasCoordinates = *lat, *lon, true
	}
	return l
}

func validCoordinate(v, limit float64) bool {
	return !math.IsNaN(v) && v >= -limit && v <= limit
}
