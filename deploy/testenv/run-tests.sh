#!/usr/bin/env bash
# The test command (make test): installs and starts what the tests need — a
# real Apache Kafka broker and a real ClickHouse server, both as plain
# processes on test ports — runs every module's checks and tests against
# them, and stops both servers on exit, also when a test fails.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
TESTENV="$ROOT/deploy/testenv"

stop_servers() {
  "$TESTENV/kafka.sh" stop || true
  "$TESTENV/clickhouse.sh" stop || true
}
trap stop_servers EXIT
trap 'exit 130' INT TERM

step() { printf '\n==> %s\n' "$*"; }

step "tool versions"
go version
java -version 2>&1 | head -1

step "static checks: gofmt, go vet"
unformatted="$(gofmt -l $(go list -m -f '{{.Dir}}'))"
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
# Every workspace module, by import path (go.work lists them).
mapfile -t ALL_MODULES < <(go list -m -f '{{.Path}}/...')
go vet "${ALL_MODULES[@]}"
# The end-to-end suite kills and restarts the shared broker: it runs on its
# own, after everything else.
E2E=github.com/eventtarget/eventtarget/deploy/e2e/...
MODULES=()
for m in "${ALL_MODULES[@]}"; do [ "$m" = "$E2E" ] || MODULES+=("$m"); done

step "deployment files: docker-compose.yml and Kubernetes manifests"
"$ROOT/deploy/lint.sh"

step "fetching the DB-IP database (tests of the real file skip without it)"
"$ROOT/deploy/geoip/fetch-dbip.sh" || echo "DB-IP City Lite unavailable: the real-data tests will skip"

step "starting ClickHouse and Apache Kafka"
"$TESTENV/clickhouse.sh" start
"$TESTENV/kafka.sh" start

export ET_TEST_KAFKA_BROKERS="127.0.0.1:${ET_TEST_KAFKA_PORT:-19092}"
export ET_TEST_REQUIRE_REAL_KAFKA=1
export ET_TEST_CLICKHOUSE_NATIVE="127.0.0.1:${ET_TEST_CLICKHOUSE_TCP_PORT:-19000}"
export ET_TEST_CLICKHOUSE_HTTP="http://127.0.0.1:${ET_TEST_CLICKHOUSE_HTTP_PORT:-18123}"
export ET_TEST_REQUIRE_CLICKHOUSE=1

step "go test (race detector on) against kfake, Apache Kafka at $ET_TEST_KAFKA_BROKERS and ClickHouse at $ET_TEST_CLICKHOUSE_NATIVE"
# -v shows every test and subtest by name (the integration tests name their
# broker: .../kfake and .../apache-kafka); the RUN/PAUSE/CONT chatter is dropped.
set +e
go test -race -count=1 -v -timeout 20m "${MODULES[@]}" 2>&1 | grep --line-buffered -vE '^=== (RUN|PAUSE|CONT|NAME)'
status="${PIPESTATUS[0]}"
set -e
if [ "$status" -ne 0 ]; then
  step "FAILED (go test exit $status)"
  exit "$status"
fi

step "end-to-end and fault suites: the real processes, on the embedded broker and on Apache Kafka"
set +e
go test -count=1 -v -timeout 30m "$E2E" 2>&1 | grep --line-buffered -vE '^=== (RUN|PAUSE|CONT|NAME)'
status="${PIPESTATUS[0]}"
set -e
if [ "$status" -ne 0 ]; then
  step "FAILED (end-to-end suite exit $status)"
  exit "$status"
fi
step "the load tool in quick mode (make bench runs it in full)"
"$ROOT/deploy/bench/run.sh" --quick --out "$ROOT/.cache/bench-quick"

step "all tests passed"
