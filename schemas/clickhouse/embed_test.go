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
			if !strings.Contains(s, "IF NOT EXISTS") {
				t.Errorf("migration %d: statement is not idempotent: %q", m.Version, s)
			}
		}
	}
	if n := len(ms[0].Statements); n != 2 {
		t.Errorf("0001 has %d statements, want 2 (table, view)", n)
	}
}
