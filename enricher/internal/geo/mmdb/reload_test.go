package mmdb_test

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventtarget/eventtarget/enricher/internal/geo"
	"github.com/eventtarget/eventtarget/enricher/internal/geo/mmdb"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*mmdb.Config)
		wantErr string
	}{
		{"default", func(*mmdb.Config) {}, ""},
		{"two files", func(c *mmdb.Config) { c.Paths = []string{"a.mmdb", "b.mmdb"} }, ""},
		{"no periodic checks", func(c *mmdb.Config) { c.ReloadInterval = 0 }, ""},
		{"empty path", func(c *mmdb.Config) { c.Paths = []string{"a.mmdb", ""} }, "Paths[1]"},
		{"duplicate", func(c *mmdb.Config) { c.Paths = []string{"a.mmdb", "a.mmdb"} }, "Paths[1]"},
		{"negative interval", func(c *mmdb.Config) { c.ReloadInterval = -time.Second }, "ReloadInterval"},
	}
	for _, tt := range tests {
		c := mmdb.DefaultConfig()
		tt.edit(&c)
		err := c.Validate()
		if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.HasPrefix(err.Error(), tt.wantErr)) {
			t.Errorf("%s: Validate() = %v, want error naming %q", tt.name, err, tt.wantErr)
		}
	}
	if d := mmdb.DefaultConfig(); d.ReloadInterval != time.Minute || len(d.Paths) != 0 {
		t.Errorf("DefaultConfig() = %+v", d)
	}
}

func TestReloaderWithoutFiles(t *testing.T) {
	r, err := mmdb.NewReloader(mmdb.DefaultConfig(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, found, err := r.Lookup(netip.MustParseAddr("81.2.69.142")); found || err != nil {
		t.Errorf("no database: found=%v err=%v", found, err)
	}
	if r.Database() != "" {
		t.Errorf("no database: Database() = %q", r.Database())
	}
	if reloaded, err := r.Check(); reloaded || err != nil {
		t.Errorf("no database: Check() = %v, %v", reloaded, err)
	}
}

func TestReloaderRefusesAtStart(t *testing.T) {
	cfg := mmdb.DefaultConfig()
	cfg.Paths = []string{t.TempDir() + "/absent.mmdb"}
	if _, err := mmdb.NewReloader(cfg, nil); err == nil || !strings.Contains(err.Error(), "absent.mmdb") {
		t.Errorf("missing file: NewReloader error %v", err)
	}
	cfg.Paths = nil
	cfg.ReloadInterval = -1
	if _, err := mmdb.NewReloader(cfg, nil); err == nil || !strings.Contains(err.Error(), "ReloadInterval") {
		t.Errorf("bad config: NewReloader error %v", err)
	}
}

// reloadFixture is a Reloader over a DB-IP style v4+v6 pair whose v4 file the
// test replaces; checks are forced with Check.
type reloadFixture struct {
	dir    string
	r      *mmdb.Reloader
	logs   *logBuffer
	v4name string
}

func newReloadFixture(t *testing.T, interval time.Duration) *reloadFixture {
	t.Helper()
	f := &reloadFixture{dir: t.TempDir(), logs: &logBuffer{}, v4name: "dbip-city-ipv4.mmdb"}
	v4 := install(t, f.dir, f.v4name, flatCity(t, 4, nov28, placeOf("203.0.113.0/24", london)))
	v6 := install(t, f.dir, "dbip-city-ipv6.mmdb", flatCity(t, 6, nov28, placeOf("2001:db8:1::/48", berlin)))
	cfg := mmdb.Config{Paths: []string{v4, v6}, ReloadInterval: interval}
	r, err := mmdb.NewReloader(cfg, slog.New(slog.NewTextHandler(f.logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	f.r = r
	t.Cleanup(func() { _ = r.Close() })
	return f
}

func (f *reloadFixture) lookup(t *testing.T, ip string) geo.Location {
	t.Helper()
	loc, _, err := f.r.Lookup(netip.MustParseAddr(ip))
	if err != nil {
		t.Fatalf("Lookup(%s): %v", ip, err)
	}
	return loc
}

const (
	nov28Names = "dbip-city-ipv4 city ipv4 2026-11-28+dbip-city-ipv6 city ipv6 2026-11-28"
	dec01Names = "dbip-city-ipv4 city ipv4 2026-12-01+dbip-city-ipv6 city ipv6 2026-11-28"
)

func TestReloadGoodFile(t *testing.T) {
	f := newReloadFixture(t, 0)
	if got := f.r.Database(); got != nov28Names {
		t.Fatalf("Database() = %q", got)
	}
	if f.lookup(t, "203.0.113.7") != london {
		t.Fatal("first build does not answer London")
	}

	install(t, f.dir, f.v4name, flatCity(t, 4, dec01, placeOf("203.0.113.0/24", tokyo)))
	reloaded, err := f.r.Check()
	if !reloaded || err != nil {
		t.Fatalf("Check() = %v, %v after a new build", reloaded, err)
	}
	if got := f.lookup(t, "203.0.113.7"); got != tokyo {
		t.Errorf("after reload: %+v, want Tokyo", got)
	}
	if got := f.lookup(t, "2001:db8:1::1"); got != berlin {
		t.Errorf("unchanged v6 file after reload: %+v, want Berlin", got)
	}
	if got := f.r.Database(); got != dec01Names {
		t.Errorf("Database() = %q, want %q", got, dec01Names)
	}
	if !strings.Contains(f.logs.String(), "local geo database reloaded") {
		t.Errorf("reload not logged:\n%s", f.logs)
	}

	// Nothing changed, or the same bytes written again: no reload.
	if reloaded, err := f.r.Check(); reloaded || err != nil {
		t.Errorf("Check() with nothing new = %v, %v", reloaded, err)
	}
	same, err := os.ReadFile(f.dir + "/" + f.v4name)
	if err != nil {
		t.Fatal(err)
	}
	install(t, f.dir, f.v4name, same)
	if reloaded, err := f.r.Check(); reloaded || err != nil {
		t.Errorf("Check() after rewriting identical bytes = %v, %v", reloaded, err)
	}
}

func TestReloadCorruptFileKeepsServing(t *testing.T) {
	f := newReloadFixture(t, 0)
	good := flatCity(t, 4, dec01, placeOf("203.0.113.0/24", tokyo))
	for _, bad := range []struct {
		name string
		data []byte
	}{
		{"truncated", good[:len(good)/3]},
		{"garbage", []byte(strings.Repeat("\x00garbage\xff", 4096))},
		{"empty", nil},
	} {
		install(t, f.dir, f.v4name, bad.data)
		for try := range 2 { // the refused build is tried again on the next check
			reloaded, err := f.r.Check()
			if reloaded || err == nil || !strings.Contains(err.Error(), f.v4name) {
				t.Errorf("%s, check %d: Check() = %v, %v; want a refusal naming the file", bad.name, try, reloaded, err)
			}
			if got := f.lookup(t, "203.0.113.7"); got != london {
				t.Errorf("%s, check %d: %+v, want the old answer London", bad.name, try, got)
			}
			if got := f.r.Database(); got != nov28Names {
				t.Errorf("%s, check %d: Database() = %q", bad.name, try, got)
			}
		}
	}
	if n := strings.Count(f.logs.String(), "local geo database not reloaded; keeping the loaded one"); n != 6 {
		t.Errorf("%d refusals logged, want 6:\n%s", n, f.logs)
	}
	if !strings.Contains(f.logs.String(), "level=ERROR") {
		t.Errorf("refusals not logged as errors:\n%s", f.logs)
	}

	os.Remove(f.dir + "/" + f.v4name) // between an updater's delete and its rename
	if _, err := f.r.Check(); err == nil {
		t.Error("Check() with the file gone: no error")
	}
	if got := f.lookup(t, "203.0.113.7"); got != london {
		t.Errorf("file gone: %+v, want London", got)
	}

	install(t, f.dir, f.v4name, good)
	if reloaded, err := f.r.Check(); !reloaded || err != nil {
		t.Fatalf("good build after bad ones: Check() = %v, %v", reloaded, err)
	}
	if got := f.lookup(t, "203.0.113.7"); got != tokyo {
		t.Errorf("good build after bad ones: %+v, want Tokyo", got)
	}
}

func TestReloadPeriodic(t *testing.T) {
	f := newReloadFixture(t, 5*time.Millisecond)
	if err := f.r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	install(t, f.dir, f.v4name, flatCity(t, 4, dec01, placeOf("203.0.113.0/24", tokyo)))
	deadline := time.Now().Add(10 * time.Second)
	for f.lookup(t, "203.0.113.7") != tokyo {
		if time.Now().After(deadline) {
			t.Fatalf("new build not picked up by the periodic check; logs:\n%s", f.logs)
		}
		time.Sleep(time.Millisecond) // polling a condition; nothing to wait on
	}
	if err := f.r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if got := f.lookup(t, "203.0.113.7"); got != tokyo {
		t.Errorf("after Close: %+v, want the loaded answer", got)
	}
	if err := f.r.Start(t.Context()); err == nil {
		t.Error("Start after Close: no error")
	}
}

func TestStartTwice(t *testing.T) {
	f := newReloadFixture(t, time.Hour)
	ctx, cancel := context.WithCancel(t.Context())
	if err := f.r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.r.Start(ctx); err == nil {
		t.Error("second Start: no error")
	}
	cancel() // the loop ends with its context too; Close still returns
	if err := f.r.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentLookupsDuringReloads swaps builds under lookups; run with
// -race. Every answer must be one build's answer, never a mix or an error.
func TestConcurrentLookupsDuringReloads(t *testing.T) {
	f := newReloadFixture(t, 0)
	builds := [][]byte{
		flatCity(t, 4, dec01, placeOf("203.0.113.0/24", tokyo)),
		flatCity(t, 4, nov28, placeOf("203.0.113.0/24", london)),
	}
	var stop atomic.Bool
	var lookups atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			ips := []netip.Addr{netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("::ffff:203.0.113.8"), netip.MustParseAddr("2001:db8:1::1")}
			for i := 0; !stop.Load(); i++ {
				ip := ips[i%len(ips)]
				loc, found, err := f.r.Lookup(ip)
				_ = f.r.Database()
				lookups.Add(1)
				if err != nil || !found || (loc != london && loc != tokyo && loc != berlin) {
					t.Errorf("Lookup(%s) during reloads = %+v, %v, %v", ip, loc, found, err)
					return
				}
			}
		})
	}
	for i := range 40 {
		install(t, f.dir, f.v4name, builds[i%2])
		if reloaded, err := f.r.Check(); !reloaded || err != nil {
			t.Errorf("reload %d: %v, %v", i, reloaded, err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if lookups.Load() == 0 {
		t.Error("no lookups ran during the reloads")
	}
}
