#!/usr/bin/env bash
# tests/run.sh — runs beast's test suites and ends with one summary line,
# "N passed, M failed". Unit tests are cmocka binaries (each case counts);
# integration and chaos tests are scripts (each script counts once).
#   tests/run.sh              unit + integration + short chaos
#   tests/run.sh chaos        the full chaos suite (BEAST_CHAOS_FULL=1)
#   TESTS=pattern tests/run.sh  only tests whose name matches
set -u
cd "$(dirname "$0")/.."
export O="${O:-build}"
passed=0
failed=0
failures=()
logdir="$O/test-logs"
mkdir -p "$logdir"

run_unit() {
  local bin="$1" name out
  name=$(basename "$bin")
  out="$logdir/$name.log"
  CMOCKA_MESSAGE_OUTPUT=stdout "$bin" >"$out" 2>&1
  local rc=$?
  local p f
  p=$(grep -Eo '^\[  PASSED  \] [0-9]+' "$out" | grep -Eo '[0-9]+$' | tail -1)
  f=$(grep -Eo '^\[  FAILED  \] [0-9]+' "$out" | grep -Eo '[0-9]+$' | tail -1)
  p=${p:-0}; f=${f:-0}
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$f" -ne 0 ]; then
    failures+=("$name")
    echo "FAIL $name ($f failed) — log: $out"
    grep -E 'FAILED|Error|error|ERROR' "$out" | head -20
  else
    echo "ok   $name ($p cases)"
  fi
}

run_script() {
  local script="$1" name out start rc
  name=$(basename "$script" .sh)
  out="$logdir/$name.log"
  start=$(date +%s)
  timeout "${TEST_TIMEOUT:-600}" bash "$script" >"$out" 2>&1
  rc=$?
  local took=$(( $(date +%s) - start ))
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    echo "ok   $name (${took}s)"
  else
    failed=$((failed + 1))
    failures+=("$name")
    echo "FAIL $name (exit $rc, ${took}s) — last lines of $out:"
    tail -25 "$out" | sed 's/^/     /'
  fi
}

matches() { [ -z "${TESTS:-}" ] || [[ "$1" == *${TESTS}* ]]; }

suite="${1:-all}"
# The chaos suite alone runs in its full size unless told otherwise
# (BEAST_CHAOS_FULL=0 tests/run.sh chaos: the short one).
[ "$suite" = chaos ] && export BEAST_CHAOS_FULL="${BEAST_CHAOS_FULL:-1}"
if [ "$suite" = all ]; then
  for bin in "$O"/tests/test_*; do
    [ -x "$bin" ] || continue
    matches "$bin" && run_unit "$bin"
  done
  for script in tests/integration/[0-9][0-9]_*.sh; do
    [ -e "$script" ] || continue
    matches "$script" && run_script "$script"
  done
fi
for script in tests/chaos/[0-9][0-9]_*.sh; do
  [ -e "$script" ] || continue
  matches "$script" && run_script "$script"
done

if [ "${#failures[@]}" -gt 0 ]; then
  echo "failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
