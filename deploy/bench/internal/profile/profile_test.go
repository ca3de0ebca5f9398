package profile

import (
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

func TestSummarizeSharesFlatAndCumulativeTime(t *testing.T) {
	fn := func(id uint64, name string) *profile.Function { return &profile.Function{ID: id, Name: name} }
	unmarshal, decode, run := fn(1, "encoding/json.Unmarshal"), fn(2, Prefix+"schemas/event.DecodeRaw"), fn(3, Prefix+"enricher/internal/processor.(*Processor).Run")
	lookup, walk := fn(4, Prefix+"enricher/internal/geo.Chain.ResolveMany"), fn(5, "github.com/oschwald/maxminddb-golang.readNode28")
	loc := func(id uint64, fs ...*profile.Function) *profile.Location {
		l := &profile.Location{ID: id}
		for _, f := range fs {
			l.Line = append(l.Line, profile.Line{Function: f})
		}
		return l
	}
	// Run calls DecodeRaw (which calls Unmarshal, inlined into it) and
	// ResolveMany (which calls readNode28); Run recurses once.
	lUnmarshal, lRun := loc(1, unmarshal, decode), loc(2, run)
	lWalk, lLookup := loc(3, walk), loc(4, lookup)
	ms := int64(time.Millisecond)
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		Sample: []*profile.Sample{
			{Location: []*profile.Location{lUnmarshal, lRun, lRun}, Value: []int64{3, 30 * ms}},
			{Location: []*profile.Location{lWalk, lLookup, lRun}, Value: []int64{6, 60 * ms}},
			{Location: []*profile.Location{lRun}, Value: []int64{1, 10 * ms}},
		},
	}
	s := Summarize(p, 2)
	if s.Samples != 10 || s.CPU != 100*time.Millisecond {
		t.Fatalf("samples %d, cpu %v: want 10 and 100ms", s.Samples, s.CPU)
	}
	wantCum := []Entry{{run.Name, 1}, {lookup.Name, 0.6}}
	wantFlat := []Entry{{walk.Name, 0.6}, {unmarshal.Name, 0.3}}
	for _, c := range []struct {
		name      string
		got, want []Entry
	}{{"cumulative", s.Cumulative, wantCum}, {"flat", s.Flat, wantFlat}} {
		if len(c.got) != len(c.want) {
			t.Fatalf("%s: %v, want %v", c.name, c.got, c.want)
		}
		for i := range c.want {
			if c.got[i].Function != c.want[i].Function || c.got[i].Share < c.want[i].Share-1e-9 || c.got[i].Share > c.want[i].Share+1e-9 {
				t.Errorf("%s[%d] = %+v, want %+v", c.name, i, c.got[i], c.want[i])
			}
		}
	}
	// DecodeRaw is inlined beside Unmarshal: it counts as cumulative, not flat.
	if all := Summarize(p, 10); !hasShare(all.Cumulative, decode.Name, 0.3) || hasFunction(all.Flat, decode.Name) {
		t.Errorf("inlined caller: cumulative %v, flat %v", all.Cumulative, all.Flat)
	}
}

func TestSummarizeEmptyProfile(t *testing.T) {
	s := Summarize(&profile.Profile{SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}}}, 5)
	if s.Samples != 0 || s.Flat != nil || s.Cumulative != nil {
		t.Fatalf("empty profile summarised as %+v", s)
	}
}

func hasFunction(es []Entry, f string) bool { return hasShare(es, f, -1) }

func hasShare(es []Entry, f string, share float64) bool {
	for _, e := range es {
		if e.Function == f && (share < 0 || (e.Share > share-1e-9 && e.Share < share+1e-9)) {
			return true
		}
	}
	return false
}
