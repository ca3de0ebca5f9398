package mmdb

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/eventtarget/eventtarget/enricher/internal/geo"
)

// Set asks several databases in order and returns the first that finds the
// address. A Set with no databases is the valid "no local database" state:
// it finds nothing and names nothing. A Set is immutable; the nil *Set is an
// empty one.
type Set struct {
	dbs  []*DB
	name string
}

var _ geo.Local = (*Set)(nil)

// NewSet groups opened databases; lookups ask them in this order.
func NewSet(dbs ...*DB) *Set {
	names := make([]string, len(dbs))
	for i, db := range dbs {
		names[i] = db.Database()
	}
	return &Set{dbs: dbs, name: strings.Join(names, "+")}
}

// OpenSet opens every file, failing on the first that does not open.
func OpenSet(paths ...string) (*Set, error) {
	dbs := make([]*DB, 0, len(paths))
	for _, p := range paths {
		db, err := Open(p)
		if err != nil {
			return nil, err
		}
		dbs = append(dbs, db)
	}
	return NewSet(dbs...), nil
}

// Database names what is loaded, the files' names joined with "+", e.g.
// "dbip-city-ipv4 city ipv4 2026-12-01+dbip-city-ipv6 city ipv6 2026-12-01";
// "" when nothing is.
func (s *Set) Database() string {
	if s == nil {
		return ""
	}
	return s.name
}

// Lookup returns the first database's answer that finds ip. Files that cannot
// hold the address family are skipped. A database that fails is passed over
// for the next; its error is returned only when no database found the address.
func (s *Set) Lookup(ip netip.Addr) (geo.Location, bool, error) {
	if s == nil {
		return geo.Location{}, false, nil
	}
	if !ip.IsValid() {
		return geo.Location{}, false, errors.New("lookup: invalid IP address")
	}
	ip = ip.Unmap()
	var firstErr error
	for _, db := range s.dbs {
		if db.ipv4Only && !ip.Is4() {
			continue
		}
		loc, found, err := db.Lookup(ip)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if found {
			return loc, true, nil
		}
	}
	if firstErr != nil {
		return geo.Location{}, false, fmt.Errorf("local geo database: %w", firstErr)
	}
	return geo.Location{}, false, nil
}
