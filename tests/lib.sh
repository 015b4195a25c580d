# tests/lib.sh — sourced by every integration, chaos and benchmark script.
# Gives a fresh $TEST_TMP, cleanup on exit (even on failure), fail/note,
# polling, free ports, and the Kafka mock (mock_start/mock_stop).
# Safe under `set -u`; everything listens on 127.0.0.1 only.
#
#   source "$(dirname "$0")/../lib.sh"
#   mock_start --topic events:4          # sets MOCK_PID, MOCK_BOOTSTRAP
#   "$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic events ...
#   wait_until 30 '[ "$(count_rows)" -ge 100 ]' || fail "rows did not land"

# Repository root, and the build directory the tools are taken from ($O,
# default build/, made absolute so tests may cd anywhere).
BEAST_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
O="${O:-build}"
[[ "$O" == /* ]] || O="$BEAST_ROOT/$O"
export BEAST_ROOT O

MOCK_PID="${MOCK_PID:-}"
MOCK_BOOTSTRAP="${MOCK_BOOTSTRAP:-}"
_LIB_CLEANUP=()

# note MSG...: prints a progress line.
note() {
  echo "[$(basename "$0" .sh)] $*"
}

# fail MSG...: prints "FAIL: MSG" on stderr and exits 1 (cleanup runs).
# Called inside $( ... ) it only ends that subshell: test its status.
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# cleanup_add CMD [ARGS...]: runs at exit, last added first, errors ignored.
# One argument is a shell string (eval'd then: "kill $PID 2>/dev/null");
# several are one command and its arguments, run as given.
cleanup_add() {
  if [ "$#" -eq 1 ]; then
    _LIB_CLEANUP+=("$1")
  else
    _LIB_CLEANUP+=("$(printf '%q ' "$@")")
  fi
}

_lib_run_cleanup() {
  local rc=$? i
  trap - EXIT
  for ((i = ${#_LIB_CLEANUP[@]} - 1; i >= 0; i--)); do
    eval "${_LIB_CLEANUP[$i]}" >/dev/null 2>&1 || true
  done
  exit "$rc"
}
trap _lib_run_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# TEST_TMP: a fresh directory for this test, removed at exit.
TEST_TMP="$(mktemp -d "${TMPDIR:-/tmp}/beast-test.XXXXXX")" || fail "mktemp -d failed"
export TEST_TMP
cleanup_add rm -rf "$TEST_TMP"

# _lib_now_us: microseconds since the epoch.
_lib_now_us() {
  local now="${EPOCHREALTIME/[.,]/}"
  echo "$now"
}

# wait_until TIMEOUT_S CMD [ARGS...]: runs the command every 0.2 s until it
# succeeds (returns 0) or TIMEOUT_S seconds pass (returns 1). With one
# argument the command is a shell string, eval'd afresh each time, so
# expansions in single quotes are re-evaluated:
#   wait_until 30 '[ "$(wc -l <"$out")" -ge 100 ]'
# (`wait_until 30 test "$(wc -l <f)" -ge 100` expands $(...) only once.)
wait_until() {
  local timeout="$1" deadline
  shift
  deadline=$(awk -v now="$(_lib_now_us)" -v t="$timeout" 'BEGIN { printf "%.0f", now + t * 1000000 }')
  while :; do
    if [ "$#" -eq 1 ]; then
      eval "$1" && return 0
    else
      "$@" && return 0
    fi
    [ "$(_lib_now_us)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# free_port: prints a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()' && return 0
  fi
  local port tries
  for ((tries = 0; tries < 100; tries++)); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  fail "free_port: no free port found on 127.0.0.1"
}

# process_gone PID: true once PID has exited (or never existed).
process_gone() {
  ! kill -0 "$1" 2>/dev/null
}

# _lib_mock_ready OUT_FILE PID: the mock printed its first line, or it died.
_lib_mock_ready() {
  [ "$(wc -l <"$1")" -ge 1 ] || process_gone "$2"
}

# mock_start [--brokers N] --topic NAME:PARTITIONS ...: starts
# $O/bin/beast-kafka-mock in the background and waits up to 10 s for its
# bootstrap line; exports MOCK_PID and MOCK_BOOTSTRAP. The mock is killed at
# exit. Call it directly, not inside $( ... ), so mock_stop can wait for it.
mock_start() {
  local out="$TEST_TMP/mock.$$.$RANDOM"
  [ -x "$O/bin/beast-kafka-mock" ] || fail "mock_start: $O/bin/beast-kafka-mock not built (run make)"
  "$O/bin/beast-kafka-mock" "$@" >"$out.out" 2>"$out.err" &
  MOCK_PID=$!
  cleanup_add "kill -9 $MOCK_PID"
  wait_until 10 _lib_mock_ready "$out.out" "$MOCK_PID" ||
    fail "mock_start: beast-kafka-mock $* not up within 10 s: $(cat "$out.err")"
  MOCK_BOOTSTRAP="$(head -n 1 "$out.out")"
  if [ -z "$MOCK_BOOTSTRAP" ]; then
    local rc=0
    wait "$MOCK_PID" 2>/dev/null || rc=$?
    fail "mock_start: beast-kafka-mock $* exited $rc: $(cat "$out.err")"
  fi
  export MOCK_PID MOCK_BOOTSTRAP
}

# mock_stop: stops the mock from mock_start (SIGTERM, then SIGKILL after
# 10 s) and waits for it. Returns its exit status (0 after a clean stop;
# librdkafka makes that take up to 1 s).
mock_stop() {
  local rc=0
  [ -n "$MOCK_PID" ] || return 0
  kill -TERM "$MOCK_PID" 2>/dev/null
  wait_until 10 process_gone "$MOCK_PID" || kill -KILL "$MOCK_PID" 2>/dev/null
  wait "$MOCK_PID" 2>/dev/null || rc=$?
  MOCK_PID=""
  MOCK_BOOTSTRAP=""
  return "$rc"
}
