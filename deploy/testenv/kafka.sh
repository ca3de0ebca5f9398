#!/usr/bin/env bash
# Real Apache Kafka broker (KRaft, combined broker+controller) for the test suite,
# run as a plain background JVM. Jars come from Maven Central (see kafka/pom.xml).
#
#   kafka.sh fetch                 download the broker jars (skipped when complete)
#   kafka.sh start                 fetch if needed, wipe data, format, start, wait until ready
#   kafka.sh stop                  SIGTERM, up to 20 s, then SIGKILL; never fails
#   kafka.sh kill                  SIGKILL at once, as a crash (outage tests);
#                                  ET_TEST_KAFKA_KEEP_DATA=1 kafka.sh start restarts on the data
#   kafka.sh restart               stop + start
#   kafka.sh status                exit 0 when running, 3 when not
#   kafka.sh run-class CLASS ARGS  run a Kafka tool from the jars, e.g.
#                                  kafka.sh run-class org.apache.kafka.tools.TopicCommand \
#                                    --bootstrap-server 127.0.0.1:19092 --list
#   kafka.sh classpath             print the classpath ('<jars>/*')
#
# Environment: ET_TESTENV_DIR (cache dir, default <repo>/.cache/testenv),
# ET_TEST_KAFKA_PORT (19092), ET_TEST_KAFKA_CONTROLLER_PORT (19093),
# ET_TEST_KAFKA_VERSION (4.4.0), ET_TEST_KAFKA_HEAP_OPTS ("-Xms256m -Xmx512m"),
# ET_TEST_KAFKA_START_TIMEOUT (60 s), ET_TEST_KAFKA_EXTRA_PROPERTIES (lines
# appended to server.properties).
set -euo pipefail

ET_NAME=kafka
ET_PROC_SIGNATURE=" kafka.Kafka "
# shellcheck source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

KAFKA_VERSION="${ET_TEST_KAFKA_VERSION:-4.4.0}"
PORT="${ET_TEST_KAFKA_PORT:-19092}"
CONTROLLER_PORT="${ET_TEST_KAFKA_CONTROLLER_PORT:-19093}"
HEAP_OPTS="${ET_TEST_KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
START_TIMEOUT="${ET_TEST_KAFKA_START_TIMEOUT:-60}"
STOP_GRACE=20

POM="$ET_TESTENV_HERE/kafka/pom.xml"
KHOME="$ET_CACHE/kafka"
JARS="$KHOME/jars-$KAFKA_VERSION"
STAMP="$JARS/.complete"
M2="$ET_CACHE/m2"
RUN="$KHOME/run"
PROPS="$RUN/server.properties"
LOG4J="$RUN/log4j2.xml"
LOG="$RUN/kafka.log"
PIDFILE="$RUN/kafka.pid"
DATA="$RUN/data"

# What the stamp must say for the jars dir to count as complete: the version
# and the pom's checksum, so editing the pom triggers a new fetch.
stamp_content() {
  printf 'kafka %s pom-sha256 %s\n' "$KAFKA_VERSION" "$(sha256sum "$POM" | cut -d' ' -f1)"
}

jars_complete() {
  [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(stamp_content)" ] &&
    [ -f "$JARS/kafka_2.13-$KAFKA_VERSION.jar" ]
}

cmd_fetch() {
  jars_complete && return 0
  et_need mvn java sha256sum flock
  mkdir -p "$KHOME"
  # Serialise concurrent fetches (two test packages starting at once).
  exec 9>"$KHOME/.fetch.lock"
  flock 9
  if jars_complete; then exec 9>&-; return 0; fi

  local t0 tmp flog attempt
  t0="$(et_now)"
  tmp="$KHOME/.jars-$KAFKA_VERSION.tmp.$$"
  flog="$KHOME/fetch.log"
  rm -rf "$tmp"
  et_log "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central (log: $flog)"
  for attempt in 1 2 3; do
    rm -rf "$tmp" && mkdir -p "$tmp"
    if mvn -B -q -ntp -f "$POM" \
      -Dmaven.repo.local="$M2" \
      -Dkafka.version="$KAFKA_VERSION" \
      -Det.build.dir="$KHOME/.mvn-build" \
      dependency:copy-dependencies -DoutputDirectory="$tmp" >"$flog" 2>&1; then
      break
    fi
    if [ "$attempt" = 3 ]; then
      et_tail_logs "$flog"
      rm -rf "$tmp"
      et_die "maven could not fetch the Kafka $KAFKA_VERSION jars"
    fi
    et_log "fetch attempt $attempt failed; retrying in $((attempt * 5)) s"
    sleep $((attempt * 5))
  done
  [ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ] || {
    rm -rf "$tmp"
    et_die "fetch finished but kafka_2.13-$KAFKA_VERSION.jar is missing"
  }
  stamp_content >"$tmp/.complete"
  rm -rf "$JARS"
  mv "$tmp" "$JARS"
  exec 9>&-
  et_log "fetched $(find "$JARS" -name '*.jar' | wc -l) jars ($(du -sh "$JARS" | cut -f1)) in $(et_since "$t0") s"
}

# Java command line for client tools from the jars: small heap, quick start,
# warnings only and on stderr so that stdout carries just the tool's output.
TOOLS_LOG4J="$KHOME/tools-log4j2.xml"
TOOL_JAVA=(java -Xms32m -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC
  -Djava.awt.headless=true -Dlog4j2.configurationFile="$TOOLS_LOG4J" -cp "$JARS/*")

write_tools_log4j() {
  [ -f "$TOOLS_LOG4J" ] && return 0
  mkdir -p "$KHOME"
  cat >"$TOOLS_LOG4J.$$" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="warn">
  <Appenders>
    <Console name="stderr" target="SYSTEM_ERR">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Root level="warn">
      <AppenderRef ref="stderr"/>
    </Root>
  </Loggers>
</Configuration>
EOF
  mv -f "$TOOLS_LOG4J.$$" "$TOOLS_LOG4J"
}

run_class() {
  write_tools_log4j
  "${TOOL_JAVA[@]}" "$@"
}

# A random Kafka cluster id: 16 random bytes, URL-safe base64 without padding.
# Like Kafka's Uuid.randomUuid() it never starts with '-' (would look like an option).
random_cluster_id() {
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [[ "$id" == -* ]] || { echo "$id"; return; }
  done
}

write_config() {
  mkdir -p "$RUN"
  cat >"$PROPS" <<EOF
# Generated by deploy/testenv/kafka.sh on every start; edits are lost.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DATA
num.partitions=3
default.replication.factor=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
EOF
  if [ -n "${ET_TEST_KAFKA_EXTRA_PROPERTIES:-}" ]; then
    printf '# ET_TEST_KAFKA_EXTRA_PROPERTIES\n%s\n' "$ET_TEST_KAFKA_EXTRA_PROPERTIES" >>"$PROPS"
  fi

  # Everything to stdout (redirected to kafka.log); quiet the chattiest loggers.
  cat >"$LOG4J" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="warn">
  <Appenders>
    <Console name="stdout" target="SYSTEM_OUT">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Logger name="kafka.request.logger" level="warn"/>
    <Logger name="org.apache.kafka.clients" level="warn"/>
    <Logger name="org.apache.kafka.common.utils.AppInfoParser" level="warn"/>
    <Logger name="org.apache.kafka.common.config.AbstractConfig" level="warn"/>
    <Logger name="kafka.server.KafkaConfig" level="warn"/>
    <Root level="info">
      <AppenderRef ref="stdout"/>
    </Root>
  </Loggers>
</Configuration>
EOF
}

running_pid() { et_find_pid "$PIDFILE" "$PROPS"; }

cmd_start() {
  local t0 pid id deadline
  t0="$(et_now)"
  et_need java timeout
  cmd_fetch

  # start always means a fresh, empty broker: stop a previous one of ours.
  if running_pid >/dev/null; then
    et_log "already running: restarting with empty data"
    cmd_stop
  fi
  local p
  for p in "$PORT" "$CONTROLLER_PORT"; do
    if et_port_open "$p"; then
      et_die "port 127.0.0.1:$p is already in use by another process (set ET_TEST_KAFKA_PORT / ET_TEST_KAFKA_CONTROLLER_PORT)"
    fi
  done

  write_config
  # ET_TEST_KAFKA_KEEP_DATA=1 restarts on the existing log (broker outage tests).
  if [ "${ET_TEST_KAFKA_KEEP_DATA:-0}" = 1 ] && [ -f "$DATA/meta.properties" ]; then
    et_log "keeping existing data in $DATA"
  else
    rm -rf "$DATA"
    mkdir -p "$DATA"
    id="$(random_cluster_id)"
    if ! run_class kafka.tools.StorageTool format -t "$id" -c "$PROPS" >"$RUN/format.log" 2>&1; then
      et_tail_logs "$RUN/format.log"
      et_die "formatting the storage failed"
    fi
  fi

  # Fully detached: own session, no inherited stdio (a caller that waits on our
  # stdout, like Go's exec.Cmd, must not hang on the broker).
  (
    cd "$RUN"
    # shellcheck disable=SC2086
    exec setsid java -server $HEAP_OPTS \
      -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
      -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$LOG4J" -Dkafka.logs.dir="$RUN" \
      -cp "$JARS/*" kafka.Kafka "$PROPS"
  ) >"$LOG" 2>&1 </dev/null &
  pid=$!
  # setsid forks only when it is a process-group leader; should that ever
  # happen, $! is not the JVM: find the real PID by its command line.
  sleep 0.2
  if ! et_pid_is_ours "$pid" "$PROPS"; then
    pid="$(running_pid)" || {
      et_tail_logs "$LOG"
      et_die "the broker exited right after launch"
    }
  fi
  echo "$pid" >"$PIDFILE"
  et_log "started pid $pid, waiting for 127.0.0.1:$PORT (log: $LOG)"

  deadline=$((SECONDS + START_TIMEOUT))
  local phase=log
  while :; do
    if ! et_alive "$pid"; then
      rm -f "$PIDFILE"
      et_tail_logs "$LOG"
      et_die "the broker exited during startup"
    fi
    if [ "$phase" = log ] && grep -q "Kafka Server started" "$LOG" && et_port_open "$PORT"; then
      phase=client
    fi
    # The broker answers metadata: Kafka's own admin client lists topics.
    if [ "$phase" = client ] &&
      timeout 30 "${TOOL_JAVA[@]}" org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$PORT" --list \
        >"$RUN/ready-check.log" 2>&1; then
      break
    fi
    if ((SECONDS >= deadline)); then
      et_tail_logs "$LOG" "$RUN/ready-check.log"
      cmd_stop
      et_die "the broker was not ready within ${START_TIMEOUT}s (phase: $phase); stopped it"
    fi
    sleep 0.5
  done
  et_log "ready after $(et_since "$t0") s"
  echo "kafka: Apache Kafka $KAFKA_VERSION ready on 127.0.0.1:$PORT (pid $pid)"
}

cmd_stop() {
  et_stop "$PIDFILE" "$PROPS" "$STOP_GRACE"
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    if et_port_open "$PORT"; then
      echo "kafka: running (pid $pid) on 127.0.0.1:$PORT"
    else
      echo "kafka: running (pid $pid), port 127.0.0.1:$PORT not open (yet)"
    fi
    return 0
  fi
  echo "kafka: not running"
  return 3
}

usage() {
  sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

case "${1:-}" in
  fetch) cmd_fetch ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  kill) et_stop "$PIDFILE" "$PROPS" 0 ;; # a crash, for outage tests
  restart) cmd_stop; cmd_start ;;
  status) cmd_status ;;
  run-class)
    shift
    [ $# -ge 1 ] || usage
    cmd_fetch
    write_tools_log4j
    exec "${TOOL_JAVA[@]}" "$@"
    ;;
  classpath) cmd_fetch; echo "$JARS/*" ;;
  *) usage ;;
esac
