#!/usr/bin/env bash
# The BigQuery endpoint dies mid-run: the emulator is killed (-9) while
# beast writes, stays down for a few seconds (connections refused), and
# comes back on the same port and data directory (short: once; full: three
# times). beast retries without committing what was not stored; rows the
# emulator stored just before dying are replayed and absorbed by insertId
# (its dedup index survives the restart). Every (partition, offset) ends up
# in the table exactly once or, undecodable, in the DLQ.
set -u
source "$(dirname "$0")/../lib.sh"
source "$BEAST_ROOT/tests/integration/pipeline_lib.sh"
source "$BEAST_ROOT/plugins/sink_bigquery/tests/bigquery_lib.sh"
source "$(dirname "$0")/chaos_lib.sh"

INVALID_EVERY=97
RESTARTS=$(chaos_size 1 3)
DOWN_S=$(chaos_size 3 10)
RATE=1500
COUNT=$(chaos_size 15000 90000)
PARTITIONS=$(chaos_partitions 4 "$COUNT")

chaos_setup "$PARTITIONS"
EMU_PORT=${EMU_URL##*:}
PORT=$(free_port)
chaos_config "$TEST_TMP/beast.conf" "$PORT"
chaos_load "$COUNT" "$RATE" "$INVALID_EVERY"
bq_beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"

for ((r = 1; r <= RESTARTS; r++)); do
  before=$(bq_total_rows "$CHAOS_TOPIC")
  bq_wait 30 '[ "$(bq_total_rows "$CHAOS_TOPIC")" -gt "$before" ]' 'restart $r: no new rows (still $before)'
  sleep "0.$((RANDOM % 10))"
  process_gone "$LOAD_PID" && fail "the load ended before restart $r: size the test up"
  kill -9 "$EMU_PID"
  wait "$EMU_PID" 2>/dev/null
  EMU_PID=""
  sleep "$DOWN_S"
  process_gone "$BEAST_PID" && { tail -20 "$BEAST_LOG"; fail "beast exited while the emulator was down"; }
  committed_down=$(chaos_committed)
  emu_start "$TEST_TMP/emulator-data" "$EMU_PORT"
  [ "${EMU_URL##*:}" = "$EMU_PORT" ] || fail "the emulator came back on another port: $EMU_URL"
  chaos_verify committed "$PARTITIONS" "$INVALID_EVERY"
  note "restart $r: emulator down ${DOWN_S} s; $committed_down committed while it was down, none ahead of the table"
done
chaos_load_wait
bq_wait 90 '[ "$(chaos_committed)" -ge "$COUNT" ]' 'committed $(chaos_committed) of $COUNT'
retries=$(chaos_metric "$PORT" beast_sink_retries_total)
transport=$(chaos_metric "$PORT" beast_bigquery_transport_errors_total)
beast_stop
chaos_verify final "$PARTITIONS" "$INVALID_EVERY"
chaos_audit "$TEST_TMP/beast.conf"
grep -q "curl error 7" "$TEST_TMP/beast.log" || fail "no refused connection in the log: was the emulator really down?"
deduped=$(emu_stat rows_deduped)
emu_stop
bq_no_sanitizer_reports
note "figures: messages $COUNT, emulator restarts $RESTARTS (down ${DOWN_S} s each), retries $retries," \
  "transport errors $transport, replays absorbed after the last restart $deduped, dlq $(chaos_figure dlq), duplicates stored $(chaos_figure duplicates_stored)"
