// Package chstore gives the query service its ClickHouse connection: a
// clickhouse-go v2 driver.Conn that works against current servers (24.x/25.x,
// production) and against Debian's 18.16.1 (tests, local run).
//
// On a current server the connection is plain clickhouse-go over the native
// protocol. On a server older than 20 it is clickhouse-go over HTTP through
// a small request-rewriting RoundTripper (legacy.go). There, clickhouse-go
// v2.51's native protocol reads, runs DDL and INSERT … SELECT, and takes
// batch inserts that name their columns, but a batch without a column list
// fails ("expected 0 arguments, got N": 18.16 answers INSERT INTO t FORMAT
// Native with an empty header block) and INSERT … VALUES via Exec hangs
// until the context ends. Its HTTP protocol does all of these once three
// requests are rewritten.
// Everything about old servers stays in this package: callers get a
// driver.Conn and write SQL both versions accept.
package chstore

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// legacyBefore is the first major version spoken to without the shim.
// 18.x and 19.x lack client_protocol_version, displayName(), revision() and
// the 7-column DESCRIBE that clickhouse-go v2.51's HTTP protocol relies on.
const legacyBefore = 20

// Store is an open connection pool.
type Store struct {
	conn     driver.Conn
	version  string
	protocol string
	legacy   bool
}

// Conn is the clickhouse-go connection pool; safe for concurrent use.
func (s *Store) Conn() driver.Conn { return s.conn }

// ServerVersion is the version the server reports, e.g. "18.16.1" or
// "24.8.4.13".
func (s *Store) ServerVersion() string { return s.version }

// Protocol is the protocol in use: ProtocolNative or ProtocolHTTP.
func (s *Store) Protocol() string { return s.protocol }

// Legacy reports whether requests pass through the compatibility shim for
// servers older than 20.
func (s *Store) Legacy() bool { return s.legacy }

// Close closes the pool's connections.
func (s *Store) Close() error { return s.conn.Close() }

// Open connects to the configured database and checks that the server
// answers. In ProtocolAuto and ProtocolHTTP it first asks the server its
// version over HTTP, which decides protocol and shim; see the package
// comment. The database must exist: see EnsureDatabase.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("clickhouse settings: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{protocol: cfg.Protocol}
	if cfg.Protocol != ProtocolNative {
		v, err := probeVersion(ctx, cfg)
		if err != nil {
			return nil, err
		}
		major, err := majorVersion(v)
		if err != nil {
			return nil, fmt.Errorf("clickhouse at %s: %w", cfg.HTTPAddr, err)
		}
		s.version, s.legacy = v, major < legacyBefore
		if cfg.Protocol == ProtocolAuto {
			s.protocol = ProtocolNative
			if s.legacy {
				s.protocol = ProtocolHTTP
			}
		}
	}

	conn, err := clickhouse.Open(options(cfg, s.protocol, s.legacy, log))
	if err != nil {
		return nil, fmt.Errorf("clickhouse %s client: %w", s.protocol, err)
	}
	addr := cfg.NativeAddr
	if s.protocol == ProtocolHTTP {
		addr = cfg.HTTPAddr
	}
	// clickhouse-go connects lazily: ping so that a wrong address, user or
	// database fails here rather than on the first query.
	if err := conn.Ping(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("clickhouse %s at %s, database %q: %w", s.protocol, addr, cfg.Database, err)
	}
	if s.version == "" {
		sv, err := conn.ServerVersion()
		if err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("clickhouse %s at %s: server version: %w", s.protocol, addr, err)
		}
		s.version = sv.Version.String()
	}
	s.conn = conn
	log.Info("clickhouse connected", slog.String("addr", addr), slog.String("protocol", s.protocol),
		slog.String("server_version", s.version), slog.Bool("legacy_shim", s.legacy), slog.String("database", cfg.Database))
	return s, nil
}

// EnsureDatabase creates cfg.Database if it does not exist. It connects to
// the database "default" to do so, since Open fails on a missing database.
func EnsureDatabase(ctx context.Context, cfg Config, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("clickhouse settings: %w", err)
	}
	admin := cfg
	admin.Database = "default"
	admin.MaxOpenConns = 1
	s, err := Open(ctx, admin, log)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+quoteIdent(cfg.Database)); err != nil {
		return fmt.Errorf("create database %q: %w", cfg.Database, err)
	}
	return nil
}

func options(cfg Config, protocol string, legacy bool, log *slog.Logger) *clickhouse.Options {
	opts := &clickhouse.Options{
		Auth:         clickhouse.Auth{Database: cfg.Database, Username: cfg.User, Password: cfg.Password},
		DialTimeout:  cfg.DialTimeout,
		ReadTimeout:  cfg.ReadTimeout,
		MaxOpenConns: cfg.MaxOpenConns,
		MaxIdleConns: cfg.MaxOpenConns,
		Logger:       log.With(slog.String("component", "clickhouse-go")),
	}
	switch protocol {
	case ProtocolHTTP:
		opts.Protocol = clickhouse.HTTP
		opts.Addr = []string{cfg.HTTPAddr}
		// No compression over HTTP: the shim reads and rewrites plain bodies,
		// and the two kinds of server should be talked to alike.
		if legacy {
			opts.TransportFunc = func(t *http.Transport) (http.RoundTripper, error) {
				return newLegacyTransport(t), nil
			}
		}
	default:
		opts.Protocol = clickhouse.Native
		opts.Addr = []string{cfg.NativeAddr}
		// LZ4 block compression is what clickhouse-client uses: cheap on
		// CPU, and result sets of repetitive event rows shrink a lot.
		opts.Compression = &clickhouse.Compression{Method: clickhouse.CompressionLZ4}
	}
	return opts
}

// probeVersion asks the server its version over plain HTTP, which every
// ClickHouse release answers the same way.
func probeVersion(ctx context.Context, cfg Config) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout+cfg.ReadTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+cfg.HTTPAddr+"/?query=SELECT%20version()", nil)
	if err != nil {
		return "", fmt.Errorf("clickhouse version probe: %w", err)
	}
	req.SetBasicAuth(cfg.User, cfg.Password)
	// One request: no keep-alive, so no idle connection (and goroutines)
	// outlives it.
	transport := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: cfg.DialTimeout}).DialContext,
		ResponseHeaderTimeout: cfg.ReadTimeout,
		DisableKeepAlives:     true,
	}
	res, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		return "", fmt.Errorf("clickhouse version probe at %s (HTTPAddr; use Protocol %q to skip it): %w",
			cfg.HTTPAddr, ProtocolNative, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 4<<10))
	if err != nil {
		return "", fmt.Errorf("clickhouse version probe at %s: read answer: %w", cfg.HTTPAddr, err)
	}
	text := strings.TrimSpace(string(body))
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("clickhouse version probe at %s: HTTP %d: %s", cfg.HTTPAddr, res.StatusCode, text)
	}
	return text, nil
}

func majorVersion(v string) (int, error) {
	major, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(major)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("server version %q: not a ClickHouse version", v)
	}
	return n, nil
}

// quoteIdent back-quotes a name for DDL; both 18.16 and current servers
// read backslash escapes inside back quotes.
func quoteIdent(name string) string {
	return "`" + strings.NewReplacer(`\`, `\\`, "`", "\\`").Replace(name) + "`"
}
