#!/usr/bin/env bash
# A BigQuery outage during load: every insertAll answers 503 for 10 s
# (full: 60 s) while beast-load keeps producing 1,000 messages/s. During it
# beast pauses its partitions (beast_consumer_paused = 1) and stops
# consuming, its RSS stays flat (growth from the outage's start is reported
# and bounded; once paused, retrying the same batches every 100 ms must not
# grow it by more than 1 MB), and the
# committed offsets do not move once what was acknowledged before the
# outage is committed. After the recovery everything lands: every
# (partition, offset) exactly once in the table or, undecodable, in the DLQ.
set -u
source "$(dirname "$0")/../lib.sh"
source "$BEAST_ROOT/tests/integration/pipeline_lib.sh"
source "$BEAST_ROOT/plugins/sink_bigquery/tests/bigquery_lib.sh"
source "$(dirname "$0")/chaos_lib.sh"

INVALID_EVERY=97
OUTAGE_S=$(chaos_size 10 60)
RATE=1000
COUNT=$((RATE * (OUTAGE_S + 15)))
PARTITIONS=$(chaos_partitions 4 "$COUNT")
# Growth allowed from the outage's start (the pipeline filling its rings,
# batches and librdkafka's prefetch), and once paused: none to speak of, as
# the same batches are retried over and over (every 100 ms at most, so a
# per-retry leak shows within seconds).
MAX_RSS_GROWTH_KB=$((32 * 1024))
MAX_PAUSED_DRIFT_KB=1024
# AddressSanitizer keeps freed memory in quarantine: without one, RSS means
# here what it means in a plain build (a bit more for the shadow memory).
if ldd "$O/bin/beast" 2>/dev/null | grep -q libasan; then
  export ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=0"
  MAX_PAUSED_DRIFT_KB=4096
fi

chaos_setup "$PARTITIONS"
PORT=$(free_port)
BQ_SINK_HOST_KEYS='batch_rows = 500; linger_ms = 50; workers = 2; retry_backoff_ms = 20; retry_backoff_max_ms = 100;'
# Small rings so the stall (and the pause) comes within seconds at this rate.
chaos_config "$TEST_TMP/beast.conf" "$PORT" "queue_size = 1024;"
chaos_load "$COUNT" "$RATE" "$INVALID_EVERY"
bq_beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"
bq_wait 30 '[ "$(bq_total_rows "$CHAOS_TOPIC")" -ge 2000 ]' 'only $(bq_total_rows "$CHAOS_TOPIC") rows before the outage'

# The outage: the data path answers 503, tables and queries still work.
curl -sf -X POST "$EMU_URL/admin/faults" -d '{"error_rate":1.0,"codes":[503]}' >/dev/null ||
  fail "cannot set the emulator's faults"
start_us=$(_lib_now_us)
rss_start=$(rss_kb "$BEAST_PID")
rows_start=$(bq_total_rows "$CHAOS_TOPIC")
rss_max=$rss_start
paused_at="" consumed_paused="" rss_paused_min="" rss_paused_max=""
committed_frozen="" samples=0
end_us=$((start_us + OUTAGE_S * 1000000))
while [ "$(_lib_now_us)" -lt "$end_us" ]; do
  sleep 0.5
  process_gone "$BEAST_PID" && { tail -20 "$BEAST_LOG"; fail "beast died during the outage"; }
  elapsed_ms=$((($(_lib_now_us) - start_us) / 1000))
  rss=$(rss_kb "$BEAST_PID")
  [ "$rss" -gt "$rss_max" ] && rss_max=$rss
  committed=$(chaos_committed)
  # Acks from before the outage are committed within a commit interval
  # (200 ms) and a write timeout; after 6 s nothing may move.
  if [ "$elapsed_ms" -ge 6000 ]; then
    [ -n "$committed_frozen" ] || committed_frozen=$committed
    [ "$committed" -eq "$committed_frozen" ] ||
      fail "committed offsets moved during the outage: $committed_frozen -> $committed at +${elapsed_ms} ms"
  fi
  paused=$(chaos_metric "$PORT" beast_consumer_paused)
  consumed=$(chaos_metric "$PORT" beast_messages_consumed_total)
  if [ "$paused" = 1 ]; then
    if [ -z "$paused_at" ]; then
      paused_at=$elapsed_ms consumed_paused=$consumed rss_paused_min=$rss rss_paused_max=$rss
    fi
    [ "$rss" -lt "$rss_paused_min" ] && rss_paused_min=$rss
    [ "$rss" -gt "$rss_paused_max" ] && rss_paused_max=$rss
  fi
  samples=$((samples + 1))
done
rows_end=$(bq_total_rows "$CHAOS_TOPIC")
consumed_end=$(chaos_metric "$PORT" beast_messages_consumed_total)
process_gone "$LOAD_PID" && fail "the load ended during the outage: size the test up"
[ "$rows_end" -eq "$rows_start" ] || fail "rows landed during the outage ($rows_start -> $rows_end): no outage"
[ -n "$paused_at" ] || { tail -20 "$BEAST_LOG"; fail "beast never paused its partitions during a ${OUTAGE_S} s outage"; }
[ -n "$committed_frozen" ] || fail "no sample of the committed offsets after 6 s"
[ "$consumed_end" -eq "$consumed_paused" ] ||
  fail "beast consumed $((consumed_end - consumed_paused)) messages while paused"
growth=$((rss_max - rss_start))
drift=$((rss_paused_max - rss_paused_min))
[ "$growth" -le "$MAX_RSS_GROWTH_KB" ] || fail "RSS grew by $growth kB during the outage"
[ "$drift" -le "$MAX_PAUSED_DRIFT_KB" ] || fail "RSS drifted by $drift kB while paused"
chaos_verify committed "$PARTITIONS" "$INVALID_EVERY"
note "outage of ${OUTAGE_S} s: paused after $paused_at ms, consumption stopped at $consumed_paused," \
  "committed frozen at $committed_frozen, RSS $rss_start kB -> max $rss_max kB (growth $growth kB," \
  "$drift kB while paused: $rss_paused_min..$rss_paused_max kB), $samples samples"

# Recovery.
retries_outage=$(chaos_metric "$PORT" beast_sink_retries_total)
curl -sf -X POST "$EMU_URL/admin/faults" -d '{"reset":true}' >/dev/null || fail "cannot reset the faults"
recovered_us=$(_lib_now_us)
chaos_load_wait
bq_wait 90 '[ "$(chaos_committed)" -ge "$COUNT" ]' 'committed $(chaos_committed) of $COUNT after the outage'
catch_up_ms=$((($(_lib_now_us) - recovered_us) / 1000))
retries=$(chaos_metric "$PORT" beast_sink_retries_total)
beast_stop
chaos_verify final "$PARTITIONS" "$INVALID_EVERY"
chaos_audit "$TEST_TMP/beast.conf"
faults=$(emu_stat faults_errors)
emu_stop
bq_no_sanitizer_reports
note "figures: messages $COUNT, outage ${OUTAGE_S} s, injected 503s $faults, retries $retries" \
  "($retries_outage during the outage), max RSS growth $growth kB, caught up $catch_up_ms ms after the" \
  "recovery, dlq $(chaos_figure dlq), duplicates stored $(chaos_figure duplicates_stored)"
