package chstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventtarget/eventtarget/query/internal/chstore"
)

// integrationConfig points at the server named by ET_TEST_CLICKHOUSE_NATIVE
// (host:port) and ET_TEST_CLICKHOUSE_HTTP (http://host:port).
func integrationConfig(tb testing.TB) chstore.Config {
	tb.Helper()
	native, httpURL := os.Getenv("ET_TEST_CLICKHOUSE_NATIVE"), os.Getenv("ET_TEST_CLICKHOUSE_HTTP")
	if native == "" || httpURL == "" {
		const msg = "ET_TEST_CLICKHOUSE_NATIVE and ET_TEST_CLICKHOUSE_HTTP are not set: run deploy/testenv/clickhouse.sh start," +
			" then set them to 127.0.0.1:19000 and http://127.0.0.1:18123"
		if os.Getenv("ET_TEST_REQUIRE_CLICKHOUSE") == "1" {
			tb.Fatal("ET_TEST_REQUIRE_CLICKHOUSE=1 but " + msg)
		}
		tb.Skip(msg)
	}
	cfg := chstore.DefaultConfig()
	cfg.NativeAddr = native
	cfg.HTTPAddr = strings.TrimSuffix(strings.TrimPrefix(httpURL, "http://"), "/")
	cfg.ReadTimeout = 30 * time.Second
	return cfg
}

var databaseSeq atomic.Int64

// testDatabase creates a database of the test's own, dropped at its end,
// and returns the configuration pointing at it.
func testDatabase(tb testing.TB) chstore.Config {
	tb.Helper()
	cfg := integrationConfig(tb)
	cfg.Database = fmt.Sprintf("chstore_test_%d_%d", os.Getpid(), databaseSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := chstore.EnsureDatabase(ctx, cfg, testLogger(tb)); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin := cfg
		admin.Database = "default"
		s, err := chstore.Open(ctx, admin, testLogger(tb))
		if err != nil {
			tb.Errorf("drop test database: %v", err)
			return
		}
		defer s.Close()
		if err := s.Conn().Exec(ctx, "DROP DATABASE IF EXISTS "+cfg.Database); err != nil {
			tb.Errorf("drop test database: %v", err)
		}
	})
	return cfg
}

// open opens a store closed at the end of the test.
func open(tb testing.TB, cfg chstore.Config) *chstore.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := chstore.Open(ctx, cfg, testLogger(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return s
}

// openStore opens a store on a fresh database of its own.
func openStore(tb testing.TB, modify func(*chstore.Config)) *chstore.Store {
	tb.Helper()
	cfg := testDatabase(tb)
	if modify != nil {
		modify(&cfg)
	}
	return open(tb, cfg)
}

func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func testContext(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

func majorOf(tb testing.TB, version string) int {
	tb.Helper()
	major, _, _ := strings.Cut(version, ".")
	n, err := strconv.Atoi(major)
	if err != nil {
		tb.Fatalf("server version %q", version)
	}
	return n
}

// eventsDDL uses only what 18.16 and current servers both accept.
const eventsDDL = `CREATE TABLE events (
	seq        UInt32,
	id         UUID,
	version    UInt64,
	name       LowCardinality(String),
	label      String,
	value      Nullable(Float64),
	note       Nullable(String),
	created_at DateTime
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(created_at)
ORDER BY (seq, id)`

type eventRow struct {
	seq       uint32
	id        uuid.UUID
	version   uint64
	name      string
	label     string
	value     *float64
	note      *string
	createdAt time.Time
}

var (
	eventNames = []string{"page_view", "click", "signup", "purchase", "scroll"}
	labels     = []string{"plain", "Zürich", "東京タワー", "emoji 🚀✨", "quote ' and \\ backslash", "tab\tnew\nline", ""}
	epoch      = time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC)
)

// makeEvents builds n rows covering nulls, UUIDs and non-ASCII strings.
func makeEvents(n int, seed uint64) []eventRow {
	r := rand.New(rand.NewPCG(seed, seed))
	rows := make([]eventRow, n)
	for i := range rows {
		var id uuid.UUID
		for j := range id {
			id[j] = byte(r.Uint32())
		}
		ev := eventRow{
			seq:       uint32(i),
			id:        id,
			version:   r.Uint64(),
			name:      eventNames[i%len(eventNames)],
			label:     fmt.Sprintf("%s #%d", labels[i%len(labels)], i),
			createdAt: epoch.Add(time.Duration(i) * time.Minute),
		}
		if i%7 != 0 {
			v := r.NormFloat64() * 1e6
			ev.value = &v
		}
		if i%3 == 0 {
			s := labels[(i/3)%len(labels)]
			ev.note = &s
		}
		rows[i] = ev
	}
	return rows
}

func insertEvents(ctx context.Context, tb testing.TB, s *chstore.Store, rows []eventRow) {
	tb.Helper()
	batch, err := s.Conn().PrepareBatch(ctx, "INSERT INTO events (seq, id, version, name, label, value, note, created_at)")
	if err != nil {
		tb.Fatalf("prepare batch: %v", err)
	}
	for _, r := range rows {
		if err := batch.Append(r.seq, r.id, r.version, r.name, r.label, r.value, r.note, r.createdAt); err != nil {
			tb.Fatalf("append row %d: %v", r.seq, err)
		}
	}
	if err := batch.Send(); err != nil {
		tb.Fatalf("send batch of %d rows: %v", len(rows), err)
	}
}

func TestIntegrationOpenAuto(t *testing.T) {
	s := openStore(t, nil)
	v := s.ServerVersion()
	legacy := majorOf(t, v) < 20
	t.Logf("server %s: protocol %s, legacy shim %v", v, s.Protocol(), s.Legacy())
	if s.Legacy() != legacy {
		t.Errorf("server %s: Legacy() = %v, want %v", v, s.Legacy(), legacy)
	}
	wantProtocol := chstore.ProtocolNative
	if legacy {
		wantProtocol = chstore.ProtocolHTTP
	}
	if s.Protocol() != wantProtocol {
		t.Errorf("server %s: protocol %s, want %s", v, s.Protocol(), wantProtocol)
	}
	if strings.HasPrefix(v, "18.16.") && !s.Legacy() {
		t.Error("18.16 must go through the shim")
	}
	var fromQuery string
	if err := s.Conn().QueryRow(testContext(t), "SELECT version()").Scan(&fromQuery); err != nil || fromQuery != v {
		t.Errorf("SELECT version() = %q, %v; want %q", fromQuery, err, v)
	}
}

func TestIntegrationBatchInsertAndSelectBack(t *testing.T) {
	s := openStore(t, nil)
	ctx := testContext(t)
	if err := s.Conn().Exec(ctx, eventsDDL); err != nil {
		t.Fatalf("create table: %v", err)
	}
	want := makeEvents(50_000, 1)
	insertEvents(ctx, t, s, want)

	// Bindings on every kind of column, a non-ASCII string among them.
	rows, err := s.Conn().Query(ctx, `SELECT seq, id, version, name, label, value, note, created_at FROM events
		WHERE seq >= ? AND created_at >= ? AND name != ? AND label != ? ORDER BY seq`,
		0, epoch, "no such name", "Zürich's ☃")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var got eventRow
		if err := rows.Scan(&got.seq, &got.id, &got.version, &got.name, &got.label, &got.value, &got.note, &got.createdAt); err != nil {
			t.Fatalf("row %d: %v", n, err)
		}
		if n >= len(want) {
			t.Fatalf("more rows than inserted")
		}
		if msg := diffEvent(want[n], got); msg != "" {
			t.Fatalf("row %d: %s", n, msg)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(want) {
		t.Fatalf("read %d rows back, inserted %d", n, len(want))
	}

	// The same through a non-ASCII binding and aggregates.
	var count uint64
	if err := s.Conn().QueryRow(ctx, "SELECT count() FROM events WHERE label = ?", want[1].label).Scan(&count); err != nil || count != 1 {
		t.Errorf("count by label %q = %d, %v; want 1", want[1].label, count, err)
	}
	var nulls, distinctNames uint64
	if err := s.Conn().QueryRow(ctx, "SELECT countIf(isNull(value)), uniqExact(name) FROM events").Scan(&nulls, &distinctNames); err != nil {
		t.Fatal(err)
	}
	if nulls != uint64((len(want)+6)/7) || distinctNames != uint64(len(eventNames)) {
		t.Errorf("nulls %d, distinct names %d", nulls, distinctNames)
	}
}

func diffEvent(want, got eventRow) string {
	switch {
	case want.seq != got.seq || want.id != got.id || want.version != got.version:
		return fmt.Sprintf("got seq %d id %s version %d, want %d %s %d", got.seq, got.id, got.version, want.seq, want.id, want.version)
	case want.name != got.name || want.label != got.label:
		return fmt.Sprintf("got name %q label %q, want %q %q", got.name, got.label, want.name, want.label)
	case (want.value == nil) != (got.value == nil) || want.value != nil && *want.value != *got.value:
		return fmt.Sprintf("got value %v, want %v", deref(got.value), deref(want.value))
	case (want.note == nil) != (got.note == nil) || want.note != nil && *want.note != *got.note:
		return fmt.Sprintf("got note %v, want %v", deref(got.note), deref(want.note))
	case !want.createdAt.Equal(got.createdAt):
		return fmt.Sprintf("got created_at %v, want %v", got.createdAt, want.createdAt)
	}
	return ""
}

func deref[T any](p *T) any {
	if p == nil {
		return "NULL"
	}
	return *p
}

func TestIntegrationNullableScan(t *testing.T) {
	s := openStore(t, nil)
	ctx := testContext(t)
	if err := s.Conn().Exec(ctx, eventsDDL); err != nil {
		t.Fatal(err)
	}
	insertEvents(ctx, t, s, makeEvents(10, 2)) // seq 0 and 7: value NULL; 0, 3, 6, 9: note set
	for _, tc := range []struct {
		seq               uint32
		valueNil, noteNil bool
	}{{0, true, false}, {1, false, true}, {3, false, false}, {7, true, true}} {
		var value *float64
		var note *string
		if err := s.Conn().QueryRow(ctx, "SELECT value, note FROM events WHERE seq = ?", tc.seq).Scan(&value, &note); err != nil {
			t.Fatalf("seq %d: %v", tc.seq, err)
		}
		if (value == nil) != tc.valueNil || (note == nil) != tc.noteNil {
			t.Errorf("seq %d: value %v note %v; want nil value %v, nil note %v", tc.seq, deref(value), deref(note), tc.valueNil, tc.noteNil)
		}
	}
	// A NULL produced by the query itself, and one bound as an argument.
	var fromQuery, fromArg *float64
	if err := s.Conn().QueryRow(ctx, "SELECT CAST(NULL AS Nullable(Float64)), CAST(? AS Nullable(Float64))", nil).Scan(&fromQuery, &fromArg); err != nil {
		t.Fatal(err)
	}
	if fromQuery != nil || fromArg != nil {
		t.Errorf("NULLs scanned as %v, %v", deref(fromQuery), deref(fromArg))
	}
}

func TestIntegrationExecInsertSelectAndValues(t *testing.T) {
	s := openStore(t, nil)
	ctx := testContext(t)
	for _, ddl := range []string{eventsDDL, strings.Replace(eventsDDL, "CREATE TABLE events", "CREATE TABLE events_copy", 1)} {
		if err := s.Conn().Exec(ctx, ddl); err != nil {
			t.Fatal(err)
		}
	}
	rows := makeEvents(1000, 3)
	insertEvents(ctx, t, s, rows)

	if err := s.Conn().Exec(ctx, "INSERT INTO events_copy SELECT * FROM events WHERE seq < ? AND isNull(value)", 500); err != nil {
		t.Fatalf("INSERT … SELECT: %v", err)
	}
	// An inline INSERT … VALUES with client-side bindings (the native
	// protocol hangs on this against 18.16).
	extra := makeEvents(1, 4)[0]
	extra.seq = 100_000
	if err := s.Conn().Exec(ctx, "INSERT INTO events_copy (seq, id, version, name, label, value, note, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		extra.seq, extra.id, extra.version, extra.name, extra.label, extra.value, extra.note, extra.createdAt); err != nil {
		t.Fatalf("INSERT … VALUES: %v", err)
	}
	var copied uint64
	if err := s.Conn().QueryRow(ctx, "SELECT count() FROM events_copy WHERE seq < 500").Scan(&copied); err != nil {
		t.Fatal(err)
	}
	if want := uint64((500 + 6) / 7); copied != want {
		t.Errorf("INSERT … SELECT copied %d rows, want %d", copied, want)
	}
	var got eventRow
	if err := s.Conn().QueryRow(ctx, "SELECT seq, id, version, name, label, value, note, created_at FROM events_copy WHERE seq = ?", extra.seq).
		Scan(&got.seq, &got.id, &got.version, &got.name, &got.label, &got.value, &got.note, &got.createdAt); err != nil {
		t.Fatal(err)
	}
	if msg := diffEvent(extra, got); msg != "" {
		t.Errorf("VALUES row: %s", msg)
	}
}

func TestIntegrationErrorsAreReported(t *testing.T) {
	s := openStore(t, nil)
	ctx := testContext(t)
	for _, tc := range []struct {
		name, sql, want string
		run             func(context.Context, string) error
	}{
		{"missing table", "SELECT * FROM no_such_table", "doesn't exist", func(ctx context.Context, q string) error {
			rows, err := s.Conn().Query(ctx, q)
			if err == nil {
				rows.Close()
			}
			return err
		}},
		{"syntax error", "SELEC 1", "Syntax error", func(ctx context.Context, q string) error { return s.Conn().Exec(ctx, q) }},
		{"unknown function", "SELECT no_such_function(1)", "Unknown function", func(ctx context.Context, q string) error {
			var x uint8
			return s.Conn().QueryRow(ctx, q).Scan(&x)
		}},
		{"batch into a missing table", "INSERT INTO no_such_table", "doesn't exist", func(ctx context.Context, q string) error {
			b, err := s.Conn().PrepareBatch(ctx, q)
			if err == nil {
				_ = b.Abort()
			}
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			err := tc.run(ctx, tc.sql)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%s: got %v, want an error containing %q", tc.sql, err, tc.want)
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: the error came from the timeout, not the server: %v", tc.sql, err)
			}
		})
	}
	// The pool is still usable afterwards.
	if err := s.Conn().Ping(ctx); err != nil {
		t.Errorf("ping after errors: %v", err)
	}
}

func TestIntegrationContextDeadline(t *testing.T) {
	for _, protocol := range []string{chstore.ProtocolAuto, chstore.ProtocolNative} {
		t.Run(protocol, func(t *testing.T) {
			s := openStore(t, func(c *chstore.Config) { c.Protocol = protocol })
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			var x uint8
			err := s.Conn().QueryRow(ctx, "SELECT sleep(3)").Scan(&x)
			// sleep(3) cannot have finished: an answer in under 3 s means
			// the deadline ended the wait.
			if elapsed := time.Since(start); err == nil || elapsed >= 3*time.Second {
				t.Fatalf("after %v: got %v, want the deadline to end the query", elapsed, err)
			}
			// Native sets the deadline on the socket too: whichever fires first.
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("got %v, want context.DeadlineExceeded or os.ErrDeadlineExceeded", err)
			}
			if err := s.Conn().Ping(testContext(t)); err != nil {
				t.Errorf("ping after a cancelled query: %v", err)
			}
		})
	}
}

func TestIntegrationForcedProtocols(t *testing.T) {
	cfg := testDatabase(t)
	auto := open(t, cfg)
	ctx := testContext(t)
	if err := auto.Conn().Exec(ctx, eventsDDL); err != nil {
		t.Fatal(err)
	}
	want := makeEvents(100, 5)
	insertEvents(ctx, t, auto, want)
	legacy := majorOf(t, auto.ServerVersion()) < 20

	t.Run("native", func(t *testing.T) {
		c := cfg
		c.Protocol, c.HTTPAddr = chstore.ProtocolNative, "" // no probe: the address is not needed
		s := open(t, c)
		if s.Legacy() || s.Protocol() != chstore.ProtocolNative {
			t.Errorf("legacy %v, protocol %s", s.Legacy(), s.Protocol())
		}
		// The handshake reports three parts, the HTTP probe all of them.
		if !strings.HasPrefix(auto.ServerVersion(), s.ServerVersion()) {
			t.Errorf("native reports %s, HTTP %s", s.ServerVersion(), auto.ServerVersion())
		}
		var got eventRow
		if err := s.Conn().QueryRow(ctx, "SELECT seq, id, version, name, label, value, note, created_at FROM events WHERE seq = ? AND label = ?", 42, want[42].label).
			Scan(&got.seq, &got.id, &got.version, &got.name, &got.label, &got.value, &got.note, &got.createdAt); err != nil {
			t.Fatal(err)
		}
		if msg := diffEvent(want[42], got); msg != "" {
			t.Error(msg)
		}

		// Over the native protocol 18.16 takes a batch insert with a column
		// list, but answers one without a list with an empty header block,
		// so the client expects no columns (auto mode uses HTTP there, where
		// both work).
		r := want[0]
		for _, tc := range []struct {
			query   string
			seq     uint32
			failing bool
		}{
			{"INSERT INTO events (seq, id, version, name, label, value, note, created_at)", 1000, false},
			{"INSERT INTO events", 1001, legacy},
		} {
			batch, err := s.Conn().PrepareBatch(ctx, tc.query)
			if err != nil {
				t.Fatalf("%s: prepare: %v", tc.query, err)
			}
			if err = batch.Append(tc.seq, r.id, r.version, r.name, r.label, r.value, r.note, r.createdAt); err == nil {
				err = batch.Send()
			} else {
				_ = batch.Abort()
			}
			switch {
			case tc.failing && (err == nil || !strings.Contains(err.Error(), "expected 0 arguments")):
				t.Errorf("%s on %s: got %v; the documented failure changed, revisit the package comment", tc.query, s.ServerVersion(), err)
			case !tc.failing && err != nil:
				t.Errorf("%s on %s: %v", tc.query, s.ServerVersion(), err)
			}
		}
		var n uint64
		if err := s.Conn().QueryRow(ctx, "SELECT count() FROM events WHERE seq >= 1000").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if want := map[bool]uint64{true: 1, false: 2}[legacy]; n != want {
			t.Errorf("%d rows inserted over native, want %d", n, want)
		}
	})

	t.Run("http", func(t *testing.T) {
		c := cfg
		c.Protocol, c.NativeAddr = chstore.ProtocolHTTP, ""
		s := open(t, c)
		if s.Legacy() != legacy || s.Protocol() != chstore.ProtocolHTTP {
			t.Errorf("legacy %v (want %v), protocol %s", s.Legacy(), legacy, s.Protocol())
		}
		var n uint64
		if err := s.Conn().QueryRow(ctx, "SELECT count() FROM events WHERE name = ? AND seq < 1000", eventNames[0]).Scan(&n); err != nil || n != 20 {
			t.Errorf("count = %d, %v; want 20", n, err)
		}
	})
}

func TestIntegrationEnsureDatabase(t *testing.T) {
	cfg := testDatabase(t) // created once already
	ctx := testContext(t)
	if err := chstore.EnsureDatabase(ctx, cfg, testLogger(t)); err != nil {
		t.Errorf("second EnsureDatabase: %v", err)
	}
	missing := cfg
	missing.Database = cfg.Database + "_missing"
	if _, err := chstore.Open(ctx, missing, testLogger(t)); err == nil || !strings.Contains(err.Error(), missing.Database) {
		t.Errorf("Open on a missing database: %v", err)
	}
}

// BenchmarkIntegrationBatchInsert sends batches of 200k event rows: auto is
// what the service uses (the shim over HTTP on 18.16), native is the
// native protocol with a column list, for comparison.
func BenchmarkIntegrationBatchInsert(b *testing.B) {
	const rowsPerBatch = 200_000
	rows := makeEvents(rowsPerBatch, 6)
	for _, protocol := range []string{chstore.ProtocolAuto, chstore.ProtocolNative} {
		b.Run(protocol, func(b *testing.B) {
			s := openStore(b, func(c *chstore.Config) { c.Protocol = protocol })
			ctx := testContext(b)
			if err := s.Conn().Exec(ctx, eventsDDL); err != nil {
				b.Fatal(err)
			}
			b.Logf("server %s, protocol %s, legacy shim %v", s.ServerVersion(), s.Protocol(), s.Legacy())
			batches := 0
			for b.Loop() {
				insertEvents(ctx, b, s, rows)
				batches++
			}
			b.ReportMetric(float64(batches*rowsPerBatch)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
