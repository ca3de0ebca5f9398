// Package replay re-enriches history: it re-reads the raw topic in a fresh
// consumer group and emits every event again with a new enrichment version,
// so that downstream, which keeps the highest version per event, shows the
// new locations. It reports what changed against the enriched topic.
package replay

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventtarget/eventtarget/enricher/internal/processor"
	"github.com/eventtarget/eventtarget/schemas/event"
)

// Options choose what to replay.
type Options struct {
	From, To       time.Time // event time; zero means unbounded
	OnlyUnresolved bool      // only events whose newest enrichment is unresolved (or missing)
	// Version is the new enrichment version; 0 takes the current Unix time,
	// which is above every version written before.
	Version uint32
	// Idle ends a read once no record arrived for this long after the data
	// seen at the start was read (only transaction markers may remain).
	Idle time.Duration
}

// Report is what a replay did.
type Report struct {
	Version         uint32        `json:"enrichment_version"`
	Read            int64         `json:"read"`
	ReEnriched      int64         `json:"re_enriched"`
	LocationChanged int64         `json:"location_changed"`
	StillUnresolved int64         `json:"still_unresolved"`
	NotEnrichedYet  int64         `json:"not_enriched_before"`
	DeadLettered    int64         `json:"dead_lettered"`
	Duration        time.Duration `json:"duration_ns"`
}

func (r Report) String() string {
	return fmt.Sprintf("replay v%d: read %d, re-enriched %d, location changed %d, still unresolved %d, not enriched before %d, dead-lettered %d, in %s",
		r.Version, r.Read, r.ReEnriched, r.LocationChanged, r.StillUnresolved, r.NotEnrichedYet, r.DeadLettered, r.Duration.Round(time.Millisecond))
}

// Run replays. base is the live enricher's processor configuration; the
// replay gets its own group and transactional id, named after the version,
// so an interrupted replay resumes where it stopped when run again with the
// same version.
func Run(ctx context.Context, base processor.Config, resolve processor.Resolver, opts Options, log *slog.Logger) (Report, error) {
	start := time.Now()
	if opts.Version == 0 {
		opts.Version = uint32(start.Unix())
	}
	if opts.Idle <= 0 {
		opts.Idle = 3 * time.Second
	}
	w := window{from: opts.From, to: opts.To}
	rep := Report{Version: opts.Version}

	prev, err := scanEnriched(ctx, base.Brokers, base.Topics.Enriched, w, opts.Idle)
	if err != nil {
		return rep, err
	}
	log.Info("replay baseline read", "events_enriched_before", len(prev), "version", opts.Version)

	cfg := base
	cfg.Group = fmt.Sprintf("event-target-replay-v%d", opts.Version)
	cfg.TransactionalID = cfg.Group
	cfg.InstanceID = ""
	cfg.EnrichmentVersion = opts.Version
	cfg.StartOffset = w.startOffset()
	p, err := processor.New(cfg, resolve, log)
	if err != nil {
		return rep, err
	}
	defer p.Close()
	track, err := snapshot(ctx, newAdmin(p.Client()), cfg.RawTopic, w)
	if err != nil {
		return rep, fmt.Errorf("replay %s: %w", cfg.RawTopic, err)
	}

	var mu sync.Mutex
	lastProgress := time.Now()
	p.Keep = func(r *kgo.Record, raw *event.RawEvent) bool {
		if !w.contains(r.Timestamp) {
			return false
		}
		if !opts.OnlyUnresolved {
			return true
		}
		pv, ok := prev[raw.ID]
		return !ok || pv.status == event.GeoStatusUnresolved
	}
	p.OnCommit = func(outs []processor.Outcome) {
		mu.Lock()
		defer mu.Unlock()
		lastProgress = time.Now()
		for _, o := range outs {
			track.saw(o.Input.Partition, o.Input.Offset)
			if !w.contains(o.Input.Timestamp) {
				continue
			}
			rep.Read++
			switch {
			case o.Record == nil:
				continue
			case o.Enriched == nil:
				rep.DeadLettered++
				continue
			}
			rep.ReEnriched++
			if o.Enriched.GeoStatus == event.GeoStatusUnresolved {
				rep.StillUnresolved++
			}
			pv, ok := prev[o.Enriched.ID]
			switch {
			case !ok:
				rep.NotEnrichedYet++
			case pv.location != locationKey(o.Enriched) || pv.status != o.Enriched.GeoStatus:
				rep.LocationChanged++
			}
		}
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-tick.C:
			}
			mu.Lock()
			finished := track.done() || time.Since(lastProgress) > opts.Idle
			mu.Unlock()
			if finished {
				stop()
				return
			}
		}
	}()
	if err := p.Run(runCtx, 30*time.Second); err != nil {
		return rep, err
	}
	if ctx.Err() != nil {
		return rep, fmt.Errorf("replay interrupted: %w", ctx.Err())
	}
	mu.Lock()
	defer mu.Unlock()
	rep.Duration = time.Since(start)
	return rep, nil
}
