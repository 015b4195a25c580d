#!/usr/bin/env bash
# When the final commit cannot be made (Kafka gone at shutdown), beast must
# not claim a clean drain: it retries until shutdown_timeout_s, says what it
# means (re-delivery, not loss) and exits 1.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/pipeline_lib.sh"

mock_start --topic events:2
write_file_pipeline_config "$TEST_TMP/beast.conf" events "$TEST_TMP/out" kafka \
  'commit_interval_ms = 600000;'
sed -i 's/^    commit_interval_ms = 200;$//; s/^shutdown_timeout_s = 20;/shutdown_timeout_s = 4;/' "$TEST_TMP/beast.conf"
"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic events --format json --count 2000 >/dev/null
beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"
wait_until 30 '[ "$(distinct_rows "$TEST_TMP/out" events 2)" -ge 2000 ]' || fail "rows did not land"
[ "$(committed_total events beast-events)" -eq 0 ] || fail "committed before shutdown"
mock_stop
start=$(date +%s)
kill -TERM "$BEAST_PID"
wait "$BEAST_PID"
rc=$?
took=$(($(date +%s) - start))
[ "$rc" -eq 1 ] || fail "exit $rc after a failed final commit, expected 1: $(tail -5 "$TEST_TMP/beast.log")"
[ "$took" -le 25 ] || fail "took $took s to give up (shutdown_timeout_s = 4)"
grep -q "final commit failed" "$TEST_TMP/beast.log" || fail "no 'final commit failed' line"
! grep -q "drained and committed" "$TEST_TMP/beast.log" || fail "claimed a clean drain"
note "final commit failure: exit 1 after ${took}s with a clear line"
