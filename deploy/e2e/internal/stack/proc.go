package stack

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// Proc is one service running as its own OS process, as in production.
type Proc struct {
	Name   string
	bin    string
	args   []string
	env    []string
	health string // URL answering 200 when ready; "" to skip
	log    string
	cmd    *exec.Cmd
}

// Start launches the process and waits until its health URL answers 200.
func (p *Proc) Start(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(p.bin, p.args...)
	p.cmd.Env = append(os.Environ(), p.env...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.Name, err)
	}
	f.Close()
	if p.health != "" {
		waitHealthy(t, p.Name, p.health, 90*time.Second)
	}
}

// Kill ends the process with SIGKILL: no clean shutdown of any kind.
func (p *Proc) Kill(t testing.TB) {
	t.Helper()
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
	p.cmd = nil
}

// Stop sends SIGTERM and reports a non-zero exit or a hang as test errors:
// every service must shut down cleanly.
func (p *Proc) Stop(t testing.TB) {
	t.Helper()
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%s exited with %v after SIGTERM (log %s)", p.Name, err, p.log)
		}
	case <-time.After(40 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
		t.Errorf("%s did not stop within 40 s of SIGTERM", p.Name)
	}
	p.cmd = nil
}

func waitHealthy(t testing.TB, name, url string, timeout time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not ready at %s after %v: %s", name, url, timeout, last)
}

func itoa(i int) string { return fmt.Sprint(i) }
