#!/usr/bin/env bash
# A DLQ outage: the file DLQ's files are /dev/full for 10 s, so every DLQ
# write fails with ENOSPC and is retried (every 100 ms at most) while half
# the messages are undecodable. beast must hold consumption back with flat
# memory, as for a sink outage (SPEC §4.5): once paused, RSS may not grow by
# more than 1 MB. (It once grew by tens of MB: the DLQ rows were rebuilt
# from the batch arena on every attempt.)
#
# Afterwards (beast restarted on a working DLQ) nothing is lost: every
# valid message is in the files, every undecodable one in the DLQ.
set -u
source "$(dirname "$0")/../lib.sh"
source "$BEAST_ROOT/tests/integration/pipeline_lib.sh"

PARTITIONS=4
COUNT=20000
OUTAGE_S=10
MAX_PAUSED_DRIFT_KB=1024

mock_start --topic "events:$PARTITIONS"
mkdir -p "$TEST_TMP/dlq"
for ((p = 0; p < PARTITIONS; p++)); do ln -s /dev/full "$TEST_TMP/dlq/events-$p.ndjson"; done
PORT=$(free_port)
write_file_pipeline_config "$TEST_TMP/beast.conf" events "$TEST_TMP/out" kafka "" "$(metrics_config "$PORT")"
sed -i 's/workers = 2; };/workers = 2; retry_backoff_ms = 20; retry_backoff_max_ms = 100; };/' "$TEST_TMP/beast.conf"
grep -q 'retry_backoff_max_ms = 100' "$TEST_TMP/beast.conf" || fail "could not set the retry backoff"
"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic events --format json --count "$COUNT" \
  --invalid-every 2 >/dev/null || fail "beast-load failed"
beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"
wait_until 30 'grep -q "DLQ rows not written" "$TEST_TMP/beast.log"' || fail "the DLQ never failed"
wait_until 30 '[ "$(metric_value "$PORT" beast_consumer_paused 2>/dev/null)" = 1 ]' ||
  fail "beast did not pause while the DLQ failed"
rss_paused=$(rss_kb "$BEAST_PID") rss_max=$rss_paused
for ((i = 0; i < OUTAGE_S * 2; i++)); do
  sleep 0.5
  rss=$(rss_kb "$BEAST_PID")
  [ -n "$rss" ] || fail "beast died during the DLQ outage"
  [ "$rss" -gt "$rss_max" ] && rss_max=$rss
done
attempts=$(grep -c "DLQ rows not written" "$TEST_TMP/beast.log")
drift=$((rss_max - rss_paused))
note "DLQ down ${OUTAGE_S} s while paused: $attempts failed DLQ writes, RSS $rss_paused -> $rss_max kB (+$drift kB)"
kill -9 "$BEAST_PID"
wait "$BEAST_PID" 2>/dev/null
rm -f "$TEST_TMP"/dlq/events-*.ndjson
beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"
wait_until 60 '[ "$(committed_total events beast-events)" -ge "$COUNT" ]' ||
  fail "committed only $(committed_total events beast-events) of $COUNT after the DLQ came back"
beast_stop
valid=$(distinct_rows "$TEST_TMP/out" events "$PARTITIONS")
dead=$(cat "$TEST_TMP"/dlq/*.ndjson | jq -r '"\(.partition) \(.offset)"' | sort -u | wc -l)
[ "$valid" -eq $((COUNT / 2)) ] && [ "$dead" -eq $((COUNT / 2)) ] ||
  fail "after the DLQ came back: $valid rows in the files, $dead in the DLQ, expected $((COUNT / 2)) each"
note "after the DLQ came back: $valid rows in the files, $dead in the DLQ: nothing lost"
[ "$drift" -le "$MAX_PAUSED_DRIFT_KB" ] ||
  fail "RSS grew by $drift kB in ${OUTAGE_S} s while paused on a failing DLQ ($attempts retries): memory is not bounded"
