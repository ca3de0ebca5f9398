// Package geo turns an IP address into a location. The chain (chain.go) asks,
// in order: is the address private? is a fresh answer cached? does the remote
// API know it? does the local MaxMind-format database? Each answer carries
// its provenance. The remote API client lives in geo/remote, the local
// databases in geo/mmdb.
package geo

import (
	"context"
	"errors"
	"net/netip"
)

// Location is what a source knows about an address. Empty strings mean
// unknown; HasCoordinates says whether Latitude/Longitude are meaningful
// (0,0 is a real place in the Gulf of Guinea).
type Location struct {
	City           string
	CountryISO     string // ISO 3166-1 alpha-2, upper case
	CountryName    string
	Latitude       float64
	Longitude      float64
	HasCoordinates bool
}

// Empty reports whether the location says nothing at all.
func (l Location) Empty() bool {
	return l.City == "" && l.CountryISO == "" && l.CountryName == "" && !l.HasCoordinates
}

// Remote is a remote geolocation API. LookupMany returns what it found for
// each address; an address missing from the map is one the API does not
// know (e.g. it answered "reserved range"). An error means the API could not
// answer for the missing addresses at all (down, rate-limited beyond the
// retry budget, circuit open): the caller falls back to the local database.
type Remote interface {
	LookupMany(ctx context.Context, ips []netip.Addr) (map[netip.Addr]Location, error)
	// Name identifies the API in provenance, e.g. "ip-api.com".
	Name() string
}

// Local is a local database. Lookup returns found=false when the database
// has no record for the address. Database names the loaded build for
// provenance, e.g. "GeoLite2-City 2026-11-28".
type Local interface {
	Lookup(ip netip.Addr) (loc Location, found bool, err error)
	Database() string
}

// ErrUnavailable wraps every failure of a remote API that should send the
// caller to the local database.
var ErrUnavailable = errors.New("geolocation API unavailable")
