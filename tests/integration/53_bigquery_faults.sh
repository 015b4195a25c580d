#!/usr/bin/env bash
# BigQuery sink under server faults: the emulator answers 20% of insertAll
# requests with 500, 503, 429 or 403 quotaExceeded and delays every one by
# 20 ms. 20,000 messages on 4 partitions, requests of at most 100 rows, 4
# workers: every row lands exactly once, nothing is dead-lettered (all of
# those answers are retriable), every offset is committed, and the retries
# show in the log and in the sink's metrics.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/pipeline_lib.sh"
source "$BEAST_ROOT/plugins/sink_bigquery/tests/bigquery_lib.sh"

TOPIC=faulty
PARTITIONS=4
COUNT=20000
PER_PARTITION=$((COUNT / PARTITIONS))

mock_start --topic "$TOPIC:$PARTITIONS"
emu_start "$TEST_TMP/emulator-data" 0 --error-rate 0.2 --error-codes 500,503,429,403 --latency-ms 20 --seed 42
bq_create_table "$TOPIC" "$BQ_JSON_FIELDS"
PORT=$(free_port)
BQ_SINK_HOST_KEYS="batch_rows = 500; linger_ms = 50; workers = 4; retry_backoff_ms = 20; retry_backoff_max_ms = 500;"
write_bigquery_config "$TEST_TMP/beast.conf" "$TOPIC" \
  "table = \"$TOPIC\"; auth = \"none\"; max_request_rows = 100;" "" "" "$(metrics_config "$PORT")"

"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic "$TOPIC" --format json --count "$COUNT" >/dev/null ||
  fail "beast-load failed"
bq_beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"
bq_wait 80 '[ "$(bq_total_rows "$TOPIC")" -ge "$COUNT" ]' '$(bq_total_rows "$TOPIC") of $COUNT rows'
bq_wait 15 '[ "$(committed_total "$TOPIC" beast-events)" -ge "$COUNT" ]' \
  'committed $(committed_total "$TOPIC" beast-events) of $COUNT'
retriable=$(metric_value "$PORT" beast_bigquery_retriable_total) || fail "no beast_bigquery_retriable_total on /metrics"
beast_stop
check_table_exactly_once "$TOPIC" "$TOPIC" "$PARTITIONS" "$PER_PARTITION"
check_committed_at_high "$TOPIC" beast-events
[ "$(dlq_lines)" -eq 0 ] || fail "$(dlq_lines) rows were dead-lettered for retriable faults"
faults=$(emu_stat faults_errors)
[ "$faults" -gt 10 ] || fail "the emulator injected only $faults errors: the test proves little"
[ "$retriable" -ge "$faults" ] || fail "beast_bigquery_retriable_total = $retriable, but $faults errors were injected"
for code in 500 503 429 403; do
  grep -q "HTTP $code" "$TEST_TMP/beast.log" || fail "no retry with HTTP $code in the log"
done
emu_stop
bq_no_sanitizer_reports
note "$faults injected 500/503/429/403-quota answers retried; $COUNT rows exactly once, committed == high watermark"
