package replay

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventtarget/eventtarget/schemas/event"
)

// previous is what the enriched topic last said about an event.
type previous struct {
	version  uint32
	status   event.GeoStatus
	location string // comparable summary of the location fields
}

func locationKey(e *event.EnrichedEvent) string {
	s := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	f := func(p *float64) string {
		if p == nil {
			return ""
		}
		return fmt.Sprintf("%.6f", *p)
	}
	return s(e.CountryISO) + "|" + s(e.City) + "|" + f(e.Latitude) + "|" + f(e.Longitude)
}

// window bounds a replay by event time (record timestamps are receive times
// on both topics).
type window struct{ from, to time.Time }

func (w window) contains(t time.Time) bool {
	return (w.from.IsZero() || !t.Before(w.from)) && (w.to.IsZero() || !t.After(w.to))
}

func (w window) startOffset() kgo.Offset {
	if w.from.IsZero() {
		return kgo.NewOffset().AtStart()
	}
	return kgo.NewOffset().AfterMilli(w.from.UnixMilli())
}

// scanEnriched reads the enriched topic's committed records in the window
// and keeps the newest version of each event: the baseline the report
// compares against.
func scanEnriched(ctx context.Context, brokers []string, topic string, w window, idle time.Duration) (map[uuid.UUID]previous, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(w.startOffset()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", topic, err)
	}
	defer cl.Close()
	track, err := snapshot(ctx, kadm.NewClient(cl), topic, w)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", topic, err)
	}
	prev := make(map[uuid.UUID]previous)
	for !track.done() {
		pctx, cancel := context.WithTimeout(ctx, idle)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if pctx.Err() != nil && fs.NumRecords() == 0 {
			break // idle: only transaction markers remain before the end
		}
		fs.EachRecord(func(r *kgo.Record) {
			track.saw(r.Partition, r.Offset)
			if !w.contains(r.Timestamp) {
				return
			}
			e, err := event.DecodeEnriched(r.Value)
			if err != nil {
				return
			}
			if p, ok := prev[e.ID]; !ok || e.EnrichmentVersion >= p.version {
				prev[e.ID] = previous{version: e.EnrichmentVersion, status: e.GeoStatus, location: locationKey(&e)}
			}
		})
	}
	return prev, nil
}

// progress tells when every partition has been read up to the end offsets
// seen at the start (later records are not part of this replay).
type progress struct {
	end  map[int32]int64
	next map[int32]int64
}

// snapshot records, per partition, where the window starts and where the
// topic ends now.
func snapshot(ctx context.Context, adm *kadm.Client, topic string, w window) (*progress, error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("end offsets: %w", err)
	}
	if err := ends.Error(); err != nil {
		return nil, fmt.Errorf("end offsets: %w", err)
	}
	p := &progress{end: map[int32]int64{}, next: map[int32]int64{}}
	ends.Each(func(o kadm.ListedOffset) { p.end[o.Partition] = o.Offset })
	if !w.from.IsZero() {
		starts, err := adm.ListOffsetsAfterMilli(ctx, w.from.UnixMilli(), topic)
		if err != nil {
			return nil, fmt.Errorf("offsets after %v: %w", w.from, err)
		}
		starts.Each(func(o kadm.ListedOffset) { p.next[o.Partition] = o.Offset })
	}
	return p, nil
}

func (p *progress) saw(part int32, offset int64) {
	if offset+1 > p.next[part] {
		p.next[part] = offset + 1
	}
}

func (p *progress) done() bool {
	for part, end := range p.end {
		if p.next[part] < end {
			return false
		}
	}
	return true
}

func newAdmin(cl *kgo.Client) *kadm.Client { return kadm.NewClient(cl) }
