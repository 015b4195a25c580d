#!/usr/bin/env bash
# BigQuery sink under network faults. Phase 1: the emulator closes 10% of
# insertAll connections without an answer before storing anything and 10%
# after storing the rows (the client cannot know which: its replay must be
# absorbed by insertId dedup). Phase 2: every answer takes 1.5 s while the
# sink's timeout_ms is 1000, so requests time out after the rows were
# stored. 12,000 messages on 4 partitions in all: every row exactly once,
# nothing dead-lettered, every offset committed.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/pipeline_lib.sh"
source "$BEAST_ROOT/plugins/sink_bigquery/tests/bigquery_lib.sh"

TOPIC=flaky
PARTITIONS=4
FIRST=8000
SECOND=4000
COUNT=$((FIRST + SECOND))

mock_start --topic "$TOPIC:$PARTITIONS"
emu_start "$TEST_TMP/emulator-data" 0 --drop-rate 0.1 --drop-after-rate 0.1 --seed 7
bq_create_table "$TOPIC" "$BQ_JSON_FIELDS"
write_bigquery_config "$TEST_TMP/beast.conf" "$TOPIC" \
  "table = \"$TOPIC\"; auth = \"none\"; max_request_rows = 100; timeout_ms = 1000;"

"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic "$TOPIC" --format json --count "$FIRST" >/dev/null ||
  fail "beast-load failed"
bq_beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"
bq_wait 60 '[ "$(bq_total_rows "$TOPIC")" -ge "$FIRST" ]' '$(bq_total_rows "$TOPIC") of $FIRST rows (drops)'
drops=$(emu_stat faults_drops)
drops_after=$(emu_stat faults_drops_after)
[ "$drops" -gt 0 ] && [ "$drops_after" -gt 0 ] ||
  fail "the emulator dropped $drops connections before and $drops_after after storing: the test proves little"
deduped=$(emu_stat rows_deduped)
[ "$deduped" -gt 0 ] || fail "no row was deduplicated although $drops_after answers were withheld"
note "phase 1: $drops connections dropped before and $drops_after after storing; $deduped replayed rows deduplicated"

# Phase 2: slow answers, client timeouts.
curl -sf -X POST "$EMU_URL/admin/faults" -d '{"reset":true,"latency_ms":1500}' >/dev/null || fail "admin/faults failed"
"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic "$TOPIC" --format json --count "$SECOND" >/dev/null ||
  fail "beast-load failed"
bq_wait 20 'grep -q "Timeout was reached\|timed out" "$TEST_TMP/beast.log"' 'no request timed out'
curl -sf -X POST "$EMU_URL/admin/faults" -d '{"reset":true}' >/dev/null || fail "admin/faults reset failed"
bq_wait 60 '[ "$(bq_total_rows "$TOPIC")" -ge "$COUNT" ]' '$(bq_total_rows "$TOPIC") of $COUNT rows (timeouts)'
bq_wait 15 '[ "$(committed_total "$TOPIC" beast-events)" -ge "$COUNT" ]' \
  'committed $(committed_total "$TOPIC" beast-events) of $COUNT'
beast_stop
# beast-load numbers each run from 0, so seq does not follow the offset.
check_table_exactly_once "$TOPIC" "$TOPIC" "$PARTITIONS" $((COUNT / PARTITIONS)) any-seq
check_committed_at_high "$TOPIC" beast-events
[ "$(dlq_lines)" -eq 0 ] || fail "$(dlq_lines) rows were dead-lettered for network faults"
timeouts=$(grep -c "Timeout was reached\|timed out" "$TEST_TMP/beast.log")
emu_stop
bq_no_sanitizer_reports
note "phase 2: $timeouts retries after client timeouts; $COUNT rows exactly once, committed == high watermark"
