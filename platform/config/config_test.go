package config_test

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/eventtarget/eventtarget/platform/config"
)

func TestParseEnvThenFlags(t *testing.T) {
	env := map[string]string{"SVC_KAFKA_BROKERS": "a:1, b:2", "SVC_TIMEOUT": "3s", "SVC_NAME": "from-env"}
	fs := flag.NewFlagSet("svc", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var brokers config.StringList
	fs.Var(&brokers, "kafka-brokers", "brokers")
	timeout := fs.Duration("timeout", time.Second, "timeout")
	name := fs.String("name", "default", "name")
	if err := config.Parse(fs, "SVC", []string{"-name", "from-flag"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if got := brokers.String(); got != "a:1,b:2" {
		t.Errorf("brokers = %q", got)
	}
	if *timeout != 3*time.Second {
		t.Errorf("timeout = %v", *timeout)
	}
	if *name != "from-flag" {
		t.Errorf("flag should win over env, name = %q", *name)
	}
}

func TestParseNamesTheBadVariable(t *testing.T) {
	fs := flag.NewFlagSet("svc", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Duration("produce-timeout", time.Second, "")
	err := config.Parse(fs, "INGEST", nil, func(k string) string {
		if k == "INGEST_PRODUCE_TIMEOUT" {
			return "soon"
		}
		return ""
	})
	if err == nil || !strings.Contains(err.Error(), "INGEST_PRODUCE_TIMEOUT") {
		t.Fatalf("error should name the variable, got %v", err)
	}
}

func TestPrefixList(t *testing.T) {
	var l config.PrefixList
	if err := l.Set("10.1.2.3/8, ::1,192.168.0.1"); err != nil {
		t.Fatal(err)
	}
	if got, want := l.String(), "10.0.0.0/8,::1/128,192.168.0.1/32"; got != want {
		t.Errorf("got %q want %q", got, want)
	}
	for _, bad := range []string{"10.0.0.0/33", "not-an-ip", "1.2.3"} {
		if err := l.Set(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
