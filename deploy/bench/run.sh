#!/usr/bin/env bash
# make bench: runs the load tool (deploy/bench/cmd/loadgen) against ingest on
# the embedded broker (default) or the real Apache Kafka broker
# (--broker apache), and writes bench/out/report.md and report.json.
#   deploy/bench/run.sh [--quick] [--broker embedded|apache] [--out DIR]
# --quick shortens every phase (the test command runs it so the tool cannot rot).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
QUICK=() BROKER=embedded OUT="$ROOT/bench/out"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=(-quick) ;;
    --broker) BROKER="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    *) echo "usage: $0 [--quick] [--broker embedded|apache] [--out DIR]" >&2; exit 2 ;;
  esac
  shift
done

BIN="$(mktemp -d)"
TMP="$(mktemp -d)"
PIDS=()
STOP_KAFKA=0
CH_ENV=(ET_TESTENV_DIR="$TMP/clickhouse" ET_TEST_CLICKHOUSE_TCP_PORT=39000 ET_TEST_CLICKHOUSE_HTTP_PORT=38123)
cleanup() {
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do kill -TERM "${PIDS[$i]}" 2>/dev/null || true; wait "${PIDS[$i]}" 2>/dev/null || true; done
  env "${CH_ENV[@]}" "$ROOT/deploy/testenv/clickhouse.sh" stop >/dev/null 2>&1 || true
  if [ "$STOP_KAFKA" = 1 ]; then "$ROOT/deploy/testenv/kafka.sh" stop || true; fi
  rm -rf "$BIN" "$TMP"
}
trap cleanup EXIT

go build -o "$BIN/" ./ingest/cmd/ingest ./query/cmd/query ./deploy/localkafka/cmd/localkafka ./deploy/bench/cmd/loadgen

wait_http() {
  for _ in $(seq 1 300); do
    if curl -sf "$1" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "bench: $1 not ready" >&2; exit 1
}

case "$BROKER" in
  embedded)
    "$BIN/localkafka" -port 39092 -data-dir "$TMP/kafka" -log-level warn >"$TMP/localkafka.log" 2>&1 &
    BROKER_PID=$!; PIDS+=("$BROKER_PID")
    BROKERS=127.0.0.1:39092
    for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/39092) 2>/dev/null && break; sleep 0.1; done
    ;;
  apache)
    if [ -z "${ET_TEST_KAFKA_BROKERS:-}" ]; then "$ROOT/deploy/testenv/kafka.sh" start; STOP_KAFKA=1; fi
    BROKERS="${ET_TEST_KAFKA_BROKERS:-127.0.0.1:19092}"
    BROKER_PID="$(tr -dc '0-9' <"${ET_TESTENV_DIR:-$ROOT/.cache/testenv}/kafka/run/kafka.pid")"
    ;;
  *) echo "bench: --broker embedded or apache" >&2; exit 2 ;;
esac

TOPIC="bench.raw.$(date +%s%N)"
INGEST_LISTEN_ADDR=127.0.0.1:38001 INGEST_KAFKA_BROKERS="$BROKERS" INGEST_RAW_TOPIC="$TOPIC" \
  INGEST_RAW_TOPIC_REPLICATION_FACTOR=1 INGEST_LOG_LEVEL=warn "$BIN/ingest" >"$TMP/ingest.log" 2>&1 &
INGEST_PID=$!; PIDS+=("$INGEST_PID")
wait_http http://127.0.0.1:38001/readyz

# The query stage: a private ClickHouse and the query service over it.
env "${CH_ENV[@]}" "$ROOT/deploy/testenv/clickhouse.sh" start
QUERY_LISTEN_ADDR=127.0.0.1:38002 QUERY_CLICKHOUSE_NATIVE_ADDR=127.0.0.1:39000 QUERY_CLICKHOUSE_HTTP_ADDR=127.0.0.1:38123 \
  QUERY_CLICKHOUSE_DATABASE=bench QUERY_LOG_LEVEL=warn "$BIN/query" >"$TMP/query.log" 2>&1 &
QUERY_PID=$!; PIDS+=("$QUERY_PID")
wait_http http://127.0.0.1:38002/readyz
ROWS=1000000,10000000
if [ ${#QUICK[@]} -gt 0 ]; then ROWS=100000; fi

"$BIN/loadgen" -ingest-url http://127.0.0.1:38001 -out "$OUT" -broker "$BROKER" \
  -pids "ingest=$INGEST_PID,broker=$BROKER_PID" "${QUICK[@]}" \
  -query-url http://127.0.0.1:38002 -clickhouse-http http://127.0.0.1:38123 -clickhouse-database bench -rows "$ROWS"
cat "$OUT/report.md"
