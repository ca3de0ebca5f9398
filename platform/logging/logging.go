// Package logging builds the structured slog logger every service uses.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Config selects the log format and level.
type Config struct {
	Format string // "json" or "text"
	Level  string // "debug", "info", "warn" or "error"
}

// Default logs JSON at info level: what log collectors expect.
func Default() Config { return Config{Format: "json", Level: "info"} }

// Validate names the bad setting.
func (c Config) Validate() error {
	if c.Format != "json" && c.Format != "text" {
		return fmt.Errorf("log-format %q: want json or text", c.Format)
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.Level)); err != nil {
		return fmt.Errorf("log-level %q: want debug, info, warn or error", c.Level)
	}
	return nil
}

// New returns a logger writing to w, tagged with the service name.
func New(c Config, service string, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(c.Level)))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if c.Format == "text" {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(h).With("service", service)
}
