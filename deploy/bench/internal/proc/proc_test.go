package proc

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStatOfThisProcess(t *testing.T) {
	deadline := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(deadline) { // burn a little CPU so it shows
	}
	cpu, err := CPUTime(os.Getpid())
	if err != nil || cpu <= 0 {
		t.Errorf("CPUTime: %v, %v", cpu, err)
	}
	rss, err := PeakRSS(os.Getpid())
	if err != nil || rss < 1<<20 {
		t.Errorf("PeakRSS: %d, %v", rss, err)
	}
	u := NewMeter(map[string]int{"self": os.Getpid(), "gone": 1 << 30}).Stop()
	if _, ok := u["gone"]; ok || u["self"].PID != os.Getpid() {
		t.Errorf("meter: %+v; want this process only", u)
	}
}

func TestStartReportsEarlyExit(t *testing.T) {
	log := filepath.Join(t.TempDir(), "svc.log")
	_, err := Start(context.Background(), Spec{Name: "svc", Bin: "/bin/sh", Args: []string{"-c", "echo broken config >&2; exit 3"},
		Ready: "http://127.0.0.1:1/readyz", Log: log}, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "broken config") {
		t.Errorf("Start: %v; want the exit with the log's last lines", err)
	}
}

func TestStopGraceful(t *testing.T) {
	p, err := Start(context.Background(), Spec{Name: "svc", Bin: "/bin/sh", Args: []string{"-c", "trap 'exit 0' TERM; while :; do sleep 0.05; done"},
		Log: filepath.Join(t.TempDir(), "svc.log")}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the shell install its trap
	if err := p.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
}
