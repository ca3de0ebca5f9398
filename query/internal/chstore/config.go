package chstore

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// The values of Config.Protocol.
const (
	// ProtocolAuto asks the server its version over HTTP, then uses the
	// native protocol on a current server and the compatibility shim over
	// HTTP on an 18.x/19.x one.
	ProtocolAuto = "auto"
	// ProtocolNative forces the native protocol (port 9000). On 18.16 batch
	// inserts need a column list and INSERT … VALUES via Exec hangs: see
	// the package comment.
	ProtocolNative = "native"
	// ProtocolHTTP forces HTTP (port 8123); the shim is still used when the
	// server is older than 20.
	ProtocolHTTP = "http"
)

// Config says where ClickHouse is and how to talk to it.
type Config struct {
	NativeAddr string // host:port of the native protocol, usually 9000
	HTTPAddr   string // host:port of the HTTP interface, usually 8123; no scheme
	Database   string
	User       string
	Password   string
	// DialTimeout bounds connecting; ReadTimeout bounds the wait for each
	// answer. A context deadline on a query still applies on top of them.
	DialTimeout time.Duration
	ReadTimeout time.Duration
	Protocol    string // ProtocolAuto (default), ProtocolNative or ProtocolHTTP
	// MaxOpenConns bounds the connections (native) or concurrent requests
	// (HTTP) the pool holds.
	MaxOpenConns int
}

// DefaultConfig suits a local server with the stock ports and user.
func DefaultConfig() Config {
	return Config{
		NativeAddr:   "127.0.0.1:9000",
		HTTPAddr:     "127.0.0.1:8123",
		Database:     "default",
		User:         "default",
		DialTimeout:  5 * time.Second,
		ReadTimeout:  60 * time.Second,
		Protocol:     ProtocolAuto,
		MaxOpenConns: 10,
	}
}

// Validate names the first bad field.
func (c Config) Validate() error {
	switch c.Protocol {
	case ProtocolAuto, ProtocolNative, ProtocolHTTP:
	default:
		return fmt.Errorf("Protocol %q: want %s, %s or %s", c.Protocol, ProtocolAuto, ProtocolNative, ProtocolHTTP)
	}
	// auto may end up on either protocol, so it needs both addresses.
	if c.Protocol != ProtocolHTTP {
		if err := validAddr(c.NativeAddr); err != nil {
			return fmt.Errorf("NativeAddr %q: %w", c.NativeAddr, err)
		}
	}
	if c.Protocol != ProtocolNative {
		if err := validAddr(c.HTTPAddr); err != nil {
			return fmt.Errorf("HTTPAddr %q: %w", c.HTTPAddr, err)
		}
	}
	switch {
	case c.Database == "":
		return errors.New("Database: must not be empty")
	case c.User == "":
		return errors.New("User: must not be empty")
	case c.DialTimeout <= 0:
		return fmt.Errorf("DialTimeout %v: want more than 0", c.DialTimeout)
	case c.ReadTimeout <= 0:
		return fmt.Errorf("ReadTimeout %v: want more than 0", c.ReadTimeout)
	case c.MaxOpenConns < 1:
		return fmt.Errorf("MaxOpenConns %d: want at least 1", c.MaxOpenConns)
	}
	return nil
}

func validAddr(addr string) error {
	if strings.Contains(addr, "://") {
		return errors.New("want host:port without a scheme")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want host:port")
	}
	if host == "" {
		return errors.New("want host:port, host is empty")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("port %q: want 1-65535", port)
	}
	return nil
}
