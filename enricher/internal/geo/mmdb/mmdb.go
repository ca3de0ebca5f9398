// Package mmdb answers geo.Local lookups from MaxMind-format (.mmdb) files:
// MaxMind's GeoIP2/GeoLite2 City and Country databases, and the free DB-IP
// City Lite files that @ip-location-db publishes with a flat schema. A Set
// asks several files in order (DB-IP ships IPv4 and IPv6 apart); a Reloader
// keeps a Set current while the files are replaced underneath it.
package mmdb

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/oschwald/geoip2-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/eventtarget/eventtarget/enricher/internal/geo"
)

type format int

const (
	// formatGeoIP2 is MaxMind's nested schema (city.names.en, country.iso_code,
	// location.latitude), also used by DB-IP's own MaxMind-compatible builds.
	formatGeoIP2 format = iota + 1
	// formatFlat is @ip-location-db's schema: country_code, state1, state2,
	// city, postcode, latitude, longitude, timezone at the top level.
	formatFlat
)

// flatTypes are the database_type values of @ip-location-db's flat files.
// geoip2-golang refuses them; the country editions are the city schema
// without city and coordinates, so one record type reads all four.
var flatTypes = map[string]bool{
	"city ipv4": true, "city ipv6": true, "country ipv4": true, "country ipv6": true,
}

// DB is one opened database file. It is immutable and safe for concurrent use.
type DB struct {
	name     string
	format   format
	ipv4Only bool
	// mm serves every lookup. For MaxMind files it shares its bytes with geo,
	// which is kept for geoip2's own type check and City decoding of hits.
	mm  *maxminddb.Reader
	geo *geoip2.Reader
}

// Open reads a whole database file into memory and opens it.
//
// Deliberately not mmap (maxminddb.Open): a Reloader swaps databases while
// lookups run, and an unmapped region read by a late lookup is a crash, while
// Reader.Close races with concurrent lookups. Bytes on the Go heap are freed
// by the GC once the last lookup using them returns, so old databases are
// simply dropped, never closed. The price is the file size in RSS (DB-IP:
// ~130 MB for both files), twice that for the moment of a reload.
func Open(path string) (*DB, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("open geo database: %w", err)
	}
	db, err := openBytes(path, b)
	if err != nil {
		return nil, fmt.Errorf("open geo database %s: %w", path, err)
	}
	return db, nil
}

// probes are looked up once when a file is opened: a database whose search
// tree or data section is damaged fails here, before it replaces a good one.
// (Reader.Verify would be thorough but rejects the real DB-IP files, whose
// metadata has an empty description map.)
var probes = []netip.Addr{
	netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("8.8.8.8"),
	netip.MustParseAddr("81.2.69.142"), netip.MustParseAddr("203.0.113.7"),
	netip.MustParseAddr("2001:4860:4860::8888"), netip.MustParseAddr("2a00:1450:4001::1"),
	netip.MustParseAddr("2001:db8::1"),
}

func openBytes(path string, b []byte) (*DB, error) {
	mm, err := maxminddb.OpenBytes(b)
	if err != nil {
		return nil, err
	}
	md := mm.Metadata
	if md.IPVersion != 4 && md.IPVersion != 6 {
		return nil, fmt.Errorf("metadata ip_version %d: want 4 or 6", md.IPVersion)
	}
	db := &DB{mm: mm, ipv4Only: md.IPVersion == 4}
	date := md.BuildTime().UTC().Format("2006-01-02")
	switch t := md.DatabaseType; {
	case flatTypes[t]:
		db.format = formatFlat
		// The flat files' type ("city ipv4") does not say whose data it is
		// and their description is empty: the file name does ("dbip-city-ipv4").
		label := md.Description["en"]
		if label == "" {
			label = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		}
		db.name = label + " " + t + " " + date
	default:
		g, err := geoip2.OpenBytes(b)
		var unknown geoip2.UnknownDatabaseTypeError
		if errors.As(err, &unknown) {
			return nil, fmt.Errorf("database type %q is not supported: want a MaxMind GeoIP2/GeoLite2 City or Country database or an @ip-location-db city/country file", t)
		}
		if err != nil {
			return nil, err
		}
		// geoip2 also opens ASN, ISP, anonymous-IP... databases; only those
		// its City method accepts hold locations.
		var wrongKind geoip2.InvalidMethodError
		if _, err := g.City(probes[0]); errors.As(err, &wrongKind) {
			return nil, fmt.Errorf("database type %q holds no locations: want a City or Country database", t)
		}
		db.format, db.geo = formatGeoIP2, g
		db.name = t + " " + date
	}
	for _, ip := range probes {
		if _, _, err := db.Lookup(ip); err != nil {
			return nil, fmt.Errorf("damaged: probe lookup: %w", err)
		}
	}
	return db, nil
}

// Database names the build, e.g. "GeoLite2-City 2026-11-28" or
// "dbip-city-ipv4 city ipv4 2026-12-01": type and metadata build date.
func (db *DB) Database() string { return db.name }

// IPv4Only reports whether the file holds IPv4 addresses only.
func (db *DB) IPv4Only() bool { return db.ipv4Only }

// flatRecord decodes only what geo.Location has room for; the flat schema's
// state1, state2, postcode and timezone are skipped by the decoder.
type flatRecord struct {
	CountryCode string `maxminddb:"country_code"`
	City        string `maxminddb:"city"`
	// float32 in the real files; widened by decimalFloat64.
	Latitude  float32 `maxminddb:"latitude"`
	Longitude float32 `maxminddb:"longitude"`
}

// flatRecords recycles decode targets: Decode takes an interface, so a
// record on the stack would escape and cost an allocation per hit.
var flatRecords = sync.Pool{New: func() any { return new(flatRecord) }}

// decimalFloat64 widens a float32 to the float64 nearest its shortest decimal
// form: float64(float32(51.5143)) is 51.514301300048828, which would reach
// ClickHouse and the UI as noise digits the database never held.
func decimalFloat64(f float32) float64 {
	var buf [32]byte
	v, err := strconv.ParseFloat(string(strconv.AppendFloat(buf[:0], float64(f), 'g', -1, 32)), 64)
	if err != nil { // unreachable for finite input
		return float64(f)
	}
	return v
}

// Lookup finds ip in this file. IPv4-mapped IPv6 addresses are looked up as
// IPv4; an IPv6 address in an IPv4-only file is not found (not an error).
// Found means the record names a country or has coordinates.
func (db *DB) Lookup(ip netip.Addr) (geo.Location, bool, error) {
	if !ip.IsValid() {
		return geo.Location{}, false, errors.New("lookup: invalid IP address")
	}
	ip = ip.Unmap()
	if db.ipv4Only && !ip.Is4() {
		return geo.Location{}, false, nil
	}
	// A tree walk alone answers misses: no decode, no allocation. (On a
	// MaxMind hit, City walks the tree again: ~0.1 µs beside ~1 µs of decoding.)
	res := db.mm.Lookup(ip)
	if err := res.Err(); err != nil {
		return geo.Location{}, false, fmt.Errorf("lookup %s in %s: %w", ip, db.name, err)
	}
	if !res.Found() {
		return geo.Location{}, false, nil
	}
	var loc geo.Location
	switch db.format {
	case formatFlat:
		// NaN marks "absent": the decoder leaves fields missing from the
		// record untouched, and 0,0 is a real coordinate, so zero cannot.
		rec := flatRecords.Get().(*flatRecord)
		defer flatRecords.Put(rec)
		nan := float32(math.NaN())
		*rec = flatRecord{Latitude: nan, Longitude: nan}
		if err := res.Decode(rec); err != nil {
			return geo.Location{}, false, fmt.Errorf("decode %s in %s: %w", ip, db.name, err)
		}
		loc = geo.Location{City: rec.City, CountryISO: strings.ToUpper(rec.CountryCode)}
		loc.CountryName = countryNames[loc.CountryISO]
		if rec.Latitude == rec.Latitude && rec.Longitude == rec.Longitude { // neither is NaN
			loc.Latitude, loc.Longitude, loc.HasCoordinates = decimalFloat64(rec.Latitude), decimalFloat64(rec.Longitude), true
		}
	case formatGeoIP2:
		c, err := db.geo.City(ip)
		if err != nil {
			return geo.Location{}, false, fmt.Errorf("decode %s in %s: %w", ip, db.name, err)
		}
		loc = geo.Location{
			City:        c.City.Names.English,
			CountryISO:  c.Country.ISOCode,
			CountryName: c.Country.Names.English,
		}
		if c.Location.Latitude != nil && c.Location.Longitude != nil {
			loc.Latitude, loc.Longitude, loc.HasCoordinates = *c.Location.Latitude, *c.Location.Longitude, true
		}
	}
	if loc.CountryISO == "" && !loc.HasCoordinates {
		return geo.Location{}, false, nil
	}
	return loc, true, nil
}
