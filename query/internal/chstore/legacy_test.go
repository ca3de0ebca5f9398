package chstore_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"

	"github.com/eventtarget/eventtarget/query/internal/chstore"
)

// What the shim must send for the client's connect check and for
// "DESCRIBE TABLE events", spelled out rather than built from the code's
// constants, so that a change to either shows here.
const (
	wantHello    = "SELECT hostName() AS `displayName()`, version(), toUInt32(0) AS `revision()`, timezone()"
	wantDescribe = "SELECT name, type, default_kind AS default_type, default_expression, comment," +
		" '' AS codec_expression, '' AS ttl_expression FROM system.columns" +
		" WHERE database = currentDatabase() AND table = 'events'" +
		" AND (hasColumnInTable(currentDatabase(), 'events', '') OR 1)"
)

// captured is one request as it passed a point of the chain.
type captured struct {
	method string
	url    url.URL
	header http.Header
	body   *bytes.Buffer // complete once the backend has answered
}

// recorder captures requests on their way to next without changing them.
type recorder struct {
	mu   sync.Mutex
	reqs []*captured
	next http.RoundTripper
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	c := &captured{method: req.Method, url: *req.URL, header: req.Header.Clone(), body: new(bytes.Buffer)}
	r.mu.Lock()
	r.reqs = append(r.reqs, c)
	r.mu.Unlock()
	out := req.Clone(req.Context())
	if req.GetBody != nil {
		// A re-readable body (a query): copied now, since a rewrite may
		// replace it unread.
		b, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		_, err = c.body.ReadFrom(b)
		if err != nil {
			return nil, err
		}
	} else if req.Body != nil {
		// A stream (batch data): captured as the server reads it.
		out.Body = struct {
			io.Reader
			io.Closer
		}{io.TeeReader(req.Body, c.body), req.Body}
	}
	return r.next.RoundTrip(out)
}

func (r *recorder) all() []*captured {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*captured(nil), r.reqs...)
}

// fake1816 answers like ClickHouse 18.16.1 over HTTP does, as far as the
// requests clickhouse-go sends are concerned: it refuses the setting and
// the functions 18.16 lacks, describes tables with 5 columns, and writes
// Native results at revision 0 (no block info).
type fake1816 struct{}

func (fake1816) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	if err != nil {
		return nil, err
	}
	q := req.URL.Query()
	sql := string(body)
	if q.Has("query") {
		sql = q.Get("query")
	}
	switch {
	case q.Has("client_protocol_version"):
		return answer(500, "Code: 115, e.displayText() = DB::Exception: Unknown setting client_protocol_version, e.what() = DB::Exception\n"), nil
	case strings.Contains(sql, "displayName()") && !strings.Contains(sql, "hostName()"):
		return answer(500, "Code: 46, e.displayText() = DB::Exception: Unknown function displayName, e.what() = DB::Exception\n"), nil
	case sql == wantHello:
		return nativeAnswer(
			[]string{"displayName()", "version()", "revision()", "timezone()"},
			[]column.Type{"String", "String", "UInt32", "String"},
			[]any{"fakehost", "18.16.1", uint32(0), "Etc/UTC"}), nil
	case sql == "SELECT 1":
		return nativeAnswer([]string{"1"}, []column.Type{"UInt8"}, []any{uint8(1)}), nil
	case strings.HasPrefix(sql, "DESCRIBE TABLE"):
		return nativeAnswer(
			[]string{"name", "type", "default_type", "default_expression", "comment_expression"},
			[]column.Type{"String", "String", "String", "String", "String"},
			[]any{"id", "UUID", "", "", ""}, []any{"label", "String", "", "", ""}), nil
	case sql == wantDescribe:
		return nativeAnswer(
			[]string{"name", "type", "default_type", "default_expression", "comment", "codec_expression", "ttl_expression"},
			[]column.Type{"String", "String", "String", "String", "String", "String", "String"},
			[]any{"id", "UUID", "", "", "", "", ""}, []any{"label", "String", "", "", "", "", ""}), nil
	case strings.HasPrefix(sql, "INSERT INTO events (id, label) FORMAT Native"):
		return answer(200, ""), nil
	case strings.HasPrefix(sql, "SELECT label FROM events"):
		return nativeAnswer([]string{"label"}, []column.Type{"String"}, []any{"Zürich"}), nil
	}
	return answer(400, "Code: 62, e.displayText() = DB::Exception: fake1816 does not know "+sql+"\n"), nil
}

func answer(status int, body string) *http.Response {
	return &http.Response{
		StatusCode:    status,
		Status:        http.StatusText(status),
		Header:        http.Header{},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
	}
}

// nativeAnswer encodes rows as one revision-0 Native block, as 18.16 does.
func nativeAnswer(names []string, types []column.Type, rows ...[]any) *http.Response {
	block := proto.Block{ServerContext: &column.ServerContext{}}
	for i := range names {
		if err := block.AddColumn(names[i], types[i]); err != nil {
			panic(err)
		}
	}
	for _, r := range rows {
		if err := block.Append(r...); err != nil {
			panic(err)
		}
	}
	var buf chproto.Buffer
	if err := block.Encode(&buf, 0); err != nil {
		panic(err)
	}
	return answer(200, string(buf.Buf))
}

// withoutSetting is the client's encoded URL query minus the setting, done
// independently of the code under test.
func withoutSetting(rawQuery string) string {
	var kept []string
	for _, p := range strings.Split(rawQuery, "&") {
		if !strings.HasPrefix(p, "client_protocol_version=") {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, "&")
}

// TestLegacyTransportRewritesClientRequests drives the real clickhouse-go
// HTTP client through the shim against a fake that answers like 18.16, and
// compares each request as the client sent it with what reached the server.
func TestLegacyTransportRewritesClientRequests(t *testing.T) {
	server := &recorder{next: fake1816{}}
	client := &recorder{next: chstore.NewLegacyTransport(server)}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Protocol:      clickhouse.HTTP,
		Addr:          []string{"fake1816:8123"},
		Auth:          clickhouse.Auth{Database: "analytics", Username: "default"},
		Settings:      clickhouse.Settings{"max_block_size": 1000},
		TransportFunc: func(*http.Transport) (http.RoundTripper, error) { return client, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Connect check and ping.
	if err := conn.Ping(ctx); err != nil {
		t.Fatalf("ping through the shim: %v", err)
	}
	sv, err := conn.ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if sv.Version.String() != "18.16.1" || sv.Revision != 0 || sv.DisplayName != "fakehost" || sv.Timezone.String() != "Etc/UTC" {
		t.Errorf("server version as the client read it: %+v", sv)
	}
	// Batch insert: DESCRIBE, then the data.
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO events (id, label)")
	if err != nil {
		t.Fatalf("prepare batch through the shim: %v", err)
	}
	if err := batch.Append("0b4e2f7c-1d2a-4a3b-9c8d-7e6f5a4b3c2d", "Zürich"); err != nil {
		t.Fatal(err)
	}
	if err := batch.Send(); err != nil {
		t.Fatalf("send batch through the shim: %v", err)
	}
	// An ordinary query with a client-side binding.
	var label string
	if err := conn.QueryRow(ctx, "SELECT label FROM events WHERE label = ?", "Zürich's").Scan(&label); err != nil {
		t.Fatalf("query through the shim: %v", err)
	}

	sent, received := client.all(), server.all()
	if len(sent) != 5 || len(received) != len(sent) {
		t.Fatalf("%d requests sent, %d received; want 5 each", len(sent), len(received))
	}
	wantBodies := []string{wantHello, "", wantDescribe, "", ""} // "": the client's own
	for i, got := range received {
		was := sent[i]
		name := fmt.Sprintf("request %d (%.40q)", i, was.body.String())
		if !strings.Contains(was.url.RawQuery, "client_protocol_version=") {
			t.Errorf("%s: the client no longer sends client_protocol_version; revisit the shim", name)
		}
		if got.url.RawQuery != withoutSetting(was.url.RawQuery) {
			t.Errorf("%s: URL query\n got %s\nwant %s", name, got.url.RawQuery, withoutSetting(was.url.RawQuery))
		}
		if got.method != was.method || got.url.Host != was.url.Host || got.url.Path != was.url.Path || got.url.User.String() != was.url.User.String() {
			t.Errorf("%s: %s %s became %s %s", name, was.method, was.url.String(), got.method, got.url.String())
		}
		if !reflect.DeepEqual(got.header, was.header) {
			t.Errorf("%s: headers\n got %v\nwant %v", name, got.header, was.header)
		}
		want := wantBodies[i]
		if want == "" {
			want = was.body.String()
		}
		if got.body.String() != want {
			t.Errorf("%s: body\n got %q\nwant %q", name, got.body.String(), want)
		}
	}
	if b := sent[0].body.String(); b != "SELECT displayName(), version(), revision(), timezone()" {
		t.Errorf("the client's connect check is now %q; revisit the shim", b)
	}
	if b := sent[2].body.String(); b != "DESCRIBE TABLE events" {
		t.Errorf("the client's column lookup is now %q; revisit the shim", b)
	}
	if q := sent[3].url.Query().Get("query"); q != "INSERT INTO events (id, label) FORMAT Native" || sent[3].body.Len() == 0 {
		t.Errorf("batch insert: query %q with %d body bytes", q, sent[3].body.Len())
	}
}

// roundTrip passes one hand-made request through the shim and returns what
// reached the backend: the same *http.Request when nothing was rewritten.
func roundTrip(t *testing.T, req *http.Request) (*http.Request, string) {
	t.Helper()
	var got *http.Request
	var body string
	backend := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = r
		if r.Body != nil {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				t.Fatal(err)
			}
			body = string(b)
		}
		return answer(200, ""), nil
	})
	res, err := chstore.NewLegacyTransport(backend).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	return got, body
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func post(t *testing.T, rawURL, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestLegacyTransportDescribeNames(t *testing.T) {
	const u = "http://ch:8123/?client_protocol_version=54460&database=analytics&default_format=Native"
	for _, tc := range []struct {
		name            string
		database, table string // "": DESCRIBE left as is
	}{
		{"events", "currentDatabase()", "'events'"},
		{"analytics.events", "'analytics'", "'events'"},
		{"`analytics`.`events`", "'analytics'", "'events'"},
		{`"analytics"."events"`, "'analytics'", "'events'"},
		{"`my db`.`odd``name`", "'my db'", "'odd`name'"},
		{"`it's`", "currentDatabase()", `'it\'s'`},
		{"`back\\\\slash`", "currentDatabase()", `'back\\slash'`},
		{"`quote\\'s`", "currentDatabase()", `'quote\'s'`},
		{"_t1", "currentDatabase()", "'_t1'"},
		{"", "", ""},
		{"1abc", "", ""},
		{"``", "", ""},
		{"`unterminated", "", ""},
		{"events; DROP TABLE x", "", ""},
		{"a.b.c", "", ""},
		{"events FORMAT TSV", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, body := roundTrip(t, post(t, u, "DESCRIBE TABLE "+tc.name))
			want := "DESCRIBE TABLE " + tc.name
			if tc.database != "" {
				want = fmt.Sprintf("SELECT name, type, default_kind AS default_type, default_expression, comment,"+
					" '' AS codec_expression, '' AS ttl_expression FROM system.columns"+
					" WHERE database = %[1]s AND table = %[2]s AND (hasColumnInTable(%[1]s, %[2]s, '') OR 1)",
					tc.database, tc.table)
			}
			if body != want {
				t.Errorf("got  %s\nwant %s", body, want)
			}
		})
	}
}

func TestLegacyTransportLeavesOtherRequestsAlone(t *testing.T) {
	t.Run("no setting to drop, ordinary query: the very same request", func(t *testing.T) {
		req := post(t, "http://ch:8123/?database=analytics&default_format=Native", "SELECT displayName()")
		if got, body := roundTrip(t, req); got != req || body != "SELECT displayName()" {
			t.Errorf("request replaced (%v) or body changed: %q", got != req, body)
		}
	})
	t.Run("GET without a body", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodGet, "http://ch:8123/ping", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := roundTrip(t, req); got != req {
			t.Error("GET /ping was replaced")
		}
	})
	t.Run("data body: the SQL is in the URL, the body is left unread", func(t *testing.T) {
		req := post(t, "http://ch:8123/?query=INSERT+INTO+t+FORMAT+TSV", "DESCRIBE TABLE t\n")
		if got, body := roundTrip(t, req); got != req || body != "DESCRIBE TABLE t\n" {
			t.Errorf("insert data rewritten: %q", body)
		}
	})
	t.Run("only the setting is dropped; order and encoding of the rest kept", func(t *testing.T) {
		const q = "z=1&client_protocol_version=54460&a=%27x%27&client_protocol_version=1&b=%20"
		req := post(t, "http://ch:8123/?"+q, "SELECT 1")
		got, body := roundTrip(t, req)
		if got.URL.RawQuery != "z=1&a=%27x%27&b=%20" || body != "SELECT 1" {
			t.Errorf("query %q, body %q", got.URL.RawQuery, body)
		}
		if req.URL.RawQuery != q {
			t.Errorf("the caller's request was modified: %q", req.URL.RawQuery)
		}
	})
	t.Run("a failed connect check passes through for the client to report", func(t *testing.T) {
		backend := roundTripFunc(func(*http.Request) (*http.Response, error) {
			return answer(516, "Code: 516, e.displayText() = DB::Exception: default: Authentication failed\n"), nil
		})
		res, err := chstore.NewLegacyTransport(backend).RoundTrip(
			post(t, "http://ch:8123/?client_protocol_version=54460", "SELECT displayName(), version(), revision(), timezone()"))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 516 || !strings.Contains(string(b), "Authentication failed") {
			t.Errorf("got %d %q", res.StatusCode, b)
		}
	})
}

type idleCloser struct {
	roundTripFunc
	closed int
}

func (c *idleCloser) CloseIdleConnections() { c.closed++ }

// clickhouse-go closes a connection with http.Client.CloseIdleConnections,
// which reaches the transport only through the shim.
func TestLegacyTransportClosesIdleConnections(t *testing.T) {
	backend := &idleCloser{}
	(&http.Client{Transport: chstore.NewLegacyTransport(backend)}).CloseIdleConnections()
	if backend.closed != 1 {
		t.Errorf("CloseIdleConnections reached the transport %d times, want 1", backend.closed)
	}
}
