package chstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/eventtarget/eventtarget/query/internal/chstore"
)

func TestDefaultConfig(t *testing.T) {
	c := chstore.DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.NativeAddr != "127.0.0.1:9000" || c.HTTPAddr != "127.0.0.1:8123" || c.Database != "default" ||
		c.User != "default" || c.Protocol != chstore.ProtocolAuto {
		t.Errorf("unexpected defaults: %+v", c)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		field  string
		modify func(*chstore.Config)
	}{
		{"Protocol", func(c *chstore.Config) { c.Protocol = "grpc" }},
		{"Protocol", func(c *chstore.Config) { c.Protocol = "" }},
		{"NativeAddr", func(c *chstore.Config) { c.NativeAddr = "" }},
		{"NativeAddr", func(c *chstore.Config) { c.NativeAddr = "localhost" }},
		{"NativeAddr", func(c *chstore.Config) { c.NativeAddr = "localhost:0" }},
		{"HTTPAddr", func(c *chstore.Config) { c.HTTPAddr = "http://127.0.0.1:8123" }},
		{"HTTPAddr", func(c *chstore.Config) { c.HTTPAddr = ":8123" }},
		{"HTTPAddr", func(c *chstore.Config) { c.Protocol = chstore.ProtocolHTTP; c.HTTPAddr = "" }},
		{"Database", func(c *chstore.Config) { c.Database = "" }},
		{"User", func(c *chstore.Config) { c.User = "" }},
		{"DialTimeout", func(c *chstore.Config) { c.DialTimeout = 0 }},
		{"ReadTimeout", func(c *chstore.Config) { c.ReadTimeout = -time.Second }},
		{"MaxOpenConns", func(c *chstore.Config) { c.MaxOpenConns = 0 }},
	} {
		c := chstore.DefaultConfig()
		tc.modify(&c)
		err := c.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tc.field) {
			t.Errorf("%+v: got %v, want an error naming %s", c, err, tc.field)
		}
	}
}

func TestValidateNeedsOnlyTheAddressInUse(t *testing.T) {
	c := chstore.DefaultConfig()
	c.Protocol, c.HTTPAddr = chstore.ProtocolNative, ""
	if err := c.Validate(); err != nil {
		t.Errorf("native without HTTPAddr: %v", err)
	}
	c = chstore.DefaultConfig()
	c.Protocol, c.NativeAddr = chstore.ProtocolHTTP, ""
	if err := c.Validate(); err != nil {
		t.Errorf("http without NativeAddr: %v", err)
	}
}

func TestOpenRejectsInvalidConfig(t *testing.T) {
	c := chstore.DefaultConfig()
	c.MaxOpenConns = 0
	if _, err := chstore.Open(context.Background(), c, nil); err == nil || !strings.Contains(err.Error(), "MaxOpenConns") {
		t.Errorf("got %v", err)
	}
}
