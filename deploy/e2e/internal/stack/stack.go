// Package stack runs the whole pipeline as real processes for end-to-end
// tests: the commands are built from this workspace, Kafka is the embedded
// broker (localkafka, its own process) or the real Apache Kafka broker the
// test command started, ClickHouse is a private server, and the remote
// geolocation API is the fake one. Every service reaches the others over TCP
// exactly as in production.
package stack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Root is the repository root.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
}

var commands = []string{"ingest/cmd/ingest", "enricher/cmd/enricher", "enricher/cmd/fakegeo", "query/cmd/query",
	"query/cmd/loader", "deploy/localkafka/cmd/localkafka", "deploy/gateway/cmd/gateway"}

// build compiles every command once per test binary.
var build = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "event-target-e2e-bin-")
	if err != nil {
		return "", err
	}
	args := []string{"build", "-o", dir + "/"}
	for _, c := range commands {
		args = append(args, "./"+c)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = Root()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return dir, nil
})

// Kind is the Kafka the stack runs on.
type Kind string

// The two brokers of the suite.
const (
	Embedded    Kind = "embedded"     // localkafka (kfake with a data folder), a process of its own
	ApacheKafka Kind = "apache-kafka" // the broker deploy/testenv/kafka.sh started
)

// Ports of the stack; apart from the local run's and the test servers'.
const (
	GatewayPort  = 28000
	ingestPort   = 28001
	queryPort    = 28002
	enricherPort = 28003
	loaderPort   = 28004
	fakeGeoPort  = 28090
	localKafka   = 29092
	chNative     = 29000
	chHTTP       = 28123
)

// Location is what the stack's geolocation sources say about an address.
type Location struct {
	IP, City, CountryISO, CountryName string
	Lat, Lon                          float64
	InAPI                             bool // the fake API knows it (the local database knows all)
}

// Stack is a running pipeline.
type Stack struct {
	Kind     Kind
	URL      string // the single origin
	FakeGeo  string // the fake geolocation API's base URL
	Dir      string
	Procs    map[string]*Proc
	brokers  string
	chEnv    []string
	kafkaEnv []string
}

func (s *Stack) proc(name, bin string, health string, env ...string) *Proc {
	p := &Proc{Name: name, bin: bin, env: env, health: health, log: filepath.Join(s.Dir, name+".log")}
	s.Procs[name] = p
	return p
}

func url(port int) string { return "http://127.0.0.1:" + itoa(port) }

// Start builds and starts everything; Stop (registered with t.Cleanup) stops
// it all gracefully and fails the test if a service does not exit 0.
func Start(t *testing.T, kind Kind, places []Location) *Stack {
	t.Helper()
	bin, err := build()
	if err != nil {
		t.Fatal(err)
	}
	var r [3]byte
	_, _ = rand.Read(r[:])
	prefix := "e2e." + string(kind) + "." + hex.EncodeToString(r[:])
	s := &Stack{Kind: kind, URL: url(GatewayPort), FakeGeo: url(fakeGeoPort), Dir: t.TempDir(), Procs: map[string]*Proc{}}
	t.Cleanup(func() { s.stop(t) })

	switch kind {
	case Embedded:
		s.brokers = "127.0.0.1:" + itoa(localKafka)
		k := s.proc("localkafka", filepath.Join(bin, "localkafka"), "",
			"LOCALKAFKA_PORT="+itoa(localKafka), "LOCALKAFKA_DATA_DIR="+filepath.Join(s.Dir, "kafka-data"))
		k.Start(t)
		waitPort(t, localKafka)
	case ApacheKafka:
		s.brokers = os.Getenv("ET_TEST_KAFKA_BROKERS")
		if s.brokers == "" {
			t.Skip("ET_TEST_KAFKA_BROKERS not set: no Apache Kafka broker (make test starts one)")
		}
	}

	s.chEnv = []string{"ET_TESTENV_DIR=" + filepath.Join(s.Dir, "clickhouse"),
		"ET_TEST_CLICKHOUSE_TCP_PORT=" + itoa(chNative), "ET_TEST_CLICKHOUSE_HTTP_PORT=" + itoa(chHTTP)}
	s.clickhouse(t, "start")

	table, db := s.geoFiles(t, places)
	s.proc("fakegeo", filepath.Join(bin, "fakegeo"), url(fakeGeoPort)+"/control/table",
		"FAKEGEO_LISTEN_ADDR=127.0.0.1:"+itoa(fakeGeoPort), "FAKEGEO_TABLE="+table, "FAKEGEO_LOG_LEVEL=warn").Start(t)

	topics := []string{"RAW_TOPIC=" + prefix + ".raw", "ENRICHED_TOPIC=" + prefix + ".enriched"}
	ch := []string{"CLICKHOUSE_NATIVE_ADDR=127.0.0.1:" + itoa(chNative), "CLICKHOUSE_HTTP_ADDR=127.0.0.1:" + itoa(chHTTP), "CLICKHOUSE_DATABASE=e2e"}
	with := func(prefix string, vars ...string) []string {
		out := make([]string, len(vars))
		for i, v := range vars {
			out[i] = prefix + v
		}
		return out
	}
	s.proc("ingest", filepath.Join(bin, "ingest"), url(ingestPort)+"/readyz", with("INGEST_",
		"LISTEN_ADDR=127.0.0.1:"+itoa(ingestPort), "KAFKA_BROKERS="+s.brokers, topics[0], "RAW_TOPIC_PARTITIONS=3",
		"RAW_TOPIC_REPLICATION_FACTOR=1", "PRODUCE_TIMEOUT=3s")...).Start(t)
	s.proc("enricher", filepath.Join(bin, "enricher"), url(enricherPort)+"/readyz", with("ENRICHER_",
		"HEALTH_ADDR=127.0.0.1:"+itoa(enricherPort), "KAFKA_BROKERS="+s.brokers, topics[0], topics[1],
		"DLQ_TOPIC="+prefix+".dlq", "TOPIC_PARTITIONS=3", "TOPIC_REPLICATION_FACTOR=1",
		"GROUP="+prefix+".enricher", "TRANSACTIONAL_ID="+prefix+".enricher", "INSTANCE_ID="+prefix+".enricher-0",
		"GEO_API=ip-api", "GEO_API_URL="+url(fakeGeoPort), "GEO_API_MAX_ELAPSED=2s", "GEO_API_MAX_ATTEMPTS=3",
		"GEO_API_MAX_RATE_LIMIT_PAUSE=2s", "GEO_API_BREAKER_OPEN=5s", "TRANSACTION_TIMEOUT=1m",
		"SESSION_TIMEOUT=6s", "CACHE_TTL=1s", "MMDB_PATHS="+db)...).Start(t)
	s.proc("loader", filepath.Join(bin, "loader"), url(loaderPort)+"/readyz", append(with("LOADER_",
		"HEALTH_ADDR=127.0.0.1:"+itoa(loaderPort), "KAFKA_BROKERS="+s.brokers, topics[0], topics[1],
		"GROUP="+prefix+".loader", "BATCH_LINGER=100ms", "SESSION_TIMEOUT=6s", "MAX_BACKOFF=2s"), with("LOADER_", ch...)...)...).Start(t)
	s.proc("query", filepath.Join(bin, "query"), url(queryPort)+"/readyz", append(with("QUERY_",
		"LISTEN_ADDR=127.0.0.1:"+itoa(queryPort)), with("QUERY_", ch...)...)...).Start(t)
	s.proc("gateway", filepath.Join(bin, "gateway"), url(GatewayPort)+"/readyz", with("GATEWAY_",
		"LISTEN_ADDR=127.0.0.1:"+itoa(GatewayPort), "INGEST_URL="+url(ingestPort), "QUERY_URL="+url(queryPort))...).Start(t)
	return s
}

// geoFiles writes the fake API's table and the local database.
func (s *Stack) geoFiles(t *testing.T, places []Location) (table, db string) {
	t.Helper()
	type entry struct {
		IP          string  `json:"ip"`
		City        string  `json:"city"`
		CountryISO  string  `json:"country_iso"`
		CountryName string  `json:"country_name"`
		Latitude    float64 `json:"latitude"`
		Longitude   float64 `json:"longitude"`
	}
	var entries []entry
	for _, p := range places {
		if p.InAPI {
			entries = append(entries, entry{p.IP, p.City, p.CountryISO, p.CountryName, p.Lat, p.Lon})
		}
	}
	b, _ := json.Marshal(entries)
	table = filepath.Join(s.Dir, "geo-table.json")
	if err := os.WriteFile(table, b, 0o644); err != nil {
		t.Fatal(err)
	}
	db = filepath.Join(s.Dir, "city.mmdb")
	if err := writeCityDB(db, places); err != nil {
		t.Fatal(err)
	}
	return table, db
}

func (s *Stack) clickhouse(t testing.TB, cmd string, env ...string) {
	t.Helper()
	c := exec.Command(filepath.Join(Root(), "deploy", "testenv", "clickhouse.sh"), cmd)
	c.Env = append(append(os.Environ(), s.chEnv...), env...)
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("clickhouse.sh %s: %v\n%s", cmd, err, out)
	}
}

// StopClickHouse stops the private ClickHouse server (gracefully).
func (s *Stack) StopClickHouse(t testing.TB) { s.clickhouse(t, "stop") }

// StartClickHouse starts it again on its data.
func (s *Stack) StartClickHouse(t testing.TB) {
	s.clickhouse(t, "start", "ET_TEST_CLICKHOUSE_KEEP_DATA=1")
}

// KillBroker kills the broker process with SIGKILL; RestartBroker starts it
// on its data again.
func (s *Stack) KillBroker(t testing.TB) {
	t.Helper()
	if s.Kind == Embedded {
		s.Procs["localkafka"].Kill(t)
		return
	}
	s.kafkaScript(t, "kill")
}

// RestartBroker starts the killed broker on its data.
func (s *Stack) RestartBroker(t testing.TB) {
	t.Helper()
	if s.Kind == Embedded {
		s.Procs["localkafka"].Start(t)
		waitPort(t, localKafka)
		return
	}
	s.kafkaScript(t, "start", "ET_TEST_KAFKA_KEEP_DATA=1")
}

func (s *Stack) kafkaScript(t testing.TB, cmd string, env ...string) {
	t.Helper()
	c := exec.Command(filepath.Join(Root(), "deploy", "testenv", "kafka.sh"), cmd)
	c.Env = append(os.Environ(), env...)
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("kafka.sh %s: %v\n%s", cmd, err, out)
	}
}

// stop stops every service in reverse dependency order, then the servers.
func (s *Stack) stop(t *testing.T) {
	for _, name := range []string{"gateway", "query", "loader", "enricher", "ingest", "fakegeo", "localkafka"} {
		if p := s.Procs[name]; p != nil {
			p.Stop(t)
		}
	}
	if len(s.chEnv) > 0 {
		c := exec.Command(filepath.Join(Root(), "deploy", "testenv", "clickhouse.sh"), "stop")
		c.Env = append(os.Environ(), s.chEnv...)
		_ = c.Run()
	}
	if t.Failed() {
		for name, p := range s.Procs {
			b, _ := os.ReadFile(p.log)
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) > 30 {
				lines = lines[len(lines)-30:]
			}
			t.Logf("--- last lines of %s ---\n%s", name, strings.Join(lines, "\n"))
		}
	}
}

func waitPort(t testing.TB, port int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+itoa(port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("port %d not open after 30 s", port)
}
