package remote

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestThrottle(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	tests := []struct {
		name        string
		status      int
		header      http.Header
		body        string
		wantWait    time.Duration
		wantRefused bool
	}{
		{name: "plain 200", status: 200, header: h()},
		{name: "200 with requests left", status: 200, header: h("X-Rl", "3", "X-Ttl", "40")},
		{name: "200 with none left", status: 200, header: h("X-Rl", "0", "X-Ttl", "40"), wantWait: 40 * time.Second},
		{name: "429 X-Ttl", status: 429, header: h("X-Rl", "0", "X-Ttl", "7"), wantWait: 7 * time.Second, wantRefused: true},
		{name: "429 Retry-After seconds", status: 429, header: h("Retry-After", "2"), wantWait: 2 * time.Second, wantRefused: true},
		{name: "429 Retry-After date", status: 429, header: h("Retry-After", now.Add(90*time.Second).Format(http.TimeFormat)),
			wantWait: 90 * time.Second, wantRefused: true},
		{name: "429 Retry-After date passed", status: 429, header: h("Retry-After", now.Add(-time.Hour).Format(http.TimeFormat)),
			wantRefused: true},
		{name: "429 Retry-After garbage", status: 429, header: h("Retry-After", "soon"), wantRefused: true},
		{name: "429 without signal", status: 429, header: h(), wantRefused: true},
		{name: "503 Retry-After", status: 503, header: h("Retry-After", "3"), wantWait: 3 * time.Second},
		{name: "500 ignores Retry-After", status: 500, header: h("Retry-After", "3")},
		{name: "403 period_remaining", status: 403, header: h(), body: `{"period_remaining": 12.5}`,
			wantWait: 12500 * time.Millisecond, wantRefused: true},
		{name: "429 period_remaining and Retry-After: longest", status: 429, header: h("Retry-After", "5"),
			body: `{"period_remaining": 9}`, wantWait: 9 * time.Second, wantRefused: true},
		{name: "200 period_remaining is an answer", status: 200, header: h(), body: `{"period_remaining": 9}`},
		{name: "404 without period_remaining", status: 404, header: h(), body: `{"message":"not found"}`},
		{name: "negative period_remaining", status: 429, header: h(), body: `{"period_remaining": -3}`, wantRefused: true},
		{name: "absurd X-Ttl capped", status: 429, header: h("X-Ttl", "1e12"), wantWait: 24 * time.Hour, wantRefused: true},
	}
	for _, tt := range tests {
		wait, refused := throttle(tt.status, tt.header, []byte(tt.body), now)
		if wait != tt.wantWait || refused != tt.wantRefused {
			t.Errorf("%s: wait %v refused %v, want %v %v", tt.name, wait, refused, tt.wantWait, tt.wantRefused)
		}
	}
}

func TestGate(t *testing.T) {
	var g gate
	if err := g.wait(context.Background(), 0); err != nil {
		t.Fatalf("open gate: %v", err)
	}
	until := time.Now().Add(80 * time.Millisecond)
	if !g.closeUntil(until) {
		t.Error("first pause not reported as started")
	}
	if g.closeUntil(until.Add(-time.Millisecond)) || g.openAt() != until {
		t.Error("a shorter pause shortened the gate")
	}
	if err := g.check(context.Background(), 10*time.Millisecond); !errors.Is(err, errRateLimited) {
		t.Errorf("pause beyond max: %v", err)
	}
	short, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := g.wait(short, time.Second); !errors.Is(err, errRateLimited) {
		t.Errorf("pause beyond the deadline: %v", err)
	}
	if err := g.wait(context.Background(), time.Second); err != nil || time.Now().Before(until) {
		t.Errorf("wait returned %v at %v, before %v", err, time.Now(), until)
	}
}
