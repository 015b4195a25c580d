#!/usr/bin/env bash
# Prometheus endpoint: /healthz is 200 while beast runs, /readyz turns 200
# once partitions are assigned, and /metrics reports what happened: messages
# consumed, rows written, committed offset and lag per partition, batch
# latency histogram, queue depths.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/pipeline_lib.sh"

mock_start --topic events:2
port=$(free_port)
write_file_pipeline_config "$TEST_TMP/beast.conf" events "$TEST_TMP/out"
sed -i "1i metrics = { listen = \"127.0.0.1:$port\"; };" "$TEST_TMP/beast.conf"
"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic events --format json --count 6000 >/dev/null ||
  fail "beast-load failed"
beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"
url="http://127.0.0.1:$port"
wait_until 10 "curl -sf $url/healthz >/dev/null" || fail "/healthz never answered"
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")
note "/readyz before assignment: $code"
wait_until 30 "curl -sf $url/readyz >/dev/null" || fail "/readyz never became 200"
wait_until 30 '[ "$(committed_total events beast-events)" -ge 6000 ]' || fail "not all committed"
sleep 1.5 # one more committer tick for the lag gauge
metrics=$(curl -sf "$url/metrics") || fail "/metrics did not answer"
value() { awk -v k="$1" 'index($0, k) == 1 { print $2 }' <<<"$metrics"; }
[ "$(value 'beast_messages_consumed_total{pipeline="events"}')" = 6000 ] ||
  fail "consumed: $(value 'beast_messages_consumed_total{pipeline="events"}')"
[ "$(value 'beast_rows_written_total{pipeline="events"}')" = 6000 ] || fail "rows written"
[ "$(value 'beast_rows_dlq_total{pipeline="events"}')" = 0 ] || fail "dlq rows"
for p in 0 1; do
  [ "$(value "beast_committed_offset{pipeline=\"events\",topic=\"events\",partition=\"$p\"}")" = 3000 ] ||
    fail "committed offset gauge of partition $p"
  [ "$(value "beast_consumer_lag{pipeline=\"events\",topic=\"events\",partition=\"$p\"}")" = 0 ] ||
    fail "lag of partition $p: $(grep consumer_lag <<<"$metrics")"
done
count=$(value 'beast_batch_latency_seconds_count{pipeline="events"}')
[ -n "$count" ] && [ "$count" -gt 0 ] || fail "no batch latency observations"
grep -q '^beast_queue_depth{pipeline="events",stage="decode"} 0$' <<<"$metrics" || fail "queue depth"
grep -q '^# TYPE beast_batch_latency_seconds histogram$' <<<"$metrics" || fail "histogram TYPE"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/nope")" = 404 ] || fail "unknown path not 404"
beast_stop
note "metrics: 6000 consumed/written, committed 3000 per partition, lag 0, $count batches"
