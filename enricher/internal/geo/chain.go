package geo

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/eventtarget/eventtarget/schemas/event"
)

// Result is a location with its provenance.
type Result struct {
	Location
	Found    bool
	Source   event.GeoSource
	Database string
	Status   event.GeoStatus
}

// ChainConfig sizes the answer cache.
type ChainConfig struct {
	CacheSize int
	CacheTTL  time.Duration
}

// cached is a remote API answer, kept also when the API did not know the
// address so that unknown addresses do not spend quota again and again.
type cached struct {
	loc      Location
	found    bool
	database string
	expires  time.Time
}

// Chain resolves addresses: private → cache → remote API → local database.
// Either source may be nil (not configured).
type Chain struct {
	remote Remote
	local  Local
	// cache is a plain LRU with expiry checked on read: the expirable
	// variant runs a goroutine per cache that can never be stopped.
	cache *lru.Cache[netip.Addr, cached]
	ttl   time.Duration
	log   *slog.Logger

	mu          sync.Mutex
	lastWarning time.Time
}

// NewChain builds a chain; remote and local may be nil.
func NewChain(cfg ChainConfig, remote Remote, local Local, log *slog.Logger) *Chain {
	cache, err := lru.New[netip.Addr, cached](max(cfg.CacheSize, 1))
	if err != nil {
		panic(err) // only for a size < 1, which max rules out
	}
	return &Chain{remote: remote, local: local, cache: cache, ttl: cfg.CacheTTL, log: log}
}

func (c *Chain) cacheGet(ip netip.Addr) (cached, bool) {
	v, ok := c.cache.Get(ip)
	if !ok || time.Now().After(v.expires) {
		return cached{}, false
	}
	return v, true
}

func (c *Chain) cachePut(ip netip.Addr, v cached) {
	v.expires = time.Now().Add(c.ttl)
	c.cache.Add(ip, v)
}

var (
	resultPrivate    = Result{Source: event.GeoSourcePrivate, Status: event.GeoStatusPrivate}
	resultUnresolved = Result{Source: event.GeoSourceNone, Status: event.GeoStatusUnresolved}
)

// ResolveMany resolves every address once, however often it repeats. It
// never fails: an address nothing can place is resolved as unresolved, so
// that its event is still emitted.
func (c *Chain) ResolveMany(ctx context.Context, ips []netip.Addr) map[netip.Addr]Result {
	out := make(map[netip.Addr]Result, len(ips))
	var misses []netip.Addr
	for _, ip := range ips {
		if _, done := out[ip]; done {
			continue
		}
		if !IsPublic(ip) {
			out[ip] = resultPrivate
			continue
		}
		if hit, ok := c.cacheGet(ip); ok {
			if hit.found {
				out[ip] = Result{Location: hit.loc, Found: true, Source: event.GeoSourceCache, Database: hit.database, Status: event.GeoStatusResolved}
				continue
			}
			out[ip] = resultUnresolved // the API did not know it: only the local database may
			misses = append(misses, ip)
			continue
		}
		out[ip] = resultUnresolved
		misses = append(misses, ip)
	}
	misses = c.askRemote(ctx, misses, out)
	c.askLocal(misses, out)
	return out
}

// askRemote resolves what it can with the API and returns the rest.
func (c *Chain) askRemote(ctx context.Context, ips []netip.Addr, out map[netip.Addr]Result) []netip.Addr {
	if c.remote == nil || len(ips) == 0 {
		return ips
	}
	var ask []netip.Addr
	asked := make(map[netip.Addr]bool, len(ips))
	for _, ip := range ips {
		if _, known := c.cacheGet(ip); !known {
			ask = append(ask, ip)
			asked[ip] = true
		}
	}
	if len(ask) == 0 {
		return ips
	}
	found, err := c.remote.LookupMany(ctx, ask)
	if err != nil {
		c.warn("geolocation API failed, using the local database", "addresses", len(ask), "error", err)
	}
	name := c.remote.Name()
	rest := ips[:0]
	for _, ip := range ips {
		if loc, ok := found[ip]; ok && !loc.Empty() {
			c.cachePut(ip, cached{loc: loc, found: true, database: name})
			out[ip] = Result{Location: loc, Found: true, Source: event.GeoSourceAPI, Database: name, Status: event.GeoStatusResolved}
			continue
		}
		if err == nil && asked[ip] {
			c.cachePut(ip, cached{database: name}) // the API answered: it does not know ip
		}
		rest = append(rest, ip)
	}
	return rest
}

func (c *Chain) askLocal(ips []netip.Addr, out map[netip.Addr]Result) {
	if c.local == nil {
		return
	}
	for _, ip := range ips {
		loc, found, err := c.local.Lookup(ip)
		if err != nil {
			c.warn("local database lookup failed", "ip", ip.String(), "error", err)
			continue
		}
		if found && !loc.Empty() {
			out[ip] = Result{Location: loc, Found: true, Source: event.GeoSourceMMDB, Database: c.local.Database(), Status: event.GeoStatusResolved}
		}
	}
}

// warn logs at most once every 10 s: during an outage every batch fails the
// same way, and one line says it.
func (c *Chain) warn(msg string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.lastWarning) < 10*time.Second {
		return
	}
	c.lastWarning = time.Now()
	c.log.Warn(msg, args...)
}
