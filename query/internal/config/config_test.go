package config_test

import (
	"io"
	"strings"
	"testing"

	"github.com/eventtarget/eventtarget/query/internal/config"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsAreValid(t *testing.T) {
	q, err := config.LoadQuery(nil, env(nil), io.Discard)
	if err != nil || q.DefaultPageSize != 10 || q.MaxPageSize != 1000 {
		t.Fatalf("query defaults %+v %v", q, err)
	}
	l, err := config.LoadLoader(nil, env(nil), io.Discard)
	if err != nil || l.Kafka.BatchRows != 10_000 || l.Kafka.RawTopic != "events.raw" {
		t.Fatalf("loader defaults %+v %v", l, err)
	}
}

func TestValidationNamesTheSetting(t *testing.T) {
	for setting, value := range map[string]string{
		"QUERY_MAX_PAGE_SIZE":          "0",
		"QUERY_PAGE_SIZE":              "5000",
		"QUERY_QUERY_TIMEOUT":          "0s",
		"QUERY_CLICKHOUSE_PROTOCOL":    "grpc",
		"QUERY_CLICKHOUSE_HTTP_ADDR":   "http://x:8123",
		"QUERY_CLICKHOUSE_NATIVE_ADDR": "nohost",
	} {
		_, err := config.LoadQuery(nil, env(map[string]string{setting: value}), io.Discard)
		if err == nil {
			t.Errorf("%s=%s accepted", setting, value)
		}
	}
	for setting, value := range map[string]string{
		"LOADER_BATCH_ROWS": "0", "LOADER_BATCH_LINGER": "0s", "LOADER_ENRICHED_TOPIC": "events.raw", "LOADER_MAX_BACKOFF": "1ms",
		"LOADER_MEMORY_LIMIT_MIB": "-1",
	} {
		_, err := config.LoadLoader(nil, env(map[string]string{setting: value}), io.Discard)
		name := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(setting, "LOADER_")), "_", "-")
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: %v (want it named)", setting, value, err)
		}
	}
}
