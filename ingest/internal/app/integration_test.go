package app_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventtarget/eventtarget/ingest/internal/api"
	"github.com/eventtarget/eventtarget/ingest/internal/config"
	"github.com/eventtarget/eventtarget/platform/kafkatest"
	"github.com/eventtarget/eventtarget/schemas/event"
)

type created struct {
	UUID            string          `json:"uuid"`
	Name            string          `json:"name"`
	Data            json.RawMessage `json:"data"`
	DatetimeCreated string          `json:"datetime_created"`
	SourceIP        string          `json:"source_ip"`
	City            *string         `json:"city"`
	CountryISO      *string         `json:"country_iso"`
	CountryName     *string         `json:"country_name"`
	Latitude        *float64        `json:"latitude"`
	Longitude       *float64        `json:"longitude"`
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// checkRecord asserts that a record carries exactly the event the API answered.
func checkRecord(t *testing.T, r *kgo.Record, c created, wantData, wantIP, wantUA string) {
	t.Helper()
	if string(r.Key) != c.UUID {
		t.Errorf("key %q, want the uuid %q", r.Key, c.UUID)
	}
	if header(r, event.HeaderSchema) != "event.raw/v1" || header(r, event.HeaderContentType) != "application/json" || header(r, event.HeaderEventName) != c.Name {
		t.Errorf("headers %v", r.Headers)
	}
	ev, err := event.DecodeRaw(r.Value)
	if err != nil {
		t.Fatalf("value is not a raw envelope: %v\n%s", err, r.Value)
	}
	if ev.ID.String() != c.UUID || ev.Name != c.Name || string(ev.Data) != wantData ||
		ev.SourceIP != wantIP || ev.UserAgent != wantUA || ev.ReceivedAt.String() != c.DatetimeCreated {
		t.Errorf("record %s does not match answer %+v (want data %s ip %s ua %s)", r.Value, c, wantData, wantIP, wantUA)
	}
	if !r.Timestamp.Equal(ev.ReceivedAt.Time) {
		t.Errorf("record timestamp %v, want received_at %v", r.Timestamp, ev.ReceivedAt)
	}
}

func TestIntegrationKafkaSingleEvent(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, b kafkatest.Backend) {
		cfg := testConfig(b, uniqueTopic(t))
		cfg.Kafka.Compression = config.Default().Kafka.Compression
		in := startIngest(t, cfg)
		data := `{"plan": "pro",  "seats":[1, 2.5e3], "note":"caf\u00e9 \"x\""}`
		cases := []struct {
			name, body, encoding, wantData, wantIP string
			hdr                                    map[string]string
		}{
			{name: "plain, forwarded by a trusted proxy", body: `{"name":"signup","data":` + data + `}`,
				wantData: data, wantIP: "81.2.69.142", hdr: map[string]string{"X-Forwarded-For": "203.0.113.9, 81.2.69.142, 10.0.0.7"}},
			{name: "gzip, no data", body: `{"name":"  ping  "}`, encoding: "gzip", wantData: `{}`, wantIP: "127.0.0.1"},
			{name: "X-Real-IP", body: `{"name":"n","data":[1]}`, wantData: `[1]`, wantIP: "2001:db8::7",
				hdr: map[string]string{"X-Real-IP": "2001:db8::7"}},
		}
		var answers []created
		for _, tc := range cases {
			body := []byte(tc.body)
			hdr := map[string]string{"User-Agent": "it/" + tc.name}
			for k, v := range tc.hdr {
				hdr[k] = v
			}
			if tc.encoding == "gzip" {
				var buf bytes.Buffer
				zw := gzip.NewWriter(&buf)
				zw.Write(body)
				zw.Close()
				body, hdr["Content-Encoding"] = buf.Bytes(), "gzip"
			}
			resp, rb := post(t, in.url+"/api/events/", "application/json", bytes.NewReader(body), hdr)
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("%s: status %d: %s", tc.name, resp.StatusCode, rb)
			}
			var c created
			if err := json.Unmarshal(rb, &c); err != nil {
				t.Fatal(err)
			}
			if resp.Header.Get("Location") != "/api/events/"+c.UUID+"/" {
				t.Errorf("Location %q", resp.Header.Get("Location"))
			}
			if c.City != nil || c.CountryISO != nil || c.CountryName != nil || c.Latitude != nil || c.Longitude != nil {
				t.Errorf("location fields should be null before enrichment: %s", rb)
			}
			if string(c.Data) != tc.wantData || c.SourceIP != tc.wantIP {
				t.Errorf("%s: answer %s", tc.name, rb)
			}
			if _, err := time.Parse("2006-01-02T15:04:05.000Z", c.DatetimeCreated); err != nil {
				t.Errorf("datetime_created %q: %v", c.DatetimeCreated, err)
			}
			if !strings.HasPrefix(c.UUID[14:], "7") {
				t.Errorf("server uuid %s is not a UUIDv7", c.UUID)
			}
			answers = append(answers, c)
		}
		recs := readTopic(t, b, in.topic, len(answers))
		if len(recs) != len(answers) {
			t.Fatalf("topic holds %d records, want %d", len(recs), len(answers))
		}
		byKey := map[string]*kgo.Record{}
		for _, r := range recs {
			byKey[string(r.Key)] = r
		}
		for i, c := range answers {
			r := byKey[c.UUID]
			if r == nil {
				t.Fatalf("acknowledged event %s missing from the topic", c.UUID)
			}
			checkRecord(t, r, c, cases[i].wantData, cases[i].wantIP, "it/"+cases[i].name)
		}
	})
}

func TestIntegrationKafkaBatch(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, b kafkatest.Backend) {
		in := startIngest(t, testConfig(b, uniqueTopic(t)))
		var want []string
		check := func(name, contentType, body string, wantStatus, wantAccepted int, wantItemStatus []int) {
			resp, rb := post(t, in.url+"/api/events/batch", contentType, strings.NewReader(body), nil)
			if resp.StatusCode != wantStatus {
				t.Fatalf("%s: status %d, want %d: %s", name, resp.StatusCode, wantStatus, rb)
			}
			var br api.BatchResponse
			if err := json.Unmarshal(rb, &br); err != nil {
				t.Fatal(err)
			}
			if br.Accepted != wantAccepted || br.Rejected != len(wantItemStatus)-wantAccepted || len(br.Results) != len(wantItemStatus) {
				t.Fatalf("%s: %s", name, rb)
			}
			for i, r := range br.Results {
				if r.Index != i || r.Status != wantItemStatus[i] {
					t.Errorf("%s: result %d = %+v, want status %d", name, i, r, wantItemStatus[i])
				}
				if r.Status == http.StatusCreated {
					want = append(want, r.UUID)
				} else if r.Error == nil || r.Error.Message == "" || r.UUID != "" {
					t.Errorf("%s: rejected item %d without an error: %+v", name, i, r)
				}
			}
		}
		check("json array", "application/json", `[{"name":"a","data":{"i":1}},{"name":""},{"name":"c"}]`, 200, 2, []int{201, 400, 201})
		check("ndjson", "application/x-ndjson", "{\"name\":\"d\"}\n{oops\n\n{\"name\":\"e\",\"uuid\":\"0190a3c4-1d2e-7f00-8000-0000000000e1\"}\n", 200, 2, []int{201, 400, 201})
		check("all invalid", "application/json", `[{"name":1},{"data":{}}]`, 400, 0, []int{400, 400})

		recs := readTopic(t, b, in.topic, len(want))
		got := map[string]int{}
		for _, r := range recs {
			got[string(r.Key)]++
		}
		if len(recs) != len(want) {
			t.Errorf("topic holds %d records, want %d", len(recs), len(want))
		}
		for _, id := range want {
			if got[id] != 1 {
				t.Errorf("event %s appears %d times in the topic", id, got[id])
			}
		}
		if got["0190a3c4-1d2e-7f00-8000-0000000000e1"] != 1 {
			t.Error("client-supplied uuid not used as the key")
		}
	})
}

// TestIntegrationKafkaEveryAckIsDurable posts concurrently and checks that
// every event answered 201 is in the topic exactly once.
func TestIntegrationKafkaEveryAckIsDurable(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, b kafkatest.Backend) {
		in := startIngest(t, testConfig(b, uniqueTopic(t)))
		const workers, perWorker = 16, 125
		// Keep-alive for every worker: the default keeps 2 idle connections
		// per host, and re-dialling would dominate the test's time.
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
		defer client.CloseIdleConnections()
		var mu sync.Mutex
		acked := map[string]bool{}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perWorker {
					body := fmt.Sprintf(`{"name":"load","data":{"w":%d,"i":%d}}`, w, i)
					resp, err := client.Post(in.url+"/api/events/", "application/json", strings.NewReader(body))
					if err != nil {
						t.Error(err)
						return
					}
					var c created
					err = json.NewDecoder(resp.Body).Decode(&c)
					resp.Body.Close()
					if resp.StatusCode != http.StatusCreated || err != nil {
						t.Errorf("status %d: %v", resp.StatusCode, err)
						return
					}
					mu.Lock()
					acked[c.UUID] = true
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(acked) != workers*perWorker {
			t.Fatalf("%d distinct events acknowledged, want %d", len(acked), workers*perWorker)
		}
		recs := readTopic(t, b, in.topic, len(acked))
		seen := map[string]int{}
		for _, r := range recs {
			seen[string(r.Key)]++
		}
		for id := range acked {
			if seen[id] != 1 {
				t.Errorf("acknowledged event %s is in the topic %d times", id, seen[id])
			}
		}
		if len(recs) != len(acked) {
			t.Errorf("topic holds %d records for %d acknowledged events", len(recs), len(acked))
		}
		t.Logf("%s: %d events acknowledged, %d in topic %s", b.Name, len(acked), len(recs), in.topic)
	})
}

func TestIntegrationKafkaClientUUIDRetry(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, b kafkatest.Backend) {
		in := startIngest(t, testConfig(b, uniqueTopic(t)))
		const id = "0190a3c4-1d2e-7f00-8000-00000000abcd"
		for range 2 {
			resp, rb := post(t, in.url+"/api/events", "application/json", strings.NewReader(`{"name":"retry","uuid":"`+strings.ToUpper(id)+`"}`), nil)
			if resp.StatusCode != http.StatusCreated || !strings.Contains(string(rb), `"uuid":"`+id+`"`) {
				t.Fatalf("status %d: %s", resp.StatusCode, rb)
			}
		}
		// Both deliveries carry the same key, so they land on one partition
		// and downstream deduplication by id keeps one event.
		recs := readTopic(t, b, in.topic, 2)
		if len(recs) != 2 || string(recs[0].Key) != id || string(recs[1].Key) != id || recs[0].Partition != recs[1].Partition {
			t.Fatalf("records %v", recs)
		}
	})
}
