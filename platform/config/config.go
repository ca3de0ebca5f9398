// Package config reads service settings from flags and environment variables.
//
// Every flag has a matching variable: flag -kafka-brokers of a service with
// prefix INGEST reads INGEST_KAFKA_BROKERS. Flags win over the environment, so
// a one-off override on the command line needs no unsetting.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"strings"
)

// EnvName is the environment variable that feeds the flag name.
func EnvName(prefix, flagName string) string {
	return prefix + "_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse sets every flag of fs from its environment variable, then from args.
// Usage text names the variable beside each flag. An error names the variable
// or flag that failed.
func Parse(fs *flag.FlagSet, prefix string, args []string, getenv func(string) string) error {
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		env := EnvName(prefix, f.Name)
		f.Usage = fmt.Sprintf("%s (env %s)", f.Usage, env)
		if v := getenv(env); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("environment variable %s=%q: %w", env, v, err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return fs.Parse(args)
}

// StringList is a comma-separated flag value.
type StringList []string

func (l *StringList) String() string { return strings.Join(*l, ",") }

// Set replaces the list; empty items are dropped.
func (l *StringList) Set(s string) error {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	*l = out
	return nil
}

// PrefixList is a comma-separated list of CIDR prefixes; a bare address is
// taken as a single-host prefix.
type PrefixList []netip.Prefix

func (l *PrefixList) String() string {
	parts := make([]string, len(*l))
	for i, p := range *l {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}

// Set replaces the list, failing on the first entry that is not a CIDR or an
// address. "none" empties the list (an empty environment variable means unset).
func (l *PrefixList) Set(s string) error {
	var out []netip.Prefix
	if strings.TrimSpace(s) == "none" {
		*l = nil
		return nil
	}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		p, err := ParsePrefix(item)
		if err != nil {
			return err
		}
		out = append(out, p)
	}
	*l = out
	return nil
}

// ParsePrefix parses "10.0.0.0/8" or a bare address such as "::1".
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR prefix: %w", s, err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither a CIDR prefix nor an IP address", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
