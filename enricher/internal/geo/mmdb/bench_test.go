package mmdb_test

import (
	"log/slog"
	"net/netip"
	"testing"

	"github.com/eventtarget/eventtarget/enricher/internal/geo"
	"github.com/eventtarget/eventtarget/enricher/internal/geo/mmdb"
)

// BenchmarkLookup measures hits and misses in both formats on the small test
// databases (tree walks are shorter than in real files; see
// BenchmarkLookupRealDBIP for those).
func BenchmarkLookup(b *testing.B) {
	f := writeTestFiles(b)
	open := func(paths ...string) *mmdb.Set {
		s, err := mmdb.OpenSet(paths...)
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	cfg := mmdb.DefaultConfig()
	cfg.Paths = []string{f.v4, f.v6}
	reloader, err := mmdb.NewReloader(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer reloader.Close()
	for _, bc := range []struct {
		name  string
		db    geo.Local
		ip    string
		found bool
	}{
		{"geoip2/hit", open(f.geoip2), "203.0.113.7", true},
		{"geoip2/miss", open(f.geoip2), "203.0.114.7", false},
		{"dbip/hit-v4", open(f.v4, f.v6), "203.0.113.7", true},
		{"dbip/hit-v6", open(f.v4, f.v6), "2001:db8:2::1", true},
		{"dbip/miss", open(f.v4, f.v6), "203.0.114.7", false},
		{"dbip/reloader-hit-v4", reloader, "203.0.113.7", true},
	} {
		ip := netip.MustParseAddr(bc.ip)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, found, err := bc.db.Lookup(ip); found != bc.found || err != nil {
					b.Fatalf("Lookup(%s) = %v, %v", ip, found, err)
				}
			}
		})
	}
}
