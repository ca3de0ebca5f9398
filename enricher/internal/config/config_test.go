package config_test

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/eventtarget/eventtarget/enricher/internal/config"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsAreValid(t *testing.T) {
	cfg, err := config.Load("enricher", nil, env(nil), io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RawTopic != "events.raw" || cfg.EnrichedTopic != "events.enriched" || cfg.DLQTopic != "events.dlq" || cfg.EnrichmentVersion != 1 {
		t.Errorf("defaults %+v", cfg)
	}
}

func TestEnvironment(t *testing.T) {
	cfg, err := config.Load("enricher", nil, env(map[string]string{
		"ENRICHER_GEO_API": "geoip-api", "ENRICHER_GEO_API_URL": "http://geo:8080", "ENRICHER_MMDB_PATHS": "a.mmdb, b.mmdb",
		"ENRICHER_INSTANCE_ID": "none", "ENRICHER_CACHE_TTL": "1h",
	}), io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Remote.Format != "geoip-api" || cfg.Remote.BaseURL != "http://geo:8080" || len(cfg.MMDB.Paths) != 2 || cfg.InstanceID != "" || cfg.CacheTTL != time.Hour {
		t.Errorf("got %+v", cfg)
	}
}

func TestValidationNamesTheSetting(t *testing.T) {
	for setting, value := range map[string]string{
		"ENRICHER_GEO_API":             "maxmind-web",
		"ENRICHER_GEO_API_URL":         "not a url",
		"ENRICHER_ENRICHMENT_VERSION":  "0",
		"ENRICHER_TRANSACTION_TIMEOUT": "20s", // shorter than a lookup may take
		"ENRICHER_MAX_BATCH":           "0",
		"ENRICHER_ENRICHED_TOPIC":      "events.raw",
		"ENRICHER_CACHE_SIZE":          "0",
		"ENRICHER_GC_PERCENT":          "0",
		"ENRICHER_LOG_LEVEL":           "loud",
	} {
		_, err := config.Load("enricher", nil, env(map[string]string{setting: value}), io.Discard, nil)
		if err == nil {
			t.Errorf("%s=%s accepted", setting, value)
			continue
		}
		words := strings.Split(strings.ToLower(strings.TrimPrefix(setting, "ENRICHER_")), "_")
		if !strings.Contains(err.Error(), words[len(words)-1]) {
			t.Errorf("%s=%s: error %q does not name the setting", setting, value, err)
		}
	}
}
