package store

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/google/uuid"
)

// Store reads and writes the events table.
type Store struct {
	conn driver.Conn
}

// New wraps an open connection.
func New(conn driver.Conn) *Store { return &Store{conn: conn} }

// Insert writes rows in one batch. ClickHouse either takes the whole batch
// or returns an error; the caller retries the same rows, which the table's
// deduplication makes harmless.
func (s *Store) Insert(ctx context.Context, rows []Row) error {
	batch, err := s.conn.PrepareBatch(ctx, "INSERT INTO events ("+columns+")")
	if err != nil {
		return fmt.Errorf("prepare insert: %w", err)
	}
	for i := range rows {
		if err := batch.Append(rows[i].values()...); err != nil {
			_ = batch.Abort()
			return fmt.Errorf("append row %s: %w", rows[i].ID, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert %d rows: %w", len(rows), err)
	}
	return nil
}

// ErrNotFound means no version of the event is stored.
var ErrNotFound = errors.New("event not found")

// Get returns the newest stored version of an event: a primary-key lookup.
//
// The key is a PREWHERE: the primary key picks one granule in each part
// that may hold the id, and ClickHouse then reads the event's other columns
// only from the granule that does, not from all of them (18.16 does not move
// conditions on key columns to PREWHERE itself; bench/PROFILE.md entry 12
// has the figures).
func (s *Store) Get(ctx context.Context, id uuid.UUID) (Row, error) {
	rows, err := s.conn.Query(ctx, "SELECT "+columns+" FROM events PREWHERE id_time = ? AND id = ? ORDER BY version DESC LIMIT 1",
		IDTime(id), id)
	if err != nil {
		return Row{}, fmt.Errorf("get %s: %w", id, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return Row{}, fmt.Errorf("get %s: %w", id, err)
		}
		return Row{}, ErrNotFound
	}
	var r Row
	if err := rows.Scan(r.pointers()...); err != nil {
		return Row{}, fmt.Errorf("get %s: %w", id, err)
	}
	return r, nil
}

// Filter holds the original app's list filters; nil fields do not filter.
type Filter struct {
	After, Before                  *time.Time
	Name, CountryISO, CountryName  *string
	City                           *string
	LatMin, LatMax, LonMin, LonMax *float64
}

// clause is a list of conditions joined by AND, with ? placeholders and
// their values in order.
type clause struct {
	conds []string
	args  []any
}

func (c *clause) add(cond string, vals ...any) {
	c.conds = append(c.conds, cond)
	c.args = append(c.args, vals...)
}

// sql renders the clause after keyword (WHERE, PREWHERE), or "" when empty.
func (c clause) sql(keyword string) string {
	if len(c.conds) == 0 {
		return ""
	}
	return " " + keyword + " " + strings.Join(c.conds, " AND ")
}

// conditions builds the filter's conditions: box holds the latitude and
// longitude bounds, rest the others.
func (f Filter) conditions() (box, rest clause) {
	if f.After != nil {
		rest.add("received_ms >= ?", uint64(f.After.UnixMilli()))
	}
	if f.Before != nil {
		rest.add("received_ms <= ?", uint64(f.Before.UnixMilli()))
	}
	for _, eq := range []struct {
		col string
		v   *string
	}{{"name", f.Name}, {"country_iso", f.CountryISO}, {"country_name", f.CountryName}, {"city", f.City}} {
		if eq.v != nil {
			rest.add(eq.col+" = ?", *eq.v)
		}
	}
	if f.LatMin != nil {
		box.add("latitude >= ?", *f.LatMin)
	}
	if f.LatMax != nil {
		box.add("latitude <= ?", *f.LatMax)
	}
	switch {
	case f.LonMin != nil && f.LonMax != nil && *f.LonMin > *f.LonMax:
		// The box crosses the antimeridian: east of min or west of max.
		box.add("(longitude >= ? OR longitude <= ?)", *f.LonMin, *f.LonMax)
	default:
		if f.LonMin != nil {
			box.add("longitude >= ?", *f.LonMin)
		}
		if f.LonMax != nil {
			box.add("longitude <= ?", *f.LonMax)
		}
	}
	return box, rest
}

// where is every condition of the filter as one WHERE clause.
func (f Filter) where() clause {
	box, rest := f.conditions()
	rest.conds = append(rest.conds, box.conds...)
	rest.args = append(rest.args, box.args...)
	return rest
}

// located reports whether f bounds latitude or longitude: only events with
// a location can match it.
func (f Filter) located() bool {
	return f.LatMin != nil || f.LatMax != nil || f.LonMin != nil || f.LonMax != nil
}

// locatedMatches is a query that yields (id_time, id, received_ms) of every
// event whose newest version matches a located filter (its latitude and
// longitude bounds box, its other conditions rest), without FINAL: FINAL on
// ClickHouse 18.16 merges on one thread, and over 10M rows a box search took
// 2.3 s. It has three parts, each a plain scan on every core:
//
//   - candidates: the rows that match, the highest matching version of each
//     event (duplicates of one version collapse here; received_ms is the
//     same in every version, so grouping by it changes nothing). The box is
//     a PREWHERE: ClickHouse filters on latitude and longitude as it reads
//     them, before the other columns, and only the rows inside the box go
//     on. ClickHouse 18.16 does not move these conditions by itself, and
//     the query took twice as long without it (bench/PROFILE.md entry 9);
//   - newer: the highest version of every event that has a version above
//     the lowest enrichment version stored. Raw rows (version 0) have no
//     location and never match, so every candidate is an enrichment, and
//     only a higher version can replace it. Those exist only after a replay,
//     until merges collapse them, so this part reads the version column and
//     little else;
//   - a candidate stays when nothing newer exists: a newer version outside
//     the box, or with no location at all, hides it, as FINAL would.
//
// Filters without a location bound keep FINAL: without one, raw rows match
// too, and the candidates can be the whole table.
func locatedMatches(box, rest clause) (string, []any) {
	q := "SELECT id_time, id, received_ms FROM" +
		" (SELECT id_time, id, received_ms, max(version) AS v FROM events" + box.sql("PREWHERE") + rest.sql("WHERE") +
		" GROUP BY id_time, id, received_ms)" +
		" ANY LEFT JOIN (SELECT id_time, id, max(version) AS newest FROM events" +
		" WHERE version > (SELECT min(version) FROM events WHERE version > 0)" +
		" GROUP BY id_time, id) USING (id_time, id)" +
		" WHERE newest <= v" // newest is 0 where nothing newer is stored
	return q, append(box.args, rest.args...)
}

// Cursor marks a position in the newest-first order: the last row of a page.
type Cursor struct {
	ReceivedMS uint64
	ID         uuid.UUID
}

// Encode makes the cursor an opaque URL-safe string.
func (c Cursor) Encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatUint(c.ReceivedMS, 10) + "." + c.ID.String()))
}

// DecodeCursor reverses Encode.
func DecodeCursor(s string) (Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, errors.New("cursor is not one this API issued")
	}
	ms, id, ok := strings.Cut(string(b), ".")
	var c Cursor
	if c.ReceivedMS, err = strconv.ParseUint(ms, 10, 64); !ok || err != nil {
		return Cursor{}, errors.New("cursor is not one this API issued")
	}
	if c.ID, err = uuid.Parse(id); err != nil {
		return Cursor{}, errors.New("cursor is not one this API issued")
	}
	return c, nil
}

// finalSettings make FINAL apply before every filter: moving a condition to
// PREWHERE would filter versions before the newest one is chosen.
func finalSettings(ctx context.Context) context.Context {
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"optimize_move_to_prewhere": 0}))
}

// List returns up to limit events matching f, newest first, starting after
// the cursor when one is given, else skipping offset rows.
//
// It runs in two steps. The first finds the page's keys: for a located
// filter with plain scans (see locatedMatches); otherwise with FINAL
// (newest version of each event, before any filter), the costly part, run
// over the key, sort and filter columns only. The second fetches those few
// events by primary key, as Get does.
func (s *Store) List(ctx context.Context, f Filter, after *Cursor, offset, limit int) ([]Row, error) {
	var box, rest clause
	if f.located() {
		box, rest = f.conditions()
	} else {
		rest = f.where()
	}
	if after != nil {
		rest.add("(received_ms < ? OR (received_ms = ? AND id < ?))", after.ReceivedMS, after.ReceivedMS, after.ID)
	}
	keyCtx := ctx
	var q string
	var args []any
	if f.located() {
		q, args = locatedMatches(box, rest)
		q = "SELECT id_time, id FROM (" + q + ")"
	} else {
		keyCtx = finalSettings(ctx)
		q, args = "SELECT id_time, id FROM events FINAL"+rest.sql("WHERE"), rest.args
	}
	q += " ORDER BY received_ms DESC, id DESC LIMIT ? OFFSET ?"
	args = append(args, limit, offset)
	keys, err := s.conn.Query(keyCtx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	var idTimes []uint64
	var ids []uuid.UUID
	for keys.Next() {
		var t uint64
		var id uuid.UUID
		if err := keys.Scan(&t, &id); err != nil {
			keys.Close()
			return nil, fmt.Errorf("list events: %w", err)
		}
		idTimes, ids = append(idTimes, t), append(ids, id)
	}
	keys.Close()
	if err := keys.Err(); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	// One placeholder per value: the driver binds a slice as an array
	// literal, which IN does not take on every server version.
	marks := strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")
	vals := make([]any, 0, 2*len(ids))
	for _, t := range idTimes {
		vals = append(vals, t)
	}
	for _, id := range ids {
		vals = append(vals, id)
	}
	rows, err := s.conn.Query(ctx, "SELECT "+columns+" FROM events PREWHERE id_time IN ("+marks+") AND id IN ("+marks+
		") ORDER BY version DESC LIMIT 1 BY id", vals...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	byID := make(map[uuid.UUID]Row, len(ids))
	for rows.Next() {
		var r Row
		if err := rows.Scan(r.pointers()...); err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		byID[r.ID] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	out := make([]Row, 0, len(ids))
	for _, id := range ids {
		// A version written between the two steps is shown as it is now.
		if r, ok := byID[id]; ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// Count returns how many events match f.
func (s *Store) Count(ctx context.Context, f Filter) (uint64, error) {
	var q string
	var args []any
	if f.located() {
		q, args = locatedMatches(f.conditions())
		q = "SELECT count() FROM (" + q + ")"
	} else {
		where := f.where()
		q, args = "SELECT count() FROM events FINAL"+where.sql("WHERE"), where.args
		ctx = finalSettings(ctx)
	}
	var n uint64
	if err := s.conn.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	return n, nil
}

// Ping checks the server answers.
func (s *Store) Ping(ctx context.Context) error { return s.conn.Ping(ctx) }
