// Package clickhouse holds the ClickHouse schema as numbered migrations,
// applied in order at start-up by the query service and the loader. A file
// may hold several statements separated by semicolons at line ends. Every
// statement must be idempotent (IF NOT EXISTS): two services may start at once.
package clickhouse

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var files embed.FS

// Migration is one numbered schema step.
type Migration struct {
	Version    uint32
	Name       string
	Statements []string
}

// Migrations returns every migration in version order.
func Migrations() ([]Migration, error) {
	names, err := fs.Glob(files, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []Migration
	seen := map[uint32]string{}
	for _, path := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(path, "migrations/"), ".sql")
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.ParseUint(num, 10, 32)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: want NNNN_name.sql", path)
		}
		if prev, dup := seen[uint32(v)]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, path, v)
		}
		seen[uint32(v)] = path
		body, err := files.ReadFile(path)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: uint32(v), Name: name, Statements: splitStatements(string(body))})
	}
	return out, nil
}

// splitStatements splits on semicolons that end a line, dropping comment
// lines; statements hold no semicolons inside string literals.
func splitStatements(sql string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(sql, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") || trimmed == "" {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			stmt := strings.TrimSuffix(strings.TrimSpace(cur.String()), ";")
			out = append(out, stmt)
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}
