#!/usr/bin/env bash
# Network drops mid-request: the emulator closes 10% of insertAll
# connections without an answer before storing anything, and another 10%
# after storing the rows (the answer is lost: beast must replay, and
# insertId must absorb the replay). Requests of at most 100 rows, so there
# are many. Every (partition, offset) ends up in the table exactly once or,
# undecodable, in the DLQ; nothing is dead-lettered for a dropped connection.
# The metrics agree: rows written, DLQ rows, decode errors, committed
# offsets, lag 0 at the end.
set -u
source "$(dirname "$0")/../lib.sh"
source "$BEAST_ROOT/tests/integration/pipeline_lib.sh"
source "$BEAST_ROOT/plugins/sink_bigquery/tests/bigquery_lib.sh"
source "$(dirname "$0")/chaos_lib.sh"

INVALID_EVERY=97
RATE=$(chaos_size 3000 3000)
COUNT=$(chaos_size 15000 90000)
PARTITIONS=$(chaos_partitions 4 "$COUNT")

chaos_setup "$PARTITIONS" --drop-rate 0.1 --drop-after-rate 0.1 --seed 11
PORT=$(free_port)
chaos_config "$TEST_TMP/beast.conf" "$PORT" "" "max_request_rows = 100;"
chaos_load "$COUNT" "$RATE" "$INVALID_EVERY"
bq_beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"
chaos_load_wait
bq_wait 90 '[ "$(chaos_committed)" -ge "$COUNT" ]' 'committed $(chaos_committed) of $COUNT'
retries=$(chaos_metric "$PORT" beast_sink_retries_total)
transport=$(chaos_metric "$PORT" beast_bigquery_transport_errors_total)
# The SPEC §5 metrics tell the same story as the table (one process, no
# kill: its counters cover the whole run).
wait_until 10 '[ "$(chaos_metric "$PORT" beast_committed_offset)" -ge "$COUNT" ]' ||
  fail "beast_committed_offset sums to $(chaos_metric "$PORT" beast_committed_offset), not $COUNT"
wait_until 10 '[ "$(chaos_metric "$PORT" beast_consumer_lag)" -eq 0 ]' ||
  fail "beast_consumer_lag is $(chaos_metric "$PORT" beast_consumer_lag) after everything was committed"
consumed=$(chaos_metric "$PORT" beast_messages_consumed_total)
written=$(chaos_metric "$PORT" beast_rows_written_total)
dead=$(chaos_metric "$PORT" beast_rows_dlq_total)
undecodable=$(chaos_metric "$PORT" beast_decode_errors_total)
beast_stop
chaos_verify final "$PARTITIONS" "$INVALID_EVERY"
[ "$consumed" -ge "$COUNT" ] || fail "beast_messages_consumed_total = $consumed < $COUNT"
[ "$written" -eq "$(chaos_figure distinct)" ] ||
  fail "beast_rows_written_total = $written, the table holds $(chaos_figure distinct)"
[ "$dead" -eq "$(chaos_figure dlq)" ] && [ "$undecodable" -eq "$(chaos_figure dlq)" ] ||
  fail "beast_rows_dlq_total = $dead, beast_decode_errors_total = $undecodable, the DLQ holds $(chaos_figure dlq)"
chaos_audit "$TEST_TMP/beast.conf"
drops=$(emu_stat faults_drops)
drops_after=$(emu_stat faults_drops_after)
deduped=$(emu_stat rows_deduped)
[ "$drops" -gt 0 ] && [ "$drops_after" -gt 0 ] || fail "no drops injected ($drops before, $drops_after after storing)"
[ "$deduped" -gt 0 ] || fail "no replayed row was absorbed by insertId although $drops_after answers were lost"
emu_stop
bq_no_sanitizer_reports
note "figures: messages $COUNT, connections dropped $drops before and $drops_after after storing," \
  "transport errors $transport, retries $retries, replays absorbed by insertId $deduped," \
  "dlq $(chaos_figure dlq), duplicates stored $(chaos_figure duplicates_stored)"
