#!/usr/bin/env bash
# SIGTERM under load: while beast-load produces and the emulator fails 10%
# of insertAll requests and delays each by 20 ms, beast gets SIGTERM at a
# random moment (short: twice; full: five times). Each time it exits 0
# within shutdown_timeout_s (15 s), and committed == written: every offset
# below the committed one is in the table or the DLQ, and nothing at or
# beyond it is stored. Restarted, it finishes the topic: every (partition,
# offset) exactly once in the table or, undecodable, in the DLQ.
set -u
source "$(dirname "$0")/../lib.sh"
source "$BEAST_ROOT/tests/integration/pipeline_lib.sh"
source "$BEAST_ROOT/plugins/sink_bigquery/tests/bigquery_lib.sh"
source "$(dirname "$0")/chaos_lib.sh"

INVALID_EVERY=97
STOPS=$(chaos_size 2 5)
RATE=2000
COUNT=$(chaos_size 24000 100000)
PARTITIONS=$(chaos_partitions 4 "$COUNT")
SHUTDOWN_TIMEOUT_S=15

chaos_setup "$PARTITIONS" --error-rate 0.1 --error-codes 500,503 --latency-ms 20 --seed 5
PORT=$(free_port)
chaos_config "$TEST_TMP/beast.conf" "$PORT" "" "max_request_rows = 100;"
grep -q "^shutdown_timeout_s = $SHUTDOWN_TIMEOUT_S;" "$TEST_TMP/beast.conf" || fail "config: shutdown_timeout_s"
chaos_load "$COUNT" "$RATE" "$INVALID_EVERY"
bq_beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"

slowest_ms=0 retries=0
for ((s = 1; s <= STOPS; s++)); do
  before=$(bq_total_rows "$CHAOS_TOPIC")
  bq_wait 30 '[ "$(bq_total_rows "$CHAOS_TOPIC")" -gt "$before" ]' 'stop $s: no new rows (still $before)'
  sleep "0.$((RANDOM % 10))"
  process_gone "$LOAD_PID" && fail "the load ended before SIGTERM $s: size the test up"
  retries=$((retries + $(chaos_metric "$PORT" beast_sink_retries_total)))
  inflight=$(chaos_metric "$PORT" beast_queue_depth)
  start_us=$(_lib_now_us)
  kill -TERM "$BEAST_PID"
  wait_until $((SHUTDOWN_TIMEOUT_S + 5)) process_gone "$BEAST_PID" ||
    fail "stop $s: beast still running $((SHUTDOWN_TIMEOUT_S + 5)) s after SIGTERM"
  took_ms=$((($(_lib_now_us) - start_us) / 1000))
  rc=0
  wait "$BEAST_PID" || rc=$?
  [ "$rc" -eq 0 ] || { tail -20 "$BEAST_LOG"; fail "stop $s: beast exited $rc after SIGTERM"; }
  [ "$took_ms" -le $((SHUTDOWN_TIMEOUT_S * 1000)) ] || fail "stop $s: took $took_ms ms, over shutdown_timeout_s"
  [ "$took_ms" -gt "$slowest_ms" ] && slowest_ms=$took_ms
  [ "$(grep -c 'drained and committed' "$BEAST_LOG")" -eq "$s" ] || fail "stop $s: no clean-drain line"
  chaos_verify drained "$PARTITIONS" "$INVALID_EVERY"
  note "SIGTERM $s: exit 0 in $took_ms ms ($inflight queued when it came);" \
    "$(chaos_figure committed) committed == $(($(chaos_figure distinct) + $(chaos_figure dlq))) written"
  bq_beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"
done
chaos_load_wait
bq_wait 90 '[ "$(chaos_committed)" -ge "$COUNT" ]' 'committed $(chaos_committed) of $COUNT'
retries=$((retries + $(chaos_metric "$PORT" beast_sink_retries_total)))
beast_stop
chaos_verify final "$PARTITIONS" "$INVALID_EVERY"
chaos_audit "$TEST_TMP/beast.conf"
faults=$(emu_stat faults_errors)
emu_stop
bq_no_sanitizer_reports
note "figures: messages $COUNT, SIGTERMs $STOPS (all exit 0, slowest $slowest_ms ms of ${SHUTDOWN_TIMEOUT_S} s)," \
  "injected errors $faults, retries $retries, dlq $(chaos_figure dlq)," \
  "duplicates stored $(chaos_figure duplicates_stored)"
