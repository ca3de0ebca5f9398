package store

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
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
func (s *Store) Get(ctx context.Context, id uuid.UUID) (Row, error) {
	rows, err := s.conn.Query(ctx, "SELECT "+columns+" FROM events WHERE id_time = ? AND id = ? ORDER BY version DESC LIMIT 1",
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

// where builds the WHERE clause with ? placeholders and their values.
func (f Filter) where() (string, []any) {
	conds, args := f.conds()
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// conds lists the filter's conditions and their values.
func (f Filter) conds() ([]string, []any) {
	var conds []string
	var args []any
	add := func(cond string, vals ...any) {
		conds = append(conds, cond)
		args = append(args, vals...)
	}
	if f.After != nil {
		add("received_ms >= ?", uint64(f.After.UnixMilli()))
	}
	if f.Before != nil {
		add("received_ms <= ?", uint64(f.Before.UnixMilli()))
	}
	for _, eq := range []struct {
		col string
		v   *string
	}{{"name", f.Name}, {"country_iso", f.CountryISO}, {"country_name", f.CountryName}, {"city", f.City}} {
		if eq.v != nil {
			add(eq.col+" = ?", *eq.v)
		}
	}
	if f.LatMin != nil {
		add("latitude >= ?", *f.LatMin)
	}
	if f.LatMax != nil {
		add("latitude <= ?", *f.LatMax)
	}
	switch {
	case f.antimeridian():
		// The box crosses the antimeridian: east of min or west of max.
		add("(longitude >= ? OR longitude <= ?)", *f.LonMin, *f.LonMax)
	default:
		if f.LonMin != nil {
			add("longitude >= ?", *f.LonMin)
		}
		if f.LonMax != nil {
			add("longitude <= ?", *f.LonMax)
		}
	}
	return conds, args
}

func (f Filter) antimeridian() bool {
	return f.LonMin != nil && f.LonMax != nil && *f.LonMin > *f.LonMax
}

// located reports whether f bounds latitude or longitude: only events with
// a location can match it, and events_geo holds them sorted by place.
func (f Filter) located() bool {
	return f.LatMin != nil || f.LatMax != nil || f.LonMin != nil || f.LonMax != nil
}

// geoWhere is where() for events_geo: the filter's own conditions, which
// decide, plus the same bounds on the whole-degree cells of the table's sort
// key, which let ClickHouse skip the granules outside the box.
func (f Filter) geoWhere() (string, []any) {
	conds, args := f.conds()
	add := func(cond string, vals ...any) {
		conds = append(conds, cond)
		args = append(args, vals...)
	}
	cell := func(deg float64) int64 { return int64(math.Floor(deg)) }
	if f.LatMin != nil {
		add("lat_cell >= ?", cell(*f.LatMin))
	}
	if f.LatMax != nil {
		add("lat_cell <= ?", cell(*f.LatMax))
	}
	switch {
	case f.antimeridian():
		add("(lon_cell >= ? OR lon_cell <= ?)", cell(*f.LonMin), cell(*f.LonMax))
	default:
		if f.LonMin != nil {
			add("lon_cell >= ?", cell(*f.LonMin))
		}
		if f.LonMax != nil {
			add("lon_cell <= ?", cell(*f.LonMax))
		}
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// geoMatches is a query over events_geo that yields (id_time, id,
// received_ms) of every event whose newest version matches a located filter
// whose WHERE clause over events_geo is where (its values: args). It runs
// without FINAL, on every core, in three parts:
//
//   - candidates: the box's rows in events_geo, the highest matching version
//     of each event (duplicates of one version collapse here; received_ms is
//     the same in every version, so grouping by it changes nothing);
//   - newer: the highest version in events of every event that has a version
//     above the lowest candidate version. Versions above the first
//     enrichment exist only after a replay, and merges shrink them back, so
//     this reads the version column and little else;
//   - a candidate stays when nothing newer exists: a newer version outside
//     the box, or with no location at all, hides it, as FINAL would.
//
// Version 0 (raw) rows never match a located filter, so every candidate is
// an enriched version.
func geoMatches(where string, args []any) (string, []any) {
	q := "SELECT id_time, id, received_ms FROM" +
		" (SELECT id_time, id, received_ms, max(version) AS v FROM events_geo" + where + " GROUP BY id_time, id, received_ms)" +
		" ANY LEFT JOIN (SELECT id_time, id, max(version) AS newest FROM events WHERE version >" +
		" (SELECT if(count() = 0, toUInt32(4294967295), min(version)) FROM events_geo" + where + ")" +
		" GROUP BY id_time, id) USING (id_time, id)" +
		" WHERE newest <= v" // newest is 0 where events holds nothing newer
	return q, append(append([]any{}, args...), args...)
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
// filter in events_geo (see geoMatches); otherwise with FINAL (newest version
// of each event, before any filter), the costly part, run over the key, sort
// and filter columns only. The second fetches those few events by primary
// key, as Get does.
func (s *Store) List(ctx context.Context, f Filter, after *Cursor, offset, limit int) ([]Row, error) {
	var where string
	var args []any
	keyCtx := ctx
	if f.located() {
		where, args = f.geoWhere()
	} else {
		where, args = f.where()
		keyCtx = finalSettings(ctx)
	}
	if after != nil {
		cond := "(received_ms < ? OR (received_ms = ? AND id < ?))"
		if where == "" {
			where = " WHERE " + cond
		} else {
			where += " AND " + cond
		}
		args = append(args, after.ReceivedMS, after.ReceivedMS, after.ID)
	}
	var q string
	if f.located() {
		q, args = geoMatches(where, args)
		q = "SELECT id_time, id FROM (" + q + ")"
	} else {
		q = "SELECT id_time, id FROM events FINAL" + where
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
	rows, err := s.conn.Query(ctx, "SELECT "+columns+" FROM events WHERE id_time IN ("+marks+") AND id IN ("+marks+
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
		q, args = geoMatches(f.geoWhere())
		q = "SELECT count() FROM (" + q + ")"
	} else {
		var where string
		where, args = f.where()
		q = "SELECT count() FROM events FINAL" + where
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
