package processor

import (
	"context"
	"net/netip"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventtarget/eventtarget/enricher/internal/geo"
	"github.com/eventtarget/eventtarget/schemas/event"
)

// Headers added to dead-lettered records, beside the original headers.
const (
	HeaderDLQReason    = "dlq-reason"
	HeaderDLQTopic     = "dlq-source-topic"
	HeaderDLQPartition = "dlq-source-partition"
	HeaderDLQOffset    = "dlq-source-offset"
)

// Resolver is the geolocation chain as the transform needs it.
type Resolver interface {
	ResolveMany(ctx context.Context, ips []netip.Addr) map[netip.Addr]geo.Result
}

// Outcome is one input record's fate: an enriched event, a dead letter, or
// (with a filter) nothing.
type Outcome struct {
	Input    *kgo.Record
	Record   *kgo.Record          // nil when filtered out
	Enriched *event.EnrichedEvent // nil for a dead letter or when filtered out
	Raw      *event.RawEvent      // nil for a dead letter
}

// Keep decides whether a decoded raw event is enriched (replay filters by
// time and by previous outcome); nil keeps everything.
type Keep func(r *kgo.Record, raw *event.RawEvent) bool

// Transform turns raw records into enriched records (in input order, so the
// order per key is kept) and undecodable ones into dead letters. Addresses
// are resolved together, once each, so a batch costs one lookup per distinct
// address and slow lookups overlap instead of queueing.
func Transform(ctx context.Context, recs []*kgo.Record, resolve Resolver, t Topics, version uint32, now time.Time, keep Keep) []Outcome {
	out := make([]Outcome, len(recs))
	raws := make([]*event.RawEvent, len(recs))
	addrs := make([]netip.Addr, len(recs)) // the zero Addr: no usable source IP
	ips := make([]netip.Addr, 0, len(recs))
	for i, r := range recs {
		out[i].Input = r
		raw, err := event.DecodeRaw(r.Value)
		if err != nil {
			out[i].Record = DeadLetter(r, t.DLQ, err.Error())
			continue
		}
		if keep != nil && !keep(r, &raw) {
			out[i].Raw = &raw
			continue
		}
		raws[i] = &raw
		if ip, err := netip.ParseAddr(raw.SourceIP); err == nil {
			addrs[i] = ip.Unmap()
			ips = append(ips, addrs[i])
		}
	}
	results := resolve.ResolveMany(ctx, ips)
	stamp := event.NewTimestamp(now)
	for i, raw := range raws {
		if raw == nil {
			continue
		}
		res := geo.Result{Source: event.GeoSourceNone, Status: event.GeoStatusUnresolved}
		if r, ok := results[addrs[i]]; ok && addrs[i].IsValid() {
			res = r
		}
		en := Enrich(raw, res, version, stamp)
		out[i].Record, out[i].Enriched, out[i].Raw = EnrichedRecord(&en, t.Enriched), &en, raw
	}
	return out
}

// Topics names where outcomes go.
type Topics struct {
	Enriched string
	DLQ      string
}

// Enrich combines a raw event with its geolocation result.
func Enrich(raw *event.RawEvent, res geo.Result, version uint32, now event.Timestamp) event.EnrichedEvent {
	en := event.EnrichedEvent{
		RawEvent:          *raw,
		GeoSource:         res.Source,
		GeoDatabase:       res.Database,
		GeoStatus:         res.Status,
		EnrichedAt:        now,
		EnrichmentVersion: version,
	}
	en.SchemaVersion = event.EnrichedSchemaVersion
	if res.Found {
		en.City = optional(res.City)
		en.CountryISO = optional(res.CountryISO)
		en.CountryName = optional(res.CountryName)
		if res.HasCoordinates {
			lat, lon := res.Latitude, res.Longitude
			en.Latitude, en.Longitude = &lat, &lon
		}
	}
	return en
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// EnrichedRecord keys the enriched event by id, like the raw one, and stamps
// it with the event's receive time so both topics can be searched by event
// time (replay --from/--to).
func EnrichedRecord(en *event.EnrichedEvent, topic string) *kgo.Record {
	return &kgo.Record{
		Topic:     topic,
		Key:       event.AppendUUID(make([]byte, 0, 36), en.ID),
		Value:     en.AppendJSON(make([]byte, 0, 512+len(en.Data))),
		Timestamp: en.ReceivedAt.Time,
		Headers: []kgo.RecordHeader{
			{Key: event.HeaderSchema, Value: []byte(event.EnrichedSchema)},
			{Key: event.HeaderContentType, Value: []byte(event.ContentTypeJSON)},
			{Key: event.HeaderEventName, Value: []byte(en.Name)},
		},
	}
}

// DeadLetter copies a record that cannot be enriched to the dead-letter
// topic, unchanged, with where it came from and why in headers.
func DeadLetter(r *kgo.Record, topic, reason string) *kgo.Record {
	headers := append([]kgo.RecordHeader(nil), r.Headers...)
	headers = append(headers,
		kgo.RecordHeader{Key: HeaderDLQReason, Value: []byte(reason)},
		kgo.RecordHeader{Key: HeaderDLQTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: HeaderDLQPartition, Value: strconv.AppendInt(nil, int64(r.Partition), 10)},
		kgo.RecordHeader{Key: HeaderDLQOffset, Value: strconv.AppendInt(nil, r.Offset, 10)},
	)
	return &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp, Headers: headers}
}
