package fakegeo

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"

	"github.com/eventtarget/eventtarget/enricher/internal/geo"
)

// Entry is one row of a table file or of the table control endpoint.
// Coordinates are optional: without them the answer carries none.
type Entry struct {
	IP          string   `json:"ip"`
	City        string   `json:"city,omitempty"`
	CountryISO  string   `json:"country_iso,omitempty"`
	CountryName string   `json:"country_name,omitempty"`
	Latitude    *float64 `json:"latitude,omitempty"`
	Longitude   *float64 `json:"longitude,omitempty"`
}

// ReadTable decodes a JSON array of entries. Unknown fields are errors, so
// that a misspelt field does not silently become an empty one.
func ReadTable(r io.Reader) (map[netip.Addr]geo.Location, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var entries []Entry
	if err := dec.Decode(&entries); err != nil {
		return nil, fmt.Errorf("decode table: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decode table: trailing data after the array")
	}
	return tableOf(entries)
}

func tableOf(entries []Entry) (map[netip.Addr]geo.Location, error) {
	out := make(map[netip.Addr]geo.Location, len(entries))
	for i, e := range entries {
		ip, err := netip.ParseAddr(e.IP)
		if err != nil {
			return nil, fmt.Errorf("table entry %d: ip %q: %w", i, e.IP, err)
		}
		if (e.Latitude == nil) != (e.Longitude == nil) {
			return nil, fmt.Errorf("table entry %d (%s): give both latitude and longitude or neither", i, e.IP)
		}
		loc := geo.Location{City: e.City, CountryISO: e.CountryISO, CountryName: e.CountryName}
		if e.Latitude != nil {
			loc.Latitude, loc.Longitude, loc.HasCoordinates = *e.Latitude, *e.Longitude, true
		}
		out[ip] = loc
	}
	return out, nil
}

// Entries lists a table sorted by address, for display and round trips.
func Entries(table map[netip.Addr]geo.Location) []Entry {
	out := make([]Entry, 0, len(table))
	for ip, loc := range table {
		e := Entry{IP: ip.String(), City: loc.City, CountryISO: loc.CountryISO, CountryName: loc.CountryName}
		if loc.HasCoordinates {
			lat, lon := loc.Latitude, loc.Longitude
			e.Latitude, e.Longitude = &lat, &lon
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int {
		return netip.MustParseAddr(a.IP).Compare(netip.MustParseAddr(b.IP))
	})
	return out
}

// SampleTable is a small table of public addresses, in the spirit of
// MaxMind's test databases, shared by the fakegeo command and tests that
// want known answers. It includes country-only rows (no city) and IPv6.
func SampleTable() map[netip.Addr]geo.Location {
	at := func(city, iso, country string, lat, lon float64) geo.Location {
		return geo.Location{City: city, CountryISO: iso, CountryName: country, Latitude: lat, Longitude: lon, HasCoordinates: true}
	}
	return map[netip.Addr]geo.Location{
		netip.MustParseAddr("81.2.69.142"):   at("London", "GB", "United Kingdom", 51.5142, -0.0931),
		netip.MustParseAddr("2.125.160.216"): at("Boxford", "GB", "United Kingdom", 51.75, -1.25),
		netip.MustParseAddr("89.160.20.112"): at("Linköping", "SE", "Sweden", 58.4167, 15.6167),
		netip.MustParseAddr("216.160.83.56"): at("Milton", "US", "United States", 47.2513, -122.3149),
		netip.MustParseAddr("175.16.199.1"):  at("Changchun", "CN", "China", 43.88, 125.3228),
		netip.MustParseAddr("67.43.156.1"):   at("", "BT", "Bhutan", 27.5, 90.5),
		netip.MustParseAddr("202.196.224.1"): at("", "PH", "Philippines", 13, 122),
		netip.MustParseAddr("2001:480::1"):   at("San Diego", "US", "United States", 32.7203, -117.1552),
		netip.MustParseAddr("2001:218::1"):   at("", "JP", "Japan", 35.69, 139.69),
		netip.MustParseAddr("2a02:cf40::1"):  {CountryISO: "NO", CountryName: "Norway"}, // no coordinates
	}
}
