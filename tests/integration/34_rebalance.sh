#!/usr/bin/env bash
# Scale-out and rebalances (SPEC §4.6, §4.8): beast A and B share group
# beast-events (file sink, each to its own out dir; Kafka offsets) on a topic
# of 8 partitions while beast-load produces 40,000 messages at 2,000/s. A
# third process C joins mid-stream (it must get partitions and write rows),
# then A gets SIGTERM and must exit 0, after which B and C own all 8
# partitions. At the end every offset is in the union of the out dirs,
# nothing was committed ahead of it, and committed == high watermark.
# Duplicates (replays after a rebalance) are allowed and reported: the
# librdkafka mock refuses offset commits with REBALANCE_IN_PROGRESS while the
# group rebalances (Kafka itself accepts them until the join completes), so
# what was acknowledged in that window is consumed again by the next owner.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/pipeline_lib.sh"

PARTITIONS=8
COUNT=40000
RATE=2000
PER_PARTITION=$((COUNT / PARTITIONS))
GROUP=beast-events

mock_start --topic "events:$PARTITIONS"
for name in a b c; do
  write_file_pipeline_config "$TEST_TMP/$name.conf" events "$TEST_TMP/out-$name"
done
"$O/bin/beast" check -c "$TEST_TMP/a.conf" >/dev/null || fail "beast check failed"

union_rows() {
  merge_out_dirs "$TEST_TMP/union" events "$PARTITIONS" "$TEST_TMP"/out-a "$TEST_TMP"/out-b "$TEST_TMP"/out-c
  distinct_rows "$TEST_TMP/union" events "$PARTITIONS"
}
rows_in() {
  cat "$TEST_TMP/out-$1"/events-*.ndjson 2>/dev/null | wc -l
}

beast_start "$TEST_TMP/a.conf" "$TEST_TMP/a.log"
PID_A=$BEAST_PID
beast_start "$TEST_TMP/b.conf" "$TEST_TMP/b.log"
PID_B=$BEAST_PID
wait_until 30 '[ "$(log_assigned_last "$TEST_TMP/a.log")" -gt 0 ] && [ "$(log_assigned_last "$TEST_TMP/b.log")" -gt 0 ]' ||
  fail "A and B did not both get partitions within 30 s (A: $(log_assigned_last "$TEST_TMP/a.log"), B: $(log_assigned_last "$TEST_TMP/b.log"))"
note "A and B share the group: A has $(log_assigned_last "$TEST_TMP/a.log"), B $(log_assigned_last "$TEST_TMP/b.log") partitions"

"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic events --format json --count "$COUNT" \
  --rate "$RATE" >"$TEST_TMP/load.log" 2>&1 &
LOAD_PID=$!
cleanup_add "kill $LOAD_PID 2>/dev/null"
load_started=$SECONDS

# C joins once a fifth of the messages landed.
wait_until 30 '[ "$(union_rows)" -ge $((COUNT / 5)) ]' || fail "only $(union_rows) rows landed within 30 s"
beast_start "$TEST_TMP/c.conf" "$TEST_TMP/c.log"
PID_C=$BEAST_PID
wait_until 30 '[ "$(log_assigned_last "$TEST_TMP/c.log")" -gt 0 ] && [ "$(rows_in c)" -gt 0 ]' ||
  fail "C did not get partitions and write rows within 30 s (C has $(log_assigned_last "$TEST_TMP/c.log") partitions, $(rows_in c) rows)"
note "C joined at $((SECONDS - load_started)) s: A $(log_assigned_last "$TEST_TMP/a.log"), B $(log_assigned_last "$TEST_TMP/b.log"), C $(log_assigned_last "$TEST_TMP/c.log") partitions"

# A leaves (SIGTERM: drain, commit, exit 0) while messages still arrive.
# shellcheck disable=SC2034 # read by the wait_until string below
a_rows_before=$(rows_in a)
wait_until 20 '[ "$(rows_in a)" -gt "$a_rows_before" ]' || fail "A wrote nothing after C joined"
beast_stop "$PID_A"
note "A stopped (exit 0) at $((SECONDS - load_started)) s with $(rows_in a) rows"
grep -q 'drained and committed' "$TEST_TMP/a.log" || fail "A's log has no clean-drain line"

wait "$LOAD_PID" || fail "beast-load failed: $(cat "$TEST_TMP/load.log")"
wait_until 45 '[ "$(union_rows)" -ge "$COUNT" ]' ||
  fail "only $(union_rows) of $COUNT distinct rows within 45 s of the end of the load"
wait_until 15 '[ "$(committed_total events "$GROUP")" -ge "$COUNT" ]' ||
  fail "committed only $(committed_total events "$GROUP") of $COUNT"
assigned_b=$(log_assigned_last "$TEST_TMP/b.log")
assigned_c=$(log_assigned_last "$TEST_TMP/c.log")
[ $((assigned_b + assigned_c)) -eq "$PARTITIONS" ] ||
  fail "after A left, B has $assigned_b and C $assigned_c partitions, expected $PARTITIONS together"
beast_stop "$PID_B"
beast_stop "$PID_C"

union_rows >/dev/null
check_every_offset "$TEST_TMP/union" events "$PARTITIONS" "$PER_PARTITION"
check_committed_not_ahead "$TEST_TMP/union" events "$GROUP"
check_committed_at_high events "$GROUP"
lines=$(cat "$TEST_TMP"/union/events-*.ndjson | wc -l)
[ -z "$(ls -A "$TEST_TMP/dlq" 2>/dev/null)" ] || fail "the DLQ is not empty for valid input"
commit_failures=$(cat "$TEST_TMP"/[abc].log | grep -c 'commit of .* failed')
note "rows: A $(rows_in a), B $(rows_in b), C $(rows_in c); $COUNT distinct, $((lines - COUNT)) duplicates; committed == high watermark; $((SECONDS - load_started)) s from the start of the load"
note "$commit_failures failed commits in the logs (the mock refuses commits while the group rebalances; each moves a replay start back)"
