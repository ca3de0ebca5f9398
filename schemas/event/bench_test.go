package event_test

import (
	"encoding/json"
	"testing"
)

func BenchmarkRawEventAppendJSON(b *testing.B) {
	ev := sampleRaw(`{"path":"/pricing","referrer":"https://example.com/","ms":1234,"tags":["a","b"]}`)
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = ev.AppendJSON(buf[:0])
	}
}

func BenchmarkRawEventEncodingJSON(b *testing.B) {
	ev := sampleRaw(`{"path":"/pricing","referrer":"https://example.com/","ms":1234,"tags":["a","b"]}`)
	type plain struct {
		SchemaVersion int             `json:"schema_version"`
		ID            string          `json:"id"`
		Name          string          `json:"name"`
		Data          json.RawMessage `json:"data"`
		ReceivedAt    string          `json:"received_at"`
		SourceIP      string          `json:"source_ip"`
		UserAgent     string          `json:"user_agent"`
	}
	p := plain{1, ev.ID.String(), ev.Name, ev.Data, ev.ReceivedAt.String(), ev.SourceIP, ev.UserAgent}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(p); err != nil {
			b.Fatal(err)
		}
	}
}
