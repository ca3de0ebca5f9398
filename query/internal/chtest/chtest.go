// Package chtest gives integration tests a real ClickHouse: the server the
// test command starts (ET_TEST_CLICKHOUSE_NATIVE, ET_TEST_CLICKHOUSE_HTTP),
// with a fresh database per test so tests never see each other's rows.
// ET_TEST_REQUIRE_CLICKHOUSE=1 turns a missing server into a failure.
package chtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/eventtarget/eventtarget/query/internal/chstore"
	"github.com/eventtarget/eventtarget/query/internal/store"
)

// Config returns the test server's settings with a unique database name, or
// skips the test when no server is configured.
func Config(t testing.TB) chstore.Config {
	t.Helper()
	native, httpAddr := os.Getenv("ET_TEST_CLICKHOUSE_NATIVE"), os.Getenv("ET_TEST_CLICKHOUSE_HTTP")
	if native == "" || httpAddr == "" {
		if os.Getenv("ET_TEST_REQUIRE_CLICKHOUSE") == "1" {
			t.Fatal("ET_TEST_REQUIRE_CLICKHOUSE=1 but ET_TEST_CLICKHOUSE_NATIVE/ET_TEST_CLICKHOUSE_HTTP are not set")
		}
		t.Skip("ET_TEST_CLICKHOUSE_NATIVE / ET_TEST_CLICKHOUSE_HTTP not set: no ClickHouse to test against (make test starts one)")
	}
	cfg := chstore.DefaultConfig()
	cfg.NativeAddr = native
	cfg.HTTPAddr = strings.TrimPrefix(strings.TrimPrefix(httpAddr, "http://"), "https://")
	var r [4]byte
	_, _ = rand.Read(r[:])
	cfg.Database = "it_" + hex.EncodeToString(r[:])
	return cfg
}

// Quiet is a logger that drops everything.
func Quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Open connects to a fresh, migrated database that is dropped after the test.
func Open(t testing.TB) (*chstore.Store, *store.Store, chstore.Config) {
	t.Helper()
	cfg := Config(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := chstore.EnsureDatabase(ctx, cfg, Quiet()); err != nil {
		t.Fatal(err)
	}
	ch, err := chstore.Open(ctx, cfg, Quiet())
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx, ch.Conn(), Quiet()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = ch.Conn().Exec(ctx, "DROP DATABASE IF EXISTS "+cfg.Database)
		_ = ch.Close()
	})
	return ch, store.New(ch.Conn()), cfg
}

// Server is a ClickHouse server owned by one test, for tests that stop and
// start it: started with deploy/testenv/clickhouse.sh on its own ports and
// data folder, stopped at the end.
type Server struct {
	script string
	env    []string
	Config chstore.Config
}

// StartServer starts a private server. It needs the same machine setup as
// the shared one (make test installs ClickHouse).
func StartServer(t testing.TB, tcpPort, httpPort string) *Server {
	t.Helper()
	if os.Getenv("ET_TEST_CLICKHOUSE_NATIVE") == "" && os.Getenv("ET_TEST_REQUIRE_CLICKHOUSE") != "1" {
		t.Skip("no ClickHouse test setup (make test provides one)")
	}
	_, file, _, _ := runtime.Caller(0)
	s := &Server{
		script: filepath.Join(filepath.Dir(file), "..", "..", "..", "deploy", "testenv", "clickhouse.sh"),
		env: append(os.Environ(), "ET_TESTENV_DIR="+t.TempDir(),
			"ET_TEST_CLICKHOUSE_TCP_PORT="+tcpPort, "ET_TEST_CLICKHOUSE_HTTP_PORT="+httpPort),
	}
	s.Config = chstore.DefaultConfig()
	s.Config.NativeAddr, s.Config.HTTPAddr = "127.0.0.1:"+tcpPort, "127.0.0.1:"+httpPort
	s.run(t, "start")
	t.Cleanup(func() { s.run(t, "stop") })
	return s
}

// Kill stops the server at once, as a crash would (a graceful stop keeps
// serving while it drains, for seconds).
func (s *Server) Kill(t testing.TB) { s.run(t, "kill") }

// Restart starts the stopped server on its existing data.
func (s *Server) Restart(t testing.TB) { s.run(t, "start", "ET_TEST_CLICKHOUSE_KEEP_DATA=1") }

func (s *Server) run(t testing.TB, cmd string, env ...string) {
	t.Helper()
	c := exec.Command(s.script, cmd)
	c.Env = append(append([]string{}, s.env...), env...)
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("clickhouse.sh %s: %v\n%s", cmd, err, out)
	}
}
