package clickhouse_test

import (
	"strings"
	"testing"

	"github.com/eventtarget/eventtarget/schemas/clickhouse"
)

func TestMigrationsParse(t *testing.T) {
	ms, err := clickhouse.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].Version != 1 || ms[0].Name != "events" {
		t.Fatalf("migrations %+v", ms)
	}
	for i, m := range ms {
		if i > 0 && m.Version <= ms[i-1].Version {
			t.Errorf("migration %d out of order", m.Version)
		}
		for _, s := range m.Statements {
			if strings.HasSuffix(s, ";") || strings.Contains(s, "\n--") {
				t.Errorf("migration %d: statement not clean: %q", m.Version, s)
			}
			if !strings.Contains(s, "IF NOT EXISTS") && !strings.HasPrefix(s, "INSERT INTO events_geo\n") {
				t.Errorf("migration %d: statement is not idempotent: %q", m.Version, s)
			}
		}
	}
	if n := len(ms[0].Statements); n != 2 {
		t.Errorf("0001 has %d statements, want 2 (table, view)", n)
	}
	if len(ms) < 2 || len(ms[1].Statements) != 3 || !strings.HasPrefix(ms[1].Statements[2], "INSERT INTO events_geo") {
		t.Errorf("0002 should create events_geo, its view, then backfill: %+v", ms[1:])
	}
}
