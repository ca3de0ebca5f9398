package geo_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/eventtarget/eventtarget/enricher/internal/geo"
	"github.com/eventtarget/eventtarget/schemas/event"
)

// memRemote and memLocal are in-memory sources that count what they are
// asked: the chain's logic is the subject here; geo/remote and geo/mmdb test
// the real HTTP client and database readers.
type memRemote struct {
	known map[netip.Addr]geo.Location
	err   error
	asked []netip.Addr
}

func (m *memRemote) LookupMany(_ context.Context, ips []netip.Addr) (map[netip.Addr]geo.Location, error) {
	m.asked = append(m.asked, ips...)
	if m.err != nil {
		return nil, m.err
	}
	out := map[netip.Addr]geo.Location{}
	for _, ip := range ips {
		if loc, ok := m.known[ip]; ok {
			out[ip] = loc
		}
	}
	return out, nil
}
func (m *memRemote) Name() string { return "mem-api" }

type memLocal map[netip.Addr]geo.Location

func (m memLocal) Lookup(ip netip.Addr) (geo.Location, bool, error) {
	loc, ok := m[ip]
	return loc, ok, nil
}
func (m memLocal) Database() string { return "mem-db 2026-12-01" }

var (
	ipLondon = netip.MustParseAddr("81.2.69.142")
	ipSweden = netip.MustParseAddr("89.160.20.112")
	ipNone   = netip.MustParseAddr("8.8.4.4")
	ipPriv   = netip.MustParseAddr("192.168.1.1")
	london   = geo.Location{City: "London", CountryISO: "GB", CountryName: "United Kingdom", Latitude: 51.5, Longitude: -0.09, HasCoordinates: true}
	sweden   = geo.Location{City: "Linköping", CountryISO: "SE", CountryName: "Sweden", Latitude: 58.4, Longitude: 15.6, HasCoordinates: true}
)

func newChain(r geo.Remote, l geo.Local) *geo.Chain {
	return geo.NewChain(geo.ChainConfig{CacheSize: 10, CacheTTL: time.Hour}, r, l, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func TestChainOrderAndProvenance(t *testing.T) {
	remote := &memRemote{known: map[netip.Addr]geo.Location{ipLondon: london}}
	local := memLocal{ipSweden: sweden, ipLondon: sweden}
	c := newChain(remote, local)
	got := c.ResolveMany(context.Background(), []netip.Addr{ipLondon, ipSweden, ipNone, ipPriv, ipLondon})

	check := func(ip netip.Addr, src event.GeoSource, status event.GeoStatus, db, country string) {
		t.Helper()
		r := got[ip]
		if r.Source != src || r.Status != status || r.Database != db || r.CountryISO != country {
			t.Errorf("%s: got %+v, want source %s status %s db %q country %q", ip, r, src, status, db, country)
		}
	}
	check(ipLondon, event.GeoSourceAPI, event.GeoStatusResolved, "mem-api", "GB")
	check(ipSweden, event.GeoSourceMMDB, event.GeoStatusResolved, "mem-db 2026-12-01", "SE")
	check(ipNone, event.GeoSourceNone, event.GeoStatusUnresolved, "", "")
	check(ipPriv, event.GeoSourcePrivate, event.GeoStatusPrivate, "", "")
	if len(remote.asked) != 3 {
		t.Errorf("remote asked %v: want each public address once, never the private one", remote.asked)
	}

	// Second round: the API's answers come from the cache, and addresses the
	// API did not know are not asked again (but the local database still is).
	remote.asked = nil
	got = c.ResolveMany(context.Background(), []netip.Addr{ipLondon, ipSweden, ipNone})
	check(ipLondon, event.GeoSourceCache, event.GeoStatusResolved, "mem-api", "GB")
	check(ipSweden, event.GeoSourceMMDB, event.GeoStatusResolved, "mem-db 2026-12-01", "SE")
	if len(remote.asked) != 0 {
		t.Errorf("remote asked %v again", remote.asked)
	}
}

func TestChainFallsBackWhenTheAPIFails(t *testing.T) {
	remote := &memRemote{err: errors.Join(geo.ErrUnavailable, errors.New("503"))}
	c := newChain(remote, memLocal{ipLondon: london})
	got := c.ResolveMany(context.Background(), []netip.Addr{ipLondon, ipNone})
	if r := got[ipLondon]; r.Source != event.GeoSourceMMDB || r.City != "London" {
		t.Errorf("fallback: %+v", r)
	}
	if r := got[ipNone]; r.Status != event.GeoStatusUnresolved {
		t.Errorf("unknown address: %+v", r)
	}
	// A failed API call caches nothing: the next batch asks again.
	remote.err, remote.known, remote.asked = nil, map[netip.Addr]geo.Location{ipNone: sweden}, nil
	got = c.ResolveMany(context.Background(), []netip.Addr{ipNone})
	if r := got[ipNone]; r.Source != event.GeoSourceAPI || len(remote.asked) != 1 {
		t.Errorf("after recovery: %+v, asked %v", r, remote.asked)
	}
}

func TestChainWithoutSources(t *testing.T) {
	got := newChain(nil, nil).ResolveMany(context.Background(), []netip.Addr{ipLondon, ipPriv})
	if got[ipLondon].Status != event.GeoStatusUnresolved || got[ipPriv].Status != event.GeoStatusPrivate {
		t.Errorf("got %+v", got)
	}
}

func TestChainCacheExpires(t *testing.T) {
	remote := &memRemote{known: map[netip.Addr]geo.Location{ipLondon: london}}
	c := geo.NewChain(geo.ChainConfig{CacheSize: 10, CacheTTL: 50 * time.Millisecond}, remote, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	c.ResolveMany(context.Background(), []netip.Addr{ipLondon})
	time.Sleep(80 * time.Millisecond) // the TTL itself is what is tested
	if r := c.ResolveMany(context.Background(), []netip.Addr{ipLondon})[ipLondon]; r.Source != event.GeoSourceAPI || len(remote.asked) != 2 {
		t.Errorf("expired entry served: %+v (asked %v)", r, remote.asked)
	}
}
