package stage

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventtarget/eventtarget/deploy/bench/internal/proc"
	"github.com/eventtarget/eventtarget/deploy/bench/internal/profile"
	"github.com/eventtarget/eventtarget/schemas/event"
)

// partitions of every benchmark topic: the services' default.
const partitions = 6

// eventData is the payload of the reference measurements (../shared).
const eventData = `{"path":"/pricing","referrer":"https://example.com/","ms":1234,"tags":["a","b"]}`

func newClient(brokers string, opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers), kgo.ProducerLinger(5 * time.Millisecond),
		kgo.ProducerBatchMaxBytes(1 << 20), kgo.MaxBufferedRecords(50_000)}, opts...)...)
}

func createTopics(ctx context.Context, cl *kgo.Client, topics ...string) error {
	res, err := kadm.NewClient(cl).CreateTopics(ctx, partitions, 1, nil, topics...)
	if err != nil {
		return err
	}
	return res.Error()
}

// produceAll writes every value to topic, keyed like ingest keys events.
func produceAll(ctx context.Context, cl *kgo.Client, topic string, n int, value func(i int) (key, value []byte)) error {
	var failed error
	for i := range n {
		k, v := value(i)
		cl.Produce(ctx, &kgo.Record{Topic: topic, Key: k, Value: v}, func(_ *kgo.Record, err error) {
			if err != nil && failed == nil {
				failed = err
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	return failed
}

// rawEvent is the ingest-shaped event i, from address ip.
func rawEvent(ip netip.Addr, at time.Time) event.RawEvent {
	return event.RawEvent{SchemaVersion: event.RawSchemaVersion, ID: uuid.Must(uuid.NewV7()), Name: "page_view",
		Data: json.RawMessage(eventData), ReceivedAt: event.NewTimestamp(at), SourceIP: ip.String(),
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64)"}
}

// publicIPv4s returns n distinct random public IPv4 addresses.
func publicIPv4s(r *rand.Rand, n int) []netip.Addr {
	seen := make(map[netip.Addr]bool, n)
	out := make([]netip.Addr, 0, n)
	for len(out) < n {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], r.Uint32())
		ip := netip.AddrFrom4(b)
		if b[0] == 0 || b[0] == 10 || b[0] == 127 || b[0] >= 224 || (b[0] == 192 && b[1] == 168) ||
			(b[0] == 172 && b[1]&0xf0 == 16) || (b[0] == 100 && b[1]&0xc0 == 64) || (b[0] == 169 && b[1] == 254) || seen[ip] {
			continue
		}
		seen[ip] = true
		out = append(out, ip)
	}
	return out
}

// progress samples a consumer group's committed offsets on topic until they
// reach total, and returns the rate between the first commit it saw and the
// last: start-up (database load, group join) is left out.
type progress struct {
	Events  int64         `json:"events"`
	Elapsed time.Duration `json:"-"`
	Seconds float64       `json:"seconds"`
	PerSec  float64       `json:"per_second"`
}

func waitCommitted(ctx context.Context, adm *kadm.Client, group, topic string, total int64, timeout time.Duration, onFirst func()) (progress, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var first int64 = -1
	var t0 time.Time
	last := int64(0)
	for {
		offs, err := adm.FetchOffsets(ctx, group)
		if err == nil {
			var sum int64
			offs.Each(func(o kadm.OffsetResponse) {
				if o.Topic == topic && o.Err == nil && o.At > 0 {
					sum += o.At
				}
			})
			now := time.Now()
			if sum > 0 && first < 0 {
				first, t0 = sum, now
				if onFirst != nil {
					onFirst()
				}
			}
			last = sum
			if sum >= total && first >= 0 {
				el := now.Sub(t0)
				p := progress{Events: sum - first, Elapsed: el, Seconds: el.Seconds()}
				if p.Events == 0 || el <= 0 {
					return p, fmt.Errorf("group %s: all %d records committed before a rate could be measured; give it more", group, total)
				}
				p.PerSec = float64(p.Events) / el.Seconds()
				return p, nil
			}
		}
		select {
		case <-ctx.Done():
			return progress{}, fmt.Errorf("group %s committed %d of %d records of %s within %v", group, last, total, topic, timeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// consume measures service p working through n records of topic as its
// consumer group, then stops it. CPU is measured over the same window as the
// rate, from the first commit to the last, and so is the profile pr asks
// for, if any (the service runs on until the profile is in).
// also names other services to measure beside it (they keep running).
func (e Env) consume(ctx context.Context, p *proc.Proc, also services, cl *kgo.Client, group, topic string, n int, pr profiling) (progress, map[string]proc.Usage, *profile.Summary, error) {
	var meter *proc.Meter
	var capture *profile.Capture
	prog, err := waitCommitted(ctx, kadm.NewClient(cl), group, topic, int64(n), 5*time.Minute, func() {
		meter = proc.NewMeter(e.pids(append(services{p}, also...)))
		capture = pr.start(ctx, e, p.Name)
	})
	var usage map[string]proc.Usage
	if meter != nil {
		usage = meter.Stop()
	}
	prof, profErr := finish(capture)
	if err == nil {
		err = profErr
	}
	if stopErr := p.Stop(); err == nil {
		err = stopErr
	}
	return prog, usage, prof, err
}
