#!/usr/bin/env bash
# BigQuery sink, happy path: Kafka mock -> beast (json decoder) -> bigquery
# sink -> beast-bq-emulator. Topic "orders.v1" (4 partitions, 20,000
# messages) into table "{topic}" = orders_v1, made beforehand with
# tables.insert; gzip bodies, 2 workers. Every (partition, offset) lands
# exactly once with the metadata columns, committed == high watermarks, the
# DLQ stays empty. Then a second consumer group replays the whole topic:
# insertId dedup keeps the table at 20,000 rows. `beast check --connect`
# probes the table (and fails clearly for a missing one).
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/pipeline_lib.sh"
source "$BEAST_ROOT/plugins/sink_bigquery/tests/bigquery_lib.sh"

TOPIC=orders.v1
TABLE=orders_v1
PARTITIONS=4
COUNT=20000
PER_PARTITION=$((COUNT / PARTITIONS))

mock_start --topic "$TOPIC:$PARTITIONS"
emu_start "$TEST_TMP/emulator-data"
bq_create_table "$TABLE" "$BQ_JSON_FIELDS"

SINK='table = "{topic}"; auth = "none"; gzip = true;'
write_bigquery_config "$TEST_TMP/beast.conf" "$TOPIC" "$SINK"
"$O/bin/beast" check --connect -c "$TEST_TMP/beast.conf" >"$TEST_TMP/check.out" 2>&1 ||
  fail "beast check --connect failed: $(cat "$TEST_TMP/check.out")"

# A table that does not exist, without auto_create: the probe says so.
write_bigquery_config "$TEST_TMP/missing.conf" "$TOPIC" 'table = "nope"; auth = "none";'
if "$O/bin/beast" check --connect -c "$TEST_TMP/missing.conf" >"$TEST_TMP/missing.out" 2>&1; then
  fail "beast check --connect passed for a missing table"
fi
grep -q "table $BQ_PROJECT:$BQ_DATASET.nope does not exist and auto_create is false" "$TEST_TMP/missing.out" ||
  fail "probe of a missing table did not say why: $(cat "$TEST_TMP/missing.out")"

"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic "$TOPIC" --format json --count "$COUNT" >/dev/null ||
  fail "beast-load failed"
bq_beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"
bq_wait 60 '[ "$(bq_total_rows "$TABLE")" -ge "$COUNT" ]' '$(bq_total_rows "$TABLE") of $COUNT rows in $TABLE'
bq_wait 15 '[ "$(committed_total "$TOPIC" beast-events)" -ge "$COUNT" ]' \
  'committed $(committed_total "$TOPIC" beast-events) of $COUNT'
beast_stop
check_table_exactly_once "$TABLE" "$TOPIC" "$PARTITIONS" "$PER_PARTITION"
check_committed_at_high "$TOPIC" beast-events
[ "$(dlq_lines)" -eq 0 ] || fail "the DLQ holds $(dlq_lines) messages for valid input"
requests=$(emu_stat insert_requests)
note "$COUNT rows in $TABLE exactly once with metadata columns, $requests insertAll requests, committed == high watermark"

# Replay everything under another group: same insertIds, nothing new stored.
deduped_before=$(emu_stat rows_deduped)
write_bigquery_config "$TEST_TMP/replay.conf" "$TOPIC" "$SINK" "" 'group_id = "beast-replay";'
bq_beast_start "$TEST_TMP/replay.conf" "$TEST_TMP/replay.log"
bq_wait 60 '[ "$(committed_total "$TOPIC" beast-replay)" -ge "$COUNT" ]' \
  'replay committed $(committed_total "$TOPIC" beast-replay) of $COUNT'
beast_stop
[ "$(bq_total_rows "$TABLE")" -eq "$COUNT" ] ||
  fail "after a full replay the table holds $(bq_total_rows "$TABLE") rows, expected $COUNT"
deduped=$(($(emu_stat rows_deduped) - deduped_before))
[ "$deduped" -ge "$COUNT" ] || fail "the replay deduplicated only $deduped rows, expected $COUNT"
emu_stop
bq_no_sanitizer_reports
note "replay of $COUNT messages: $deduped rows deduplicated by insertId, table still $COUNT rows"
