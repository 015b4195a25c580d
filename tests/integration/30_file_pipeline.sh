#!/usr/bin/env bash
# Mock Kafka → beast (json decoder) → file sink: 4 partitions, 50,000
# messages; every offset lands, SIGTERM drains and exits 0, and the group's
# committed offsets equal the high watermarks afterwards.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/pipeline_lib.sh"

mock_start --topic events:4
write_file_pipeline_config "$TEST_TMP/beast.conf" events "$TEST_TMP/out"
"$O/bin/beast" check -c "$TEST_TMP/beast.conf" >/dev/null || fail "beast check failed"

"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic events --format json --count 50000 ||
  fail "beast-load failed"
beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"
wait_until 90 '[ "$(distinct_rows "$TEST_TMP/out" events 4)" -ge 50000 ]' ||
  fail "only $(distinct_rows "$TEST_TMP/out" events 4) of 50000 rows landed in 90 s"
# Let a commit interval pass, then drain.
wait_until 10 '[ "$(committed_total events beast-events)" -ge 50000 ]' ||
  fail "committed only $(committed_total events beast-events) of 50000"
beast_stop
check_every_offset "$TEST_TMP/out" events 4 12500
check_committed_not_ahead "$TEST_TMP/out" events beast-events
[ "$(committed_total events beast-events)" -eq 50000 ] || fail "committed total != 50000"
[ -z "$(ls -A "$TEST_TMP/dlq" 2>/dev/null)" ] || fail "DLQ is not empty for valid input"
grep -q "drained and committed" "$TEST_TMP/beast.log" || fail "no clean-drain line in the log"
note "50000 messages, every offset present, committed == high watermark"
