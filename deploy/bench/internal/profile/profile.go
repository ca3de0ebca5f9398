// Package profile takes a CPU profile of a running service through its
// net/http/pprof listener while a stage loads it, keeps the profile file
// for `go tool pprof`, and summarises where the time went for the report:
// the functions with the largest share of the samples, by their own time
// (flat) and with what they call (cumulative).
package profile

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/pprof/profile"
)

// Summary is one profile, condensed.
type Summary struct {
	Process string        `json:"process"`
	During  string        `json:"during"` // the phase the profile covers
	Seconds float64       `json:"seconds"`
	Samples int64         `json:"samples"`
	CPU     time.Duration `json:"cpu_ns"` // CPU time the samples stand for
	File    string        `json:"file"`   // the .pprof file's name, for go tool pprof
	// PerSecond is the rate the service kept while profiled, in Unit, set
	// by the caller: against the rate without the profiler it shows the
	// profiler's own cost.
	PerSecond float64 `json:"per_second,omitempty"`
	Unit      string  `json:"unit,omitempty"`
	// Cumulative are the largest functions of our own modules (Prefix),
	// with everything they call; Flat the largest functions of any module
	// by their own time.
	Cumulative []Entry `json:"cumulative"`
	Flat       []Entry `json:"flat"`
}

// Entry is one function's share of the profile's CPU time.
type Entry struct {
	Function string  `json:"function"`
	Share    float64 `json:"share"` // 0 to 1
}

// Prefix marks the functions of our own modules.
const Prefix = "github.com/eventtarget/eventtarget/"

// Capture is a profile being taken.
type Capture struct {
	done chan struct{}
	sum  Summary
	err  error
}

// Start asks the pprof listener at addr (host:port) for a CPU profile of
// d, in the background, and writes it to file. The service must keep
// running until Wait returns.
func Start(ctx context.Context, process, during, addr string, d time.Duration, file string) *Capture {
	c := &Capture{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.sum, c.err = take(ctx, addr, d, file)
		c.sum.Process, c.sum.During = process, during
	}()
	return c
}

// Wait returns the summary once the profile is in.
func (c *Capture) Wait() (Summary, error) {
	<-c.done
	return c.sum, c.err
}

func take(ctx context.Context, addr string, d time.Duration, file string) (Summary, error) {
	secs := max(1, int(d.Round(time.Second)/time.Second))
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Summary{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Summary{}, fmt.Errorf("profile %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Summary{}, fmt.Errorf("profile %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return Summary{}, fmt.Errorf("profile %s: %d %s", url, resp.StatusCode, bytes.TrimSpace(body))
	}
	if err := os.WriteFile(file, body, 0o644); err != nil {
		return Summary{}, err
	}
	p, err := profile.Parse(bytes.NewReader(body))
	if err != nil {
		return Summary{}, fmt.Errorf("profile %s: %w", url, err)
	}
	s := Summarize(p, 10)
	s.Seconds, s.File = float64(secs), filepath.Base(file)
	return s, nil
}

// Summarize finds the n largest functions of p by cumulative time (our
// modules only) and by flat time (any function).
func Summarize(p *profile.Profile, n int) Summary {
	// CPU profiles hold two values per sample: [samples/count, cpu/nanoseconds].
	vi, ci := len(p.SampleType)-1, -1
	for i, t := range p.SampleType {
		switch t.Type {
		case "cpu":
			vi = i
		case "samples":
			ci = i
		}
	}
	var s Summary
	var total int64
	flat, cum := map[string]int64{}, map[string]int64{}
	for _, smp := range p.Sample {
		if vi < 0 || vi >= len(smp.Value) || ci >= len(smp.Value) {
			continue
		}
		v := smp.Value[vi]
		total += v
		if ci >= 0 {
			s.Samples += smp.Value[ci]
		} else {
			s.Samples++
		}
		// Location 0 is the leaf; inlined functions share a location, the
		// innermost first. A recursive function counts once per sample.
		seen := map[string]bool{}
		for li, loc := range smp.Location {
			for ii, line := range loc.Line {
				if line.Function == nil {
					continue
				}
				name := line.Function.Name
				if li == 0 && ii == 0 {
					flat[name] += v
				}
				if !seen[name] {
					seen[name] = true
					cum[name] += v
				}
			}
		}
	}
	if vi >= 0 && p.SampleType[vi].Unit == "nanoseconds" {
		s.CPU = time.Duration(total)
	}
	s.Flat = top(flat, total, n, func(string) bool { return true })
	s.Cumulative = top(cum, total, n, func(f string) bool { return strings.HasPrefix(f, Prefix) })
	return s
}

func top(by map[string]int64, total int64, n int, keep func(string) bool) []Entry {
	if total <= 0 {
		return nil
	}
	var out []Entry
	for f, v := range by {
		if keep(f) {
			out = append(out, Entry{Function: f, Share: float64(v) / float64(total)})
		}
	}
	slices.SortFunc(out, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(b.Share, a.Share), strings.Compare(a.Function, b.Function))
	})
	return out[:min(n, len(out))]
}
