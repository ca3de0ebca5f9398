# shellcheck shell=bash
# Helpers shared by kafka.sh and clickhouse.sh. Sourced, never executed.
# The caller sets ET_NAME (prefix of every message) and ET_PROC_SIGNATURE
# (a string found in the server's command line) before sourcing.

ET_TESTENV_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ET_ROOT="$(cd "$ET_TESTENV_HERE/../.." && pwd)"

# Cache dir: $ET_TESTENV_DIR or <repo>/.cache/testenv, always made absolute
# (paths end up in command lines that identify our own processes).
ET_CACHE="${ET_TESTENV_DIR:-$ET_ROOT/.cache/testenv}"
mkdir -p "$ET_CACHE"
ET_CACHE="$(cd "$ET_CACHE" && pwd)"

et_log() { printf '%s: %s\n' "$ET_NAME" "$*" >&2; }
et_die() { printf '%s: ERROR: %s\n' "$ET_NAME" "$*" >&2; exit 1; }

et_need() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || et_die "'$c' is required but not on PATH"
  done
}

# Seconds since the epoch with millisecond precision, for timings.
et_now() { date +%s.%N | cut -c1-14; }
et_since() { awk -v a="$1" -v b="$(et_now)" 'BEGIN { printf "%.1f", b - a }'; }

# et_alive PID: the process exists and is not a zombie.
et_alive() {
  local pid="$1" state
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/stat" ] || return 1
  state="$(sed -e 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
  [ -n "$state" ] && [ "$state" != "Z" ] && [ "$state" != "X" ]
}

# et_pid_is_ours PID MARKER: alive, and its command line contains both MARKER
# (an absolute path under the cache dir) and $ET_PROC_SIGNATURE (the server's
# main class or binary), so a recycled PID or an editor is never killed.
et_pid_is_ours() {
  local pid="$1" marker="$2" cmd
  et_alive "$pid" || return 1
  cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmd" == *"$marker"* && "$cmd" == *"$ET_PROC_SIGNATURE"* ]]
}

# et_find_pid PIDFILE MARKER: print the PID of our running process, if any.
# Falls back to scanning /proc for the exact MARKER when the pid file is lost.
et_find_pid() {
  local pidfile="$1" marker="$2" pid p
  if [ -s "$pidfile" ]; then
    pid="$(tr -dc '0-9' <"$pidfile")"
    if [ -n "$pid" ] && et_pid_is_ours "$pid" "$marker"; then
      echo "$pid"
      return 0
    fi
  fi
  for p in /proc/[0-9]*; do
    pid="${p#/proc/}"
    [ "$pid" = "$$" ] && continue
    if et_pid_is_ours "$pid" "$marker"; then
      echo "$pid"
      return 0
    fi
  done
  return 1
}

# et_port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
et_port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# et_stop PIDFILE MARKER GRACE_SECONDS: SIGTERM, wait, then SIGKILL.
# Never fails when nothing is running.
et_stop() {
  local pidfile="$1" marker="$2" grace="$3" pid i
  if ! pid="$(et_find_pid "$pidfile" "$marker")"; then
    rm -f "$pidfile"
    et_log "not running"
    return 0
  fi
  et_log "stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    et_alive "$pid" || break
    sleep 0.1
  done
  if et_alive "$pid"; then
    et_log "pid $pid still alive after ${grace}s: sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      et_alive "$pid" || break
      sleep 0.1
    done
  fi
  rm -f "$pidfile"
  if et_alive "$pid"; then
    et_log "WARNING: pid $pid did not exit"
  else
    et_log "stopped"
  fi
  return 0
}

# et_tail_logs FILE...: last 50 lines of each existing file, to stderr.
et_tail_logs() {
  local f
  for f in "$@"; do
    [ -s "$f" ] || continue
    printf -- '----- last 50 lines of %s -----\n' "$f" >&2
    tail -n 50 "$f" >&2
  done
}
