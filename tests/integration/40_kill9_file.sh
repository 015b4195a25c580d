#!/usr/bin/env bash
# kill -9 of beast three times while it consumes 50,000 messages from 4
# partitions into the file sink. After each kill, nothing is committed ahead
# of what is in the files; after the last restart every offset is present.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/pipeline_lib.sh"

KILLS=${KILLS:-3}
mock_start --topic events:4
write_file_pipeline_config "$TEST_TMP/beast.conf" events "$TEST_TMP/out"
"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic events --format json --count 50000 \
  --rate 1500 >"$TEST_TMP/load.log" 2>&1 &
LOAD_PID=$!
cleanup_add "kill $LOAD_PID 2>/dev/null"

beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"
for ((k = 1; k <= KILLS; k++)); do
  # Wait until this incarnation has written something new, then a random moment.
  before=$(distinct_rows "$TEST_TMP/out" events 4)
  wait_until 60 '[ "$(distinct_rows "$TEST_TMP/out" events 4)" -gt "$before" ] || [ "$before" -ge 50000 ]' ||
    { tail -30 "$TEST_TMP/beast.log"; fail "kill $k: no progress within 60 s"; }
  sleep "0.$((RANDOM % 9 + 1))"
  kill -9 "$BEAST_PID"
  wait "$BEAST_PID" 2>/dev/null
  landed=$(distinct_rows "$TEST_TMP/out" events 4)
  committed=$(committed_total events beast-events)
  note "kill $k: $landed distinct rows in files, $committed committed"
  check_committed_not_ahead "$TEST_TMP/out" events beast-events
  beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"
done
wait "$LOAD_PID" || fail "beast-load failed: $(cat "$TEST_TMP/load.log")"
wait_until 120 '[ "$(distinct_rows "$TEST_TMP/out" events 4)" -ge 50000 ]' ||
  fail "only $(distinct_rows "$TEST_TMP/out" events 4) of 50000 rows after the last restart"
wait_until 15 '[ "$(committed_total events beast-events)" -ge 50000 ]' ||
  fail "committed only $(committed_total events beast-events)"
beast_stop
check_every_offset "$TEST_TMP/out" events 4 12500
check_committed_not_ahead "$TEST_TMP/out" events beast-events
note "$KILLS kills: all 50000 offsets present, nothing committed ahead of the files"
