#!/usr/bin/env bash
# Backpressure (SPEC §4.5): a slow sink (the test plugin sink:echo with
# delay_ms = 20 per write call, logging "topic partition offset" per row to
# a file) behind small queues (queue_size 64, max_inflight_per_partition 256,
# batch_rows 50, one sink worker) and 30,000 waiting messages of 1,000 bytes
# on 16 partitions (30 MB; the mock keeps ~5 MB per partition).
# Sampling every 0.5 s from start-up: beast_backpressure is seen at 1 (the
# consumer waits for room; a stall over pause_after_ms would also pause the
# partitions — a merely slow sink must not, or librdkafka's prefetch is lost),
# beast_queue_depth{stage="decode"} never passes queue_size, and beast's RSS
# stays bounded: it grows by less than 24 MB (bounded queues: ~5-10 MB of
# warm-up; holding the whole backlog in memory costs ~42 MB). The sink, not
# the consumer, must be the bottleneck: all 30,000 rows land within
# DEADLINE_S of start (60 s; the sink takes 50 rows per 20 ms, 2,500 rows/s,
# so ~15 s with the group join). Every offset lands exactly once, nothing is
# committed ahead of what landed, and at the end committed == high watermark.
# All checks run and are reported before the test fails. QUEUE_SIZE,
# MAX_INFLIGHT, DEADLINE_S and RSS_GROWTH_LIMIT_KB may be set to explore
# (e.g. QUEUE_SIZE=4096 MAX_INFLIGHT=4096).
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/pipeline_lib.sh"

PARTITIONS=16
COUNT=30000
PER_PARTITION=$((COUNT / PARTITIONS))
SIZE=1000                # bytes per message: the topic holds 30 MB
QUEUE_SIZE=${QUEUE_SIZE:-64}
DELAY_MS=20
BATCH_ROWS=50
MAX_INFLIGHT=${MAX_INFLIGHT:-256}
DEADLINE_S=${DEADLINE_S:-60}
RSS_GROWTH_LIMIT_KB=${RSS_GROWTH_LIMIT_KB:-24576}   # below the 30 MB of data
# AddressSanitizer keeps freed memory in quarantine (up to 256 MB), so RSS
# says little about beast's own buffering there: only a loose bound.
if ldd "$O/bin/beast" 2>/dev/null | grep -q libasan; then
  RSS_GROWTH_LIMIT_KB=262144
fi
ECHO_OUT="$TEST_TMP/echo.out"

mock_start --topic "events:$PARTITIONS"
assemble_plugin_dir "$TEST_TMP/plugins"
PORT=$(free_port)
cat >"$TEST_TMP/beast.conf" <<CONF
plugin_dir = "$TEST_TMP/plugins";
data_dir   = "$TEST_TMP/data";
log_level  = "debug";     # "paused/resumed consumption" lines
shutdown_timeout_s = 20;
$(metrics_config "$PORT")
kafka = {
  bootstrap_servers = "$MOCK_BOOTSTRAP";
  session_timeout_ms = 6000;
  heartbeat_interval_ms = 500;
  # librdkafka's own prefetch, capped so that the RSS bound is about beast.
  max_partition_fetch_bytes = 262144;
  fetch_max_bytes = 1048576;
  queued_max_messages_kbytes = 2048;
};
pipelines = (
  {
    name    = "events";
    topics  = [ "events" ];
    commit_interval_ms = 200;
    queue_size = $QUEUE_SIZE;
    max_inflight_per_partition = $MAX_INFLIGHT;
    decoder_workers = 1;
    decoder = { plugin = "json"; };
    sink    = { plugin = "echo"; out = "$ECHO_OUT"; delay_ms = $DELAY_MS;
                batch_rows = $BATCH_ROWS; linger_ms = 50; workers = 1; };
    offsets = { plugin = "kafka"; };
    dlq     = { plugin = "file"; path = "$TEST_TMP/dlq"; };
  }
);
CONF
"$O/bin/beast" check -c "$TEST_TMP/beast.conf" >"$TEST_TMP/check.out" 2>&1 ||
  fail "beast check failed: $(cat "$TEST_TMP/check.out")"

"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic events --format json --count "$COUNT" \
  --size "$SIZE" >/dev/null || fail "beast-load failed"
while read -r partition high; do
  [ "$high" -eq $((COUNT / PARTITIONS)) ] || fail "partition $partition holds $high messages, expected $((COUNT / PARTITIONS))"
done < <(high_watermarks events)
low=$("$O/bin/beast-kafka-offsets" --brokers "$MOCK_BOOTSTRAP" --topic events | awk '/^[0-9]/ && $2 != 0')
[ -z "$low" ] || fail "the mock dropped old messages (low watermark above 0): $low"

now_us() {
  echo "${EPOCHREALTIME/[.,]/}"
}

landed() {
  [ -f "$ECHO_OUT" ] && wc -l <"$ECHO_OUT" || echo 0
}

beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"
started_us=$(now_us)
# The RSS before the group join (~3 s) is the base the growth is measured from.
sleep 0.3
base_rss=$(rss_kb "$BEAST_PID")
[ -n "$base_rss" ] || { cat "$TEST_TMP/beast.log"; fail "beast exited at start-up"; }
max_rss=$base_rss samples=0 paused_samples=0 max_decode_depth=0
while :; do
  rss=$(rss_kb "$BEAST_PID")
  [ -n "$rss" ] || { tail -20 "$TEST_TMP/beast.log"; fail "beast exited during the run"; }
  [ "$rss" -gt "$max_rss" ] && max_rss=$rss
  paused=$(metric_value "$PORT" beast_backpressure) || paused=""
  [ "$paused" = 1 ] && paused_samples=$((paused_samples + 1))
  depth=$(metric_value "$PORT" 'beast_queue_depth{pipeline="events",stage="decode"') || depth=0
  [ "$depth" -gt "$max_decode_depth" ] && max_decode_depth=$depth
  samples=$((samples + 1))
  [ "$(landed)" -ge "$COUNT" ] && break
  [ $(($(now_us) - started_us)) -lt $((DEADLINE_S * 1000000)) ] || break
  sleep 0.5
done
elapsed_ms=$((($(now_us) - started_us) / 1000))
rows=$(landed)
requests=$(metric_value "$PORT" beast_sink_requests_total) || requests=0
all_landed=0
[ "$rows" -ge "$COUNT" ] && all_landed=1
if [ "$all_landed" -eq 1 ]; then
  wait_until 15 '[ "$(committed_total events beast-events)" -ge "$COUNT" ]' ||
    fail "committed only $(committed_total events beast-events) of $COUNT"
fi
beast_stop
rows=$(landed)
cycles=$(grep -c 'paused consumption' "$TEST_TMP/beast.log")

note "$rows of $COUNT rows in $((elapsed_ms / 1000)).$((elapsed_ms % 1000 / 100)) s ($((rows * 1000 / (elapsed_ms + 1))) rows/s; the sink takes $((BATCH_ROWS * 1000 / DELAY_MS)) rows/s)"
note "sink: $requests write calls of >= $DELAY_MS ms: busy $((requests * DELAY_MS * 100 / (elapsed_ms + 1)))% of the time; consumer paused $cycles times (debug log)"
note "$samples samples: beast_backpressure = 1 in $paused_samples, max decode queue depth $max_decode_depth, RSS $base_rss kB at start, max $max_rss kB (+$((max_rss - base_rss)) kB)"

failures=()
[ "$paused_samples" -gt 0 ] ||
  failures+=("beast_backpressure was 0 in all $samples samples (every 0.5 s): the slow sink never held the consumer back")
[ "$max_decode_depth" -le "$QUEUE_SIZE" ] ||
  failures+=("beast_queue_depth{stage=\"decode\"} reached $max_decode_depth, above queue_size $QUEUE_SIZE")
[ $((max_rss - base_rss)) -lt "$RSS_GROWTH_LIMIT_KB" ] ||
  failures+=("RSS grew by $((max_rss - base_rss)) kB (limit $RSS_GROWTH_LIMIT_KB kB): beast buffers what the sink cannot take")
[ "$all_landed" -eq 1 ] ||
  failures+=("only $rows of $COUNT rows landed in $DEADLINE_S s: the sink was busy $((requests * DELAY_MS * 100 / (elapsed_ms + 1)))% of the time while the rest waited in Kafka ($cycles pause/resume cycles)")

# Never twice, never committed ahead of what landed (even if not all did).
sort "$ECHO_OUT" | uniq -d >"$TEST_TMP/duplicates"
[ ! -s "$TEST_TMP/duplicates" ] ||
  failures+=("$(wc -l <"$TEST_TMP/duplicates") rows landed more than once, e.g. $(head -3 "$TEST_TMP/duplicates" | tr '\n' ';')")
while read -r partition low high committed; do
  [ "$committed" -le 0 ] && continue
  have=$(awk -v p="$partition" -v c="$committed" '$1 == "events" && $2 == p && $3 < c' "$ECHO_OUT" | sort -u | wc -l)
  [ "$have" -eq "$committed" ] ||
    failures+=("partition $partition: committed $committed, but only $have of offsets 0..$((committed - 1)) landed")
done < <("$O/bin/beast-kafka-offsets" --brokers "$MOCK_BOOTSTRAP" --topic events --group beast-events | grep -E '^[0-9]')

if [ "$all_landed" -eq 1 ]; then
  lines=$(wc -l <"$ECHO_OUT")
  [ "$lines" -eq "$COUNT" ] || failures+=("$lines rows in $ECHO_OUT, expected $COUNT")
  for ((p = 0; p < PARTITIONS; p++)); do
    read -r n min max < <(awk -v p="$p" '$1 == "events" && $2 == p { n++; if (min == "" || $3 < min) min = $3; if ($3 > max) max = $3 }
      END { print n + 0, (min == "" ? -1 : min), max + 0 }' "$ECHO_OUT")
    [ "$n" -eq "$PER_PARTITION" ] && [ "$min" -eq 0 ] && [ "$max" -eq $((PER_PARTITION - 1)) ] ||
      failures+=("partition $p: $n rows in [$min, $max], expected $PER_PARTITION in [0, $((PER_PARTITION - 1))]")
  done
  (check_committed_at_high events beast-events) || failures+=("committed != high watermark (see above)")
fi
[ -z "$(ls -A "$TEST_TMP/dlq" 2>/dev/null)" ] || failures+=("the DLQ is not empty")

if [ "${#failures[@]}" -gt 0 ]; then
  printf 'FAIL: %s\n' "${failures[@]}" >&2
  exit 1
fi
note "every offset landed exactly once; committed == high watermark"
