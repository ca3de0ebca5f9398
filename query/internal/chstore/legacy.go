package chstore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
)

// legacyTransport lets clickhouse-go's HTTP protocol work against ClickHouse
// 18.16 (19.x lacks the same things, but no 19.x was at hand to test). It
// was written against
// clickhouse-go v2.51.0 (conn_http.go, conn_http_query.go,
// conn_http_batch.go) and measured against Debian's 18.16.1: after a client
// upgrade, run the tests of this package against 18.16 again.
//
// It rewrites exactly three things and passes everything else through:
//
//  1. Every request carries client_protocol_version=<client revision> in its
//     URL (dialHttp). 18.16 refuses any request with a setting it does not
//     know ("Unknown setting client_protocol_version"), so it is dropped.
//     Without it the server frames Native results the way it always did
//     over HTTP: no block info, no custom-serialization flags (revision 0).
//  2. The connect check, "SELECT displayName(), version(), revision(),
//     timezone()", uses two functions 18.16 lacks. It becomes hostName() and
//     a UInt32 constant 0. The revision this answer reports is the one the
//     client decodes every later answer with, and 0 is the framing 18.16
//     writes. The client decodes this one answer with its own revision,
//     though, which expects block info: no SQL makes 18.16 write that, so
//     the answer is re-framed (decoded at revision 0, re-encoded at the
//     client's revision with the client's own codec; the values stay the
//     server's).
//  3. PrepareBatch asks "DESCRIBE TABLE <name>" and scans 7 columns; 18.16
//     answers 5 (no codec_expression, ttl_expression). It becomes a SELECT
//     on system.columns returning the same rows in the same order with the
//     two missing columns empty.
//
// Batch inserts (INSERT … FORMAT Native in the URL, a revision-0 Native
// block in the body) need nothing else: 18.16 reads them as they are. The
// only other change: the connect check's connection is not kept alive (see
// RoundTrip).
type legacyTransport struct {
	next http.RoundTripper
}

func newLegacyTransport(next http.RoundTripper) http.RoundTripper {
	return &legacyTransport{next: next}
}

const (
	// droppedSetting is the only URL setting clickhouse-go v2.51 adds on its
	// own that 18.16 rejects. Settings a caller opts into (async_insert,
	// send_profile_events, param_*) still reach the server, whose error
	// says clearly what it lacks.
	droppedSetting = "client_protocol_version"

	clientHello = "SELECT displayName(), version(), revision(), timezone()"
	// The aliases keep the column names of the original; the client reads
	// the columns by position, so they are only for whoever reads a log.
	legacyHello = "SELECT hostName() AS `displayName()`, version(), toUInt32(0) AS `revision()`, timezone()"

	describePrefix = "DESCRIBE TABLE " // fetchColumnNamesAndTypesForInsert
	// hasColumnInTable fails with the server's own "Table … doesn't exist"
	// when the table is missing, as DESCRIBE would; a bare system.columns
	// query would answer no rows and the batch would fail later, obscurely.
	legacyDescribe = "SELECT name, type, default_kind AS default_type, default_expression, comment," +
		" '' AS codec_expression, '' AS ttl_expression FROM system.columns" +
		" WHERE database = %[1]s AND table = %[2]s AND (hasColumnInTable(%[1]s, %[2]s, '') OR 1)"

	// maxInspectedBody bounds the bodies read to recognise the two queries
	// above, which are short; anything longer passes unread.
	maxInspectedBody = 4 << 10
)

func (t *legacyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rawQuery, dropped := dropQueryParam(req.URL.RawQuery, droppedSetting)
	sql, hello := "", false
	switch body := inspectBody(req); {
	case body == clientHello:
		sql, hello = legacyHello, true
	case strings.HasPrefix(body, describePrefix):
		sql, _ = describeAsSelect(strings.TrimPrefix(body, describePrefix))
	}
	if !dropped && sql == "" {
		return t.next.RoundTrip(req)
	}

	// A RoundTripper must not modify the caller's request.
	out := req.Clone(req.Context())
	out.URL.RawQuery = rawQuery
	if sql != "" {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		out.Body = io.NopCloser(strings.NewReader(sql))
		out.ContentLength = int64(len(sql))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(sql)), nil }
	}
	if hello {
		// When the connect check fails, clickhouse-go drops the connection's
		// http.Client without closing it (dialHttp), which would leave this
		// keep-alive socket and its goroutines until the server times it out.
		out.Close = true
	}
	res, err := t.next.RoundTrip(out)
	if err != nil || !hello || res.StatusCode != http.StatusOK {
		return res, err
	}
	return reframeHello(res)
}

// CloseIdleConnections passes the call on: http.Client.CloseIdleConnections,
// which clickhouse-go uses to close a connection, reaches the transport only
// through it, and without it every closed connection would leave a
// keep-alive socket and two goroutines behind.
func (t *legacyTransport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// inspectBody returns the SQL of a small query request, or "" for anything
// else: a body that is data (the SQL is then in the URL's query parameter,
// as for batch inserts), one that cannot be re-read, or a long one.
func inspectBody(req *http.Request) string {
	if req.Method != http.MethodPost || req.GetBody == nil ||
		req.ContentLength <= 0 || req.ContentLength > maxInspectedBody {
		return ""
	}
	if q, err := url.ParseQuery(req.URL.RawQuery); err != nil || q.Has("query") {
		return ""
	}
	// GetBody yields a fresh copy: req.Body stays unread for the request
	// that passes unchanged.
	body, err := req.GetBody()
	if err != nil {
		return ""
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, maxInspectedBody))
	if err != nil {
		return ""
	}
	return string(b)
}

// dropQueryParam removes every key=value pair named key from an encoded URL
// query, leaving the other pairs byte for byte (re-encoding url.Values
// would reorder them).
func dropQueryParam(rawQuery, key string) (string, bool) {
	if !strings.Contains(rawQuery, key) {
		return rawQuery, false
	}
	pairs := strings.Split(rawQuery, "&")
	kept := pairs[:0]
	for _, p := range pairs {
		k, _, _ := strings.Cut(p, "=")
		if name, err := url.QueryUnescape(k); err == nil && name == key {
			continue
		}
		kept = append(kept, p)
	}
	if len(kept) == len(pairs) {
		return rawQuery, false
	}
	return strings.Join(kept, "&"), true
}

// describeAsSelect turns the table name of "DESCRIBE TABLE name" into the
// equivalent system.columns query. ok is false for a name it cannot parse;
// the DESCRIBE then goes to the server unchanged and fails there.
func describeAsSelect(name string) (sql string, ok bool) {
	first, rest, ok := parseIdent(strings.TrimSpace(name))
	if !ok {
		return "", false
	}
	database, table := "currentDatabase()", quoteString(first)
	if strings.HasPrefix(rest, ".") {
		second, tail, ok := parseIdent(rest[1:])
		if !ok {
			return "", false
		}
		database, table, rest = quoteString(first), quoteString(second), tail
	}
	if strings.TrimSpace(rest) != "" {
		return "", false
	}
	return fmt.Sprintf(legacyDescribe, database, table), true
}

// parseIdent reads one identifier at the start of s: bare
// ([A-Za-z_][A-Za-z0-9_]*), `back-quoted` or "double-quoted", where the
// quote may be escaped by a backslash or doubled. It returns the unquoted
// name and what follows it.
func parseIdent(s string) (name, rest string, ok bool) {
	if s == "" {
		return "", "", false
	}
	if q := s[0]; q == '`' || q == '"' {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			switch c := s[i]; {
			case c == '\\' && i+1 < len(s):
				i++
				b.WriteByte(unescape(s[i]))
			case c == q && i+1 < len(s) && s[i+1] == q:
				i++
				b.WriteByte(q)
			case c == q:
				return b.String(), s[i+1:], b.Len() > 0
			default:
				b.WriteByte(c)
			}
		}
		return "", "", false
	}
	i := 0
	for i < len(s) && isBareIdentByte(s[i], i == 0) {
		i++
	}
	return s[:i], s[i:], i > 0
}

func isBareIdentByte(c byte, first bool) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || !first && '0' <= c && c <= '9'
}

// unescape maps the character after a backslash the way ClickHouse's lexer
// does for the escapes that can appear in a name.
func unescape(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 't':
		return '\t'
	case 'r':
		return '\r'
	case '0':
		return 0
	}
	return c
}

// quoteString makes s a ClickHouse string literal. Backslash and quote are
// the only characters that end or alter one.
func quoteString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// reframeHello re-encodes the connect check's answer (a revision-0 Native
// block from 18.16) with the framing clickhouse-go decodes it with, its
// own protocol revision. Anything unexpected is an error: a connection
// that misreads the server's revision or time zone must not be used.
func reframeHello(res *http.Response) (*http.Response, error) {
	defer res.Body.Close()
	if enc := res.Header.Get("Content-Encoding"); enc != "" {
		return nil, fmt.Errorf("clickhouse legacy shim: connect check answered with Content-Encoding %q, want none", enc)
	}
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("clickhouse legacy shim: read connect check answer: %w", err)
	}
	block := proto.Block{ServerContext: &column.ServerContext{}}
	r := chproto.NewReader(bytes.NewReader(raw))
	if err := block.Decode(r, 0); err != nil {
		return nil, fmt.Errorf("clickhouse legacy shim: decode connect check answer %q: %w", truncate(raw, 200), err)
	}
	if block.Rows() != 1 || len(block.Columns) != 4 {
		return nil, fmt.Errorf("clickhouse legacy shim: connect check answered %d rows of %d columns, want 1 of 4",
			block.Rows(), len(block.Columns))
	}
	if n, _ := r.Read(make([]byte, 1)); n != 0 {
		return nil, errors.New("clickhouse legacy shim: connect check answer has trailing data")
	}
	var buf chproto.Buffer
	if err := block.Encode(&buf, clickhouse.ClientTCPProtocolVersion); err != nil {
		return nil, fmt.Errorf("clickhouse legacy shim: encode connect check answer: %w", err)
	}
	out := *res
	out.Body = io.NopCloser(bytes.NewReader(buf.Buf))
	out.ContentLength = int64(len(buf.Buf))
	out.Header = res.Header.Clone()
	out.Header.Set("Content-Length", strconv.Itoa(len(buf.Buf)))
	out.TransferEncoding = nil
	return &out, nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
