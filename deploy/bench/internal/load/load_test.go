package load

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestBatchItems(t *testing.T) {
	n, err := BatchItems([]byte(`{"accepted":3,"rejected":0,"results":[]}`))
	if n != 3 || err != nil {
		t.Errorf("all accepted: %d, %v", n, err)
	}
	n, err = BatchItems([]byte(`{"accepted":1,"rejected":1,"results":[{"status":201},{"status":503,"error":{"code":"unavailable"}}]}`))
	if n != 1 || err == nil {
		t.Errorf("one refused: %d, %v; want 1 and the reason", n, err)
	}
	if _, err := BatchItems([]byte(`not json`)); err == nil {
		t.Error("garbage answer: no error")
	}
}

// TestLoops runs both loops against a real HTTP server that accepts every
// other batch in part, and checks what they count.
func TestLoops(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Test") != "yes" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if calls.Add(1)%2 == 0 {
			_, _ = w.Write([]byte(`{"accepted":1,"rejected":1,"results":[{"status":201},{"status":503,"error":{}}]}`))
			return
		}
		_, _ = w.Write([]byte(`{"accepted":2,"rejected":0,"results":[{"status":201},{"status":201}]}`))
	}))
	defer srv.Close()
	req := Request{URL: srv.URL, Body: []byte(`[{},{}]`), ContentType: "application/json", WantStatus: 200, Items: BatchItems,
		Prepare: func(r *fasthttp.Request) { r.Header.Set("X-Test", "yes") }}
	c := NewSender(4)

	closed := ClosedLoop(context.Background(), c, req, 2, 200*time.Millisecond)
	if closed.OK == 0 || closed.Failed == 0 || closed.Items != 2*closed.OK+closed.Failed || closed.FirstError == "" {
		t.Errorf("closed loop: %+v; want every other request refused in part and items counted", closed)
	}
	open := OpenLoop(context.Background(), c, req, 200, 250*time.Millisecond)
	if open.Sent != 50 || open.OK+open.Failed != open.Sent || open.Items != 2*open.OK+open.Failed || open.P50 <= 0 || open.P99 < open.P50 {
		t.Errorf("open loop: %+v", open)
	}
}

// TestLoopsBackToBack runs phases one after another on one Sender, as a
// stage does: requests in flight when a phase ends must not make the next
// one fail.
func TestLoopsBackToBack(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Millisecond)
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	req := Request{URL: srv.URL, Body: []byte(`{}`), ContentType: "application/json", WantStatus: http.StatusCreated}
	s := NewSender(16)
	for i := range 3 {
		closed := ClosedLoop(context.Background(), s, req, 16, 300*time.Millisecond)
		if closed.OK == 0 || closed.Failed != 0 {
			t.Errorf("phase %d: %d ok, %d failed (first: %s); want none failed", i, closed.OK, closed.Failed, closed.FirstError)
		}
	}
	open := OpenLoop(context.Background(), s, req, 500, 200*time.Millisecond)
	if open.Failed != 0 || open.OK != open.Sent {
		t.Errorf("open loop after closed ones: %+v", open)
	}
}

// TestOpenLoopStopsWithItsContext: a cancelled run sends no more.
func TestOpenLoopStopsWithItsContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) }))
	defer srv.Close()
	req := Request{URL: srv.URL, Body: []byte(`{}`), ContentType: "application/json", WantStatus: http.StatusCreated}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	open := OpenLoop(ctx, NewSender(4), req, 100, 10*time.Second)
	if el := time.Since(t0); el > 2*time.Second || open.Sent == 0 || open.Sent > 20 || open.OK != open.Sent {
		t.Errorf("after %v: %+v; want it to stop at about 10 requests", el, open)
	}
}
