#!/usr/bin/env bash
# kill -9 of beast at random moments while beast-load produces, with the
# emulator failing 20% of insertAll requests (500, 503, 429). After every
# kill nothing is committed ahead of what the table and the DLQ hold; after
# the last restart every (partition, offset) is in the table exactly once
# (replays absorbed by insertId) or, for the undecodable 1 in 97, in the
# DLQ, and `beast audit` finds no gap. Short: 3 kills; full: 12.
set -u
source "$(dirname "$0")/../lib.sh"
source "$BEAST_ROOT/tests/integration/pipeline_lib.sh"
source "$BEAST_ROOT/plugins/sink_bigquery/tests/bigquery_lib.sh"
source "$(dirname "$0")/chaos_lib.sh"

INVALID_EVERY=97
KILLS=$(chaos_size 3 12)
RATE=$(chaos_size 1500 2000)
COUNT=$(chaos_size 36000 300000)
PARTITIONS=$(chaos_partitions 4 "$COUNT")

chaos_setup "$PARTITIONS" --error-rate 0.2 --error-codes 500,503,429 --seed 7
PORT=$(free_port)
chaos_config "$TEST_TMP/beast.conf" "$PORT" "" "max_request_rows = 100;"
chaos_load "$COUNT" "$RATE" "$INVALID_EVERY"
bq_beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"

retries=0
for ((k = 1; k <= KILLS; k++)); do
  before=$(bq_total_rows "$CHAOS_TOPIC")
  bq_wait 30 '[ "$(bq_total_rows "$CHAOS_TOPIC")" -gt "$before" ]' 'kill $k: no new rows (still $before)'
  sleep "$((RANDOM % 2)).$((RANDOM % 10))"
  process_gone "$LOAD_PID" && fail "the load ended before kill $k: size the test up"
  retries=$((retries + $(chaos_metric "$PORT" beast_sink_retries_total)))
  kill -9 "$BEAST_PID"
  wait "$BEAST_PID" 2>/dev/null
  chaos_verify committed "$PARTITIONS" "$INVALID_EVERY"
  note "kill $k: $(chaos_figure table_rows) rows stored, $(chaos_figure dlq) in the DLQ," \
    "$(chaos_figure committed) committed, none of it ahead of the table"
  bq_beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"
done
chaos_load_wait
bq_wait 90 '[ "$(chaos_committed)" -ge "$COUNT" ]' 'committed $(chaos_committed) of $COUNT'
retries=$((retries + $(chaos_metric "$PORT" beast_sink_retries_total)))
beast_stop
chaos_verify final "$PARTITIONS" "$INVALID_EVERY"
chaos_audit "$TEST_TMP/beast.conf"
faults=$(emu_stat faults_errors)
deduped=$(emu_stat rows_deduped)
[ "$faults" -gt 0 ] || fail "the emulator injected no errors: the test proves little"
[ "$retries" -gt 0 ] || fail "beast_sink_retries_total stayed 0 under 20% errors"
emu_stop
bq_no_sanitizer_reports
note "figures: messages $COUNT, kills $KILLS, injected errors $faults, retries $retries," \
  "replays absorbed by insertId $deduped, dlq $(chaos_figure dlq) (+$(chaos_figure dlq_duplicate_lines) replayed lines)," \
  "duplicates stored $(chaos_figure duplicates_stored)"
