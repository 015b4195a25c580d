#!/usr/bin/env bash
# BigQuery sink request limits:
# 1. max_request_bytes = 2048 with ~600-byte rows: batches are cut into
#    requests of a few rows, none over the limit; all 4,000 rows of topic
#    "limits" land exactly once. Topic "big" (rows of ~3,200 bytes) runs in
#    the same pipeline with max_row_bytes = 2000: its 100 rows go to the DLQ
#    with "exceeds max_row_bytes", and their offsets are committed.
# 2. max_request_rows = 7 with gzip: 3,500 rows in requests of at most 7.
# 3. A server that refuses every request with a request-level 400: the sink
#    halves requests down to single rows, then stops the pipeline (FATAL)
#    instead of dead-lettering everything; nothing is committed.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/pipeline_lib.sh"
source "$BEAST_ROOT/plugins/sink_bigquery/tests/bigquery_lib.sh"

PARTITIONS=4
mock_start --topic "limits:$PARTITIONS" --topic "big:$PARTITIONS" --topic "rowcap:$PARTITIONS" --topic "refused:1"
emu_start "$TEST_TMP/emulator-data"
for table in limits rowcap refused; do
  bq_create_table "$table" "$BQ_JSON_FIELDS"
done
PORT=$(free_port)

note "1. max_request_bytes = 2048, max_row_bytes = 2000"
"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic limits --format json --count 4000 --size 400 >/dev/null &&
  "$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic big --format json --count 100 --size 3000 >/dev/null ||
  fail "beast-load failed"
write_bigquery_config "$TEST_TMP/bytes.conf" '"limits", "big"' \
  'table = "{topic}"; auth = "none"; max_request_bytes = 2048; max_row_bytes = 2000;' "" "" \
  "$(metrics_config "$PORT")"
bq_beast_start "$TEST_TMP/bytes.conf" "$TEST_TMP/bytes.log"
bq_wait 60 '[ "$(bq_total_rows limits)" -ge 4000 ] && [ "$(dlq_lines)" -ge 100 ]' \
  '$(bq_total_rows limits) of 4000 rows, $(dlq_lines) of 100 in the DLQ'
bq_wait 15 '[ "$(committed_total limits beast-events)" -ge 4000 ] && [ "$(committed_total big beast-events)" -ge 100 ]' \
  'committed $(committed_total limits beast-events) of 4000 and $(committed_total big beast-events) of 100'
bytes=$(metric_value "$PORT" beast_bigquery_request_bytes_total) || fail "no beast_bigquery_request_bytes_total"
requests=$(metric_value "$PORT" beast_bigquery_insert_requests_total) || fail "no beast_bigquery_insert_requests_total"
beast_stop
check_table_exactly_once limits limits "$PARTITIONS" 1000
[ "$requests" -ge 1334 ] || fail "4,000 rows of ~600 bytes took only $requests requests under max_request_bytes = 2048"
[ $((bytes / requests)) -le 2048 ] || fail "requests averaged $((bytes / requests)) bytes, over 2048"
bad=$(cat "$TEST_TMP"/dlq/*.ndjson | jq -r 'select(.topic != "big" or .stage != "sink" or (.error | test("^row of [0-9]+ bytes exceeds max_row_bytes \\(2000\\)$") | not)) | .error' | head -3)
[ -z "$bad" ] || fail "unexpected DLQ entries: $bad"
[ "$(cat "$TEST_TMP"/dlq/*.ndjson | jq -r '"\(.partition):\(.offset)"' | sort -u | wc -l)" -eq 100 ] ||
  fail "the DLQ does not hold each of the 100 big rows once"
[ "$(bq_total_rows big)" -eq 0 ] || fail "rows of topic big were written"
note "4000 rows in $requests requests of $((bytes / requests)) bytes on average; 100 oversized rows dead-lettered"

note "2. max_request_rows = 7, gzip"
requests_before=$(emu_stat insert_requests)
"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic rowcap --format json --count 3500 >/dev/null ||
  fail "beast-load failed"
write_bigquery_config "$TEST_TMP/rows.conf" rowcap 'table = "rowcap"; auth = "none"; max_request_rows = 7; gzip = true;'
bq_beast_start "$TEST_TMP/rows.conf" "$TEST_TMP/rows.log"
bq_wait 60 '[ "$(bq_total_rows rowcap)" -ge 3500 ]' '$(bq_total_rows rowcap) of 3500 rows'
bq_wait 15 '[ "$(committed_total rowcap beast-events)" -ge 3500 ]' 'committed $(committed_total rowcap beast-events) of 3500'
beast_stop
check_table_exactly_once rowcap rowcap "$PARTITIONS" 875
requests=$(($(emu_stat insert_requests) - requests_before))
[ "$requests" -ge 500 ] || fail "3,500 rows took only $requests requests with max_request_rows = 7"
note "3500 rows in $requests gzip requests of at most 7 rows"

note "3. every request refused with HTTP 400"
curl -sf -X POST "$EMU_URL/admin/faults" -d '{"error_rate":1,"codes":[400]}' >/dev/null || fail "admin/faults failed"
"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic refused --format json --count 50 >/dev/null ||
  fail "beast-load failed"
rm -rf "$TEST_TMP/dlq"
write_bigquery_config "$TEST_TMP/refused.conf" refused 'table = "refused"; auth = "none";'
"$O/bin/beast" run -c "$TEST_TMP/refused.conf" >"$TEST_TMP/refused.log" 2>&1 &
REFUSED_PID=$!
cleanup_add "kill -9 $REFUSED_PID"
wait_until 30 process_gone "$REFUSED_PID" || fail "beast did not stop although every request is refused"
rc=0
wait "$REFUSED_PID" || rc=$?
[ "$rc" -ne 0 ] || fail "beast exited 0 although the sink failed"
grep -q "pipeline stopped: sink: insertAll demo:events.refused: every request is refused, even single rows: HTTP 400" \
  "$TEST_TMP/refused.log" || fail "no clear FATAL line: $(tail -5 "$TEST_TMP/refused.log")"
[ "$(committed_total refused beast-events)" -eq 0 ] || fail "offsets were committed for refused rows"
[ "$(dlq_lines)" -eq 0 ] || fail "$(dlq_lines) refused rows were dead-lettered"
emu_stop
bq_no_sanitizer_reports
note "a server refusing every request stops the pipeline (exit $rc) without dead-lettering or committing"
