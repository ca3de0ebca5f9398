package config_test

import (
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/eventtarget/eventtarget/ingest/internal/config"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsAreValid(t *testing.T) {
	cfg, err := config.Load(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Kafka.Topic != "events.raw" || cfg.Limits.MaxBatchEvents != 1000 || cfg.Limits.MaxBodyBytes != 1<<20 ||
		cfg.Limits.MaxBatchBytes != 10<<20 || cfg.Limits.MaxNameLength != 256 || len(cfg.TrustedProxies) != 6 {
		t.Errorf("unexpected defaults: %+v", cfg)
	}
}

func TestEnvironmentAndFlags(t *testing.T) {
	cfg, err := config.Load([]string{"-max-batch-events", "50"}, env(map[string]string{
		"INGEST_KAFKA_BROKERS":    "k1:9092,k2:9092",
		"INGEST_PRODUCE_TIMEOUT":  "750ms",
		"INGEST_TRUSTED_PROXIES":  "none",
		"INGEST_MAX_BATCH_EVENTS": "10",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Kafka.Brokers) != 2 || cfg.Kafka.Timeout != 750*time.Millisecond || cfg.TrustedProxies != nil || cfg.Limits.MaxBatchEvents != 50 {
		t.Errorf("got %+v", cfg)
	}
	cfg, err = config.Load(nil, env(map[string]string{"INGEST_TRUSTED_PROXIES": "10.1.0.0/16"}), io.Discard)
	if err != nil || len(cfg.TrustedProxies) != 1 || cfg.TrustedProxies[0] != netip.MustParsePrefix("10.1.0.0/16") {
		t.Errorf("trusted proxies %v %v", cfg.TrustedProxies, err)
	}
}

func TestValidationNamesTheSetting(t *testing.T) {
	for setting, value := range map[string]string{
		"INGEST_MAX_BATCH_EVENTS":     "0",
		"INGEST_PRODUCER_COMPRESSION": "brotli",
		"INGEST_RAW_TOPIC_PARTITIONS": "0",
		"INGEST_PRODUCE_TIMEOUT":      "1ms",
		"INGEST_MAX_BODY_BYTES":       "10",
		"INGEST_LOG_FORMAT":           "xml",
		"INGEST_TRUSTED_PROXIES":      "10.0.0.0/99",
		"INGEST_RETRY_AFTER":          "100ms",
	} {
		_, err := config.Load(nil, env(map[string]string{setting: value}), io.Discard)
		if err == nil {
			t.Errorf("%s=%s accepted", setting, value)
			continue
		}
		flagName := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(setting, "INGEST_"), "_", "-"))
		if !strings.Contains(err.Error(), flagName) && !strings.Contains(err.Error(), setting) {
			t.Errorf("%s=%s: error %q does not name the setting", setting, value, err)
		}
	}
}
