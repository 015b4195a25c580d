#!/usr/bin/env bash
# Rebalance with the cooperative-sticky assignor (incremental assign and
# revoke): beast A consumes alone, B joins mid-load, A leaves with SIGTERM.
# Every offset lands in A's or B's files, both exit 0, and the group ends
# with committed == high watermark on every partition.
# (With librdkafka 2.0.2's mock, the first cooperative rebalance often ends
# with A's partitions "lost" after a generation change: A then commits
# nothing for them and B replays them; duplicates, never gaps.)
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/pipeline_lib.sh"

mock_start --topic events:8
strategy='kafka = { partition_assignment_strategy = "cooperative-sticky"; };'
write_file_pipeline_config "$TEST_TMP/a.conf" events "$TEST_TMP/out-a" kafka "$strategy"
write_file_pipeline_config "$TEST_TMP/b.conf" events "$TEST_TMP/out-b" kafka "$strategy"
"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic events --format json --count 40000 \
  --rate 4000 >"$TEST_TMP/load.log" 2>&1 &
LOAD_PID=$!
cleanup_add "kill $LOAD_PID 2>/dev/null"

beast_start "$TEST_TMP/a.conf" "$TEST_TMP/a.log"
A=$BEAST_PID
wait_until 30 '[ -n "$(ls "$TEST_TMP/out-a" 2>/dev/null)" ]' || fail "A wrote nothing in 30 s"
beast_start "$TEST_TMP/b.conf" "$TEST_TMP/b.log"
B=$BEAST_PID
wait_until 40 'grep -q "assigned" "$TEST_TMP/b.log"' || fail "B was never assigned partitions"
BEAST_PID=$A beast_stop
wait "$LOAD_PID" || fail "beast-load failed"

union() { cat "$TEST_TMP"/out-a/*.ndjson "$TEST_TMP"/out-b/*.ndjson 2>/dev/null; }
distinct() { union | grep -o '"message_partition":[0-9]*,"message_offset":[0-9]*' | sort -u | wc -l; }
wait_until 60 '[ "$(distinct)" -ge 40000 ]' || fail "only $(distinct) of 40000 distinct rows landed"
wait_until 20 '[ "$(committed_total events beast-events)" -ge 40000 ]' ||
  fail "committed only $(committed_total events beast-events) of 40000"
BEAST_PID=$B beast_stop
[ "$(distinct)" -eq 40000 ] || fail "distinct rows: $(distinct), expected 40000"
grep -q "assigned" "$TEST_TMP/a.log" || fail "A never logged an assignment"
note "cooperative-sticky: 40000 distinct rows over A and B ($(union | wc -l) lines), committed == high"
