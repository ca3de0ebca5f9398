package mmdb_test

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Build dates of the test databases, as Database() prints them.
var (
	nov28 = time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC)
	dec01 = time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)
)

// place is one network's answer in a test database; a zero field is left out
// of the record, NoCoords leaves out latitude and longitude.
type place struct {
	Network          string
	City, ISO, Name  string
	Lat, Lon         float64
	NoCoords         bool
	ExtraGeoIP2Names bool // add German names, as real GeoIP2 records carry several languages
}

// geoIP2City builds a database in MaxMind's nested schema.
func geoIP2City(t testing.TB, dbType string, built time.Time, places ...place) []byte {
	t.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            dbType,
		BuildEpoch:              built.Unix(),
		Description:             map[string]string{"en": "Event Target test database"},
		Languages:               []string{"en", "de"},
		IncludeReservedNetworks: true, // documentation ranges stand in for real addresses
		RecordSize:              28,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range places {
		rec := mmdbtype.Map{}
		names := func(en, de string) mmdbtype.Map {
			m := mmdbtype.Map{"en": mmdbtype.String(en)}
			if p.ExtraGeoIP2Names {
				m["de"] = mmdbtype.String(de)
			}
			return m
		}
		if p.City != "" {
			rec["city"] = mmdbtype.Map{"geoname_id": mmdbtype.Uint32(2643743), "names": names(p.City, p.City+"-de")}
		}
		if p.ISO != "" {
			rec["country"] = mmdbtype.Map{
				"geoname_id": mmdbtype.Uint32(2635167), "iso_code": mmdbtype.String(p.ISO),
				"names": names(p.Name, p.Name+"-de"),
			}
			rec["continent"] = mmdbtype.Map{"code": mmdbtype.String("EU"), "names": names("Europe", "Europa")}
		}
		if !p.NoCoords {
			rec["location"] = mmdbtype.Map{
				"latitude": mmdbtype.Float64(p.Lat), "longitude": mmdbtype.Float64(p.Lon),
				"accuracy_radius": mmdbtype.Uint16(100), "time_zone": mmdbtype.String("Europe/London"),
			}
		}
		insert(t, w, p.Network, rec)
	}
	return serialise(t, w)
}

// flatCity builds a database in @ip-location-db's flat schema ("city ipv4"
// or "city ipv6"), with float32 coordinates and empty strings for unknown
// fields, as the real DB-IP files have them.
func flatCity(t testing.TB, ipVersion int, built time.Time, places ...place) []byte {
	t.Helper()
	dbType := "city ipv4"
	if ipVersion == 6 {
		dbType = "city ipv6"
	}
	w, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            dbType,
		BuildEpoch:              built.Unix(),
		IPVersion:               ipVersion,
		IncludeReservedNetworks: true,
		RecordSize:              28,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range places {
		rec := mmdbtype.Map{
			"country_code": mmdbtype.String(p.ISO), "state1": mmdbtype.String("England"),
			"state2": mmdbtype.String(""), "city": mmdbtype.String(p.City),
			"postcode": mmdbtype.String(""), "timezone": mmdbtype.String(""),
		}
		if !p.NoCoords {
			rec["latitude"] = mmdbtype.Float32(p.Lat)
			rec["longitude"] = mmdbtype.Float32(p.Lon)
		}
		insert(t, w, p.Network, rec)
	}
	return serialise(t, w)
}

func insert(t testing.TB, w *mmdbwriter.Tree, network string, rec mmdbtype.Map) {
	t.Helper()
	_, n, err := net.ParseCIDR(network)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Insert(n, rec); err != nil {
		t.Fatalf("insert %s: %v", network, err)
	}
}

func serialise(t testing.TB, w *mmdbwriter.Tree) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// install writes b to dir/name the way database updaters do (write a new
// file, rename it over the old), so a reader never sees a half-written file.
func install(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	tmp, err := os.CreateTemp(dir, name+".tmp*")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tmp.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := tmp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		t.Fatal(err)
	}
	return path
}

// logBuffer collects slog output from the reloader's goroutine and the test.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
