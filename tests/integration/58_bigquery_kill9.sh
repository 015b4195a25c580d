#!/usr/bin/env bash
# kill -9 of beast three times while it streams 30,000 messages (4
# partitions, produced at 1,000/s) into BigQuery through the emulator. After
# each kill nothing is committed ahead of what the table holds; replayed
# messages reuse their insertIds, so after the last restart the table holds
# every (partition, offset) exactly once (SPEC §4.2).
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/pipeline_lib.sh"
source "$BEAST_ROOT/plugins/sink_bigquery/tests/bigquery_lib.sh"

TOPIC=events
PARTITIONS=4
COUNT=30000
KILLS=3

# committed_in_table: every partition's committed offsets are all in the table.
check_committed_in_table() {
  bq_dump_rows "$TOPIC" "$TEST_TMP/rows.ndjson"
  "$O/bin/beast-kafka-offsets" --brokers "$MOCK_BOOTSTRAP" --topic "$TOPIC" --group beast-events |
    grep -E '^[0-9]' >"$TEST_TMP/offsets.txt"
  python3 - "$TEST_TMP/rows.ndjson" "$TEST_TMP/offsets.txt" <<'PY' || fail "offsets committed ahead of the table (see above)"
import json, sys
have = {}
for line in open(sys.argv[1]):
    row = json.loads(line)
    have.setdefault(row["message_partition"], set()).add(row["message_offset"])
bad = 0
for line in open(sys.argv[2]):
    partition, low, high, committed = map(int, line.split())
    missing = [o for o in range(max(committed, 0)) if o not in have.get(partition, set())]
    if missing:
        bad += 1
        print(f"  partition {partition}: committed {committed} but {len(missing)} offsets below it are missing, e.g. {missing[:5]}")
sys.exit(1 if bad else 0)
PY
}

mock_start --topic "$TOPIC:$PARTITIONS"
emu_start "$TEST_TMP/emulator-data"
bq_create_table "$TOPIC" "$BQ_JSON_FIELDS"
write_bigquery_config "$TEST_TMP/beast.conf" "$TOPIC" "table = \"$TOPIC\"; auth = \"none\";"
"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic "$TOPIC" --format json --count "$COUNT" \
  --rate 1000 >"$TEST_TMP/load.out" 2>&1 &
LOAD_PID=$!
cleanup_add "kill $LOAD_PID 2>/dev/null"

bq_beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"
for ((k = 1; k <= KILLS; k++)); do
  # Wait until this incarnation stored something new, then a random moment.
  before=$(bq_total_rows "$TOPIC")
  [ "$before" -lt "$COUNT" ] || break
  bq_wait 30 '[ "$(bq_total_rows "$TOPIC")" -gt "$before" ]' 'kill $k: no new rows (still $before)'
  sleep "0.$((RANDOM % 9 + 1))"
  kill -9 "$BEAST_PID"
  wait "$BEAST_PID" 2>/dev/null
  note "kill $k: $(bq_total_rows "$TOPIC") rows stored, $(committed_total "$TOPIC" beast-events) committed"
  check_committed_in_table
  bq_beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"
done
[ "$k" -gt "$KILLS" ] || fail "the load ended before kill $k: the test proves less than it says"
wait "$LOAD_PID" || fail "beast-load failed: $(cat "$TEST_TMP/load.out")"
bq_wait 60 '[ "$(bq_total_rows "$TOPIC")" -ge "$COUNT" ]' '$(bq_total_rows "$TOPIC") of $COUNT rows after the last restart'
bq_wait 15 '[ "$(committed_total "$TOPIC" beast-events)" -ge "$COUNT" ]' \
  'committed $(committed_total "$TOPIC" beast-events) of $COUNT'
beast_stop
check_table_exactly_once "$TOPIC" "$TOPIC" "$PARTITIONS" $((COUNT / PARTITIONS))
check_committed_at_high "$TOPIC" beast-events
deduped=$(emu_stat rows_deduped)
emu_stop
bq_no_sanitizer_reports
note "$KILLS kills: $COUNT rows exactly once ($deduped replayed rows absorbed by insertId), committed == high watermark"
