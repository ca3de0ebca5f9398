package stage

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/eventtarget/eventtarget/deploy/bench/internal/profile"
)

// profiling is one CPU profile a stage takes of a service while it loads
// it (stages run a phase again for it, after their measurements): the
// service listens for pprof on port, the profile lasts d. The zero value, or
// an Env without a Profiles folder, takes none.
type profiling struct {
	port   int
	d      time.Duration
	during string // the phase profiled, for the report
}

func (pr profiling) on(e Env) bool { return e.Profiles != "" && pr.port != 0 }

// env is the service's setting that turns its pprof listener on.
func (pr profiling) env(e Env) []string {
	if !pr.on(e) {
		return nil
	}
	return []string{"PPROF_ADDR=" + local(pr.port)}
}

// start begins the profile of service name; nil when profiling is off.
func (pr profiling) start(ctx context.Context, e Env, name string) *profile.Capture {
	if !pr.on(e) {
		return nil
	}
	file := filepath.Join(e.Profiles, fmt.Sprintf("%s-%s.pprof", name, e.Run))
	return profile.Start(ctx, name, pr.during, local(pr.port), pr.d, file)
}

// finish waits for a profile begun by start; the service must still run.
func finish(c *profile.Capture) (*profile.Summary, error) {
	if c == nil {
		return nil, nil
	}
	s, err := c.Wait()
	if err != nil {
		return nil, err
	}
	return &s, nil
}
