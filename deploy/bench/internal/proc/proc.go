// Package proc runs the pipeline's services as OS processes, the way they
// run in production, and reads what they cost (CPU time, peak RSS) from
// /proc. The load tool starts each stage's services with it.
package proc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Spec says how to run one service.
type Spec struct {
	Name  string
	Bin   string
	Args  []string
	Env   []string // added to the load tool's own environment
	Ready string   // URL answering 200 once the service is ready; "" to skip
	Log   string   // file receiving stdout and stderr
}

// Proc is a running service.
type Proc struct {
	Spec
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start launches the service and waits, up to timeout, for its Ready URL.
// A service that exits first is an error carrying its log's last lines.
func Start(ctx context.Context, s Spec, timeout time.Duration) (*Proc, error) {
	f, err := os.OpenFile(s.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p := &Proc{Spec: s, done: make(chan struct{})}
	p.cmd = exec.Command(s.Bin, s.Args...)
	p.cmd.Env = append(os.Environ(), s.Env...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	// Should the load tool die, its services die with it rather than hold
	// their ports for the next run.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.Name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	if s.Ready == "" {
		return p, nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if ready(ctx, s.Ready) {
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited before it was ready (%v); last log lines:\n%s", s.Name, p.err, p.Tail(20))
		case <-ctx.Done():
			_ = p.Stop()
			return nil, fmt.Errorf("%s not ready at %s after %v; last log lines:\n%s", s.Name, s.Ready, timeout, p.Tail(20))
		case <-tick.C:
		}
	}
}

func ready(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Stop asks the service to stop (SIGTERM), waits up to 30 s for a graceful
// exit, then kills it. A non-zero exit after SIGTERM is an error.
func (p *Proc) Stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within 30 s of SIGTERM", p.Name)
	}
	var exit *exec.ExitError
	if errors.As(p.err, &exit) {
		return fmt.Errorf("%s exited with %v; last log lines:\n%s", p.Name, p.err, p.Tail(20))
	}
	return nil
}

// Tail returns the last n lines of the service's log.
func (p *Proc) Tail(n int) string {
	b, _ := os.ReadFile(p.Log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
