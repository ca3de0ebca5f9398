// Package cli is the shared body of every command's main: run until SIGINT or
// SIGTERM, print the error and exit 1 on failure. Each command keeps its own
// run(ctx, args, getenv, stdout, stderr) so that tests can call it directly.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"
)

// Run is a command's body.
type Run func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// Main runs run with the process's arguments, environment and output, and a
// context cancelled by SIGINT or SIGTERM (graceful shutdown).
//
// "<command> healthcheck <url>" instead GETs url and exits 0 on a 200: the
// container images have no shell or curl, so this is their health check.
func Main(name string, run Run) {
	if len(os.Args) == 3 && os.Args[1] == "healthcheck" {
		if err := Healthcheck(os.Args[2]); err != nil {
			fmt.Fprintf(os.Stderr, "%s healthcheck: %v\n", name, err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// Healthcheck GETs url and fails unless it answers 200 within 3 seconds.
func Healthcheck(url string) error {
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}

// SetMemoryLimit sets the Go runtime's soft memory limit to mib MiB: near it
// the collector runs more often rather than let garbage grow as large as the
// live heap. The GOMEMLIMIT environment variable, when set, wins; 0 sets no
// limit.
func SetMemoryLimit(getenv func(string) string, mib int) {
	if getenv("GOMEMLIMIT") == "" && mib > 0 {
		debug.SetMemoryLimit(int64(mib) << 20)
	}
}
