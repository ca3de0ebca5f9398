package report

import (
	"strings"
	"testing"
	"time"

	"github.com/eventtarget/eventtarget/deploy/bench/internal/profile"
	"github.com/eventtarget/eventtarget/deploy/bench/internal/stage"
)

func TestMarkdownListsProfiles(t *testing.T) {
	p := &profile.Summary{Process: "ingest", During: "single-event POST at saturation, run again", Seconds: 5, Samples: 400,
		CPU: 4 * time.Second, File: "ingest-x.pprof", PerSecond: 15340, Unit: "req/s",
		Cumulative: []profile.Entry{{Function: profile.Prefix + "ingest/internal/api.(*Handler).postEvent", Share: 0.29}},
		Flat: []profile.Entry{
			{Function: "internal/runtime/syscall/linux.Syscall6", Share: 0.21},
			{Function: "github.com/twmb/franz-go/pkg/kgo.(*Client).Produce", Share: 0.02},
		}}
	md := Markdown(Report{Machine: "test, 2 cores", Ingest: &stage.IngestResult{Profile: p}})
	for _, want := range []string{
		"## Profiles",
		"**ingest, during single-event POST at saturation, run again** (5 s, 400 samples, 4.0 s of CPU; 15340 req/s while profiled; `ingest-x.pprof`)",
		"| `ingest/internal/api.(*Handler).postEvent` | 29 % | `internal/runtime/syscall/linux.Syscall6` | 21 % |",
		"|  |  | `twmb/franz-go/pkg/kgo.(*Client).Produce` | 2 % |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if md := Markdown(Report{Machine: "test", Ingest: &stage.IngestResult{}}); strings.Contains(md, "## Profiles") {
		t.Errorf("a run without profiles has a Profiles section:\n%s", md)
	}
}
