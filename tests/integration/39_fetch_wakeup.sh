#!/usr/bin/env bash
# Fetch wake-ups: librdkafka 2.0.2 stops fetching while its local queue
# holds queued.min.messages (or queued.max.messages.kbytes) and looks again
# only at its broker thread's next wake-up, a fixed 1 s timeout when nothing
# else happens. When beast is the slower side the queue is full most of the
# time, so without help beast gets about one queue per second. beast wakes
# the broker threads once the queue has drained below half
# (beast_fetch_wakeups_total).
# Here the sink is slow (the emulator delays every request 20 ms, one
# worker, 100-row batches: at most ~5,000 rows/s), beast's decoder ring holds
# 64 messages, librdkafka's queue 300, and the topic is produced in batches
# of 50 (the mock answers a fetch with whole batches): 12,000 messages need
# some 35 queue fills, one per second without wake-ups (measured with the
# waker disabled: librdkafka's debug=fetch log shows 1.00 s between
# fetches, and 7,400 of the 12,000 rows were written after 15 s); with them
# about 3 s. The bound is 15 s, and the counter must show wake-ups.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/pipeline_lib.sh"
source "$BEAST_ROOT/plugins/sink_bigquery/tests/bigquery_lib.sh"

COUNT=12000
PARTITIONS=4
mock_start --brokers 3 --topic "events:$PARTITIONS"
emu_start "$TEST_TMP/emulator-data" 0 --latency-ms 20
bq_create_table events "$BQ_JSON_FIELDS"
port=$(free_port)
BQ_SINK_HOST_KEYS='workers = 1; batch_rows = 100; linger_ms = 20;' \
  write_bigquery_config "$TEST_TMP/beast.conf" events 'table = "{topic}"; auth = "none";' "" \
  'queue_size = 64;' "$(metrics_config "$port")"
sed -i -e "s/commit_interval_ms = 200;/commit_interval_ms = 5000;/" -e "s/^  bootstrap_servers = .*/&\\n  queued_min_messages = 300;\\n  fetch_max_bytes = 20000;\\n  message_max_bytes = 10000;/" "$TEST_TMP/beast.conf"
grep -q 'queued_min_messages = 300;' "$TEST_TMP/beast.conf" || fail "config not patched"
"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic events --format json --count $COUNT --property batch.num.messages=50 >/dev/null ||
  fail "beast-load failed"
bq_beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"
wait_until 20 "curl -sf http://127.0.0.1:$port/readyz >/dev/null" || fail "/readyz never became 200: $(tail -3 "$TEST_TMP/beast.log")"
started=$SECONDS
wait_until 15 '[ "$(metric_value "$port" beast_rows_written_total)" = $COUNT ]' ||
  fail "$(metric_value "$port" beast_rows_written_total) of $COUNT rows written after 15 s: the fetcher waited out its 1 s timeouts (wake-ups: $(metric_value "$port" beast_fetch_wakeups_total))"
took=$((SECONDS - started))
wakeups=$(metric_value "$port" beast_fetch_wakeups_total)
[ "${wakeups:-0}" -gt 0 ] || fail "no fetch wake-ups counted"
wait_until 20 '[ "$(committed_total events beast-events)" -ge $COUNT ]' || fail "not all committed"
beast_stop
check_table_exactly_once events events "$PARTITIONS" $((COUNT / PARTITIONS))
check_committed_at_high events beast-events
emu_stop
note "fetch wake-ups: $COUNT messages through a 300-message prefetch queue and a 20 ms sink in ${took}s, $wakeups wake-ups"
