#!/usr/bin/env bash
# BigQuery sink, rows BigQuery refuses: the table declares user_id as BYTES,
# so a row whose user_id ("user-N") is not valid base64 — exactly those with
# N in 1000..9999, about 9% — comes back from insertAll as "invalid" while
# the others in its request come back "stopped". The invalid rows go to the
# DLQ (stage "sink", BigQuery's location and message as the reason), the
# stopped ones are sent again and land exactly once; every offset is
# committed. 8,000 messages on 4 partitions.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/pipeline_lib.sh"
source "$BEAST_ROOT/plugins/sink_bigquery/tests/bigquery_lib.sh"

TOPIC=payments
PARTITIONS=4
COUNT=8000
PER_PARTITION=$((COUNT / PARTITIONS))

mock_start --topic "$TOPIC:$PARTITIONS"
emu_start "$TEST_TMP/emulator-data"
bq_create_table "$TOPIC" "$(jq -c 'map(if .name == "user_id" then .type = "BYTES" else . end)' <<<"$BQ_JSON_FIELDS")"
write_bigquery_config "$TEST_TMP/beast.conf" "$TOPIC" "table = \"$TOPIC\"; auth = \"none\";"

"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic "$TOPIC" --format json --count "$COUNT" >/dev/null ||
  fail "beast-load failed"
for ((p = 0; p < PARTITIONS; p++)); do
  "$O/bin/beast-kafka-read" --brokers "$MOCK_BOOTSTRAP" --topic "$TOPIC" --partition "$p" --offset 0 \
    --count "$PER_PARTITION" --with-offset >"$TEST_TMP/kafka-$p.txt" || fail "beast-kafka-read of partition $p failed"
done
invalid=$(cat "$TEST_TMP"/kafka-*.txt | grep -Ec '"user_id":"user-[0-9]{4}"')
[ "$invalid" -gt 0 ] || fail "the input has no row with a 4-digit user number: the test proves nothing"
valid=$((COUNT - invalid))

bq_beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"
bq_wait 60 '[ "$(bq_total_rows "$TOPIC")" -ge "$valid" ] && [ "$(dlq_lines)" -ge "$invalid" ]' \
  '$(bq_total_rows "$TOPIC") rows (want $valid), $(dlq_lines) in the DLQ (want $invalid)'
bq_wait 15 '[ "$(committed_total "$TOPIC" beast-events)" -ge "$COUNT" ]' \
  'committed $(committed_total "$TOPIC" beast-events) of $COUNT'
beast_stop
check_committed_at_high "$TOPIC" beast-events
bq_dump_rows "$TOPIC" "$TEST_TMP/rows.ndjson"

python3 - "$TEST_TMP" "$PARTITIONS" <<'PY' || fail "table / DLQ contents are wrong (see above)"
import glob, json, re, sys
tmp, partitions = sys.argv[1], int(sys.argv[2])
problems = []
def problem(text):
    problems.append(text)
    if len(problems) <= 20:
        print("  " + text)
kafka = {}
for p in range(partitions):
    for line in open(f"{tmp}/kafka-{p}.txt", "rb").read().split(b"\n"):
        if line:
            offset, key, value = line.split(b" ", 2)
            kafka[(p, int(offset))] = json.loads(value)
invalid = {k for k, v in kafka.items() if re.fullmatch(r"user-[0-9]{4}", v["user_id"])}
stored = {}
for line in open(f"{tmp}/rows.ndjson"):
    row = json.loads(line)
    key = (row["message_partition"], row["message_offset"])
    stored[key] = stored.get(key, 0) + 1
dlq = {}
for name in glob.glob(f"{tmp}/dlq/*.ndjson"):
    for line in open(name):
        row = json.loads(line)
        key = (row["partition"], row["offset"])
        dlq[key] = dlq.get(key, 0) + 1
        if row["stage"] != "sink":
            problem(f"DLQ {key}: stage {row['stage']!r}")
        if "user_id" not in row["error"] or "base64" not in row["error"]:
            problem(f"DLQ {key}: error {row['error']!r} does not give BigQuery's location and message")
if set(dlq) != invalid:
    problem(f"DLQ holds {len(dlq)}; missing {sorted(invalid - set(dlq))[:5]}, unexpected {sorted(set(dlq) - invalid)[:5]}")
valid = set(kafka) - invalid
if set(stored) != valid:
    problem(f"table holds {len(stored)} of {len(valid)} valid; missing {sorted(valid - set(stored))[:5]}, "
            f"invalid ones stored {sorted(set(stored) & invalid)[:5]}")
dups = sum(n - 1 for n in stored.values()) + sum(n - 1 for n in dlq.values())
if dups:
    problem(f"{dups} duplicates in the table or the DLQ")
print(f"  {len(stored)} valid rows stored once, {len(dlq)} invalid rows in the DLQ with BigQuery's reason")
sys.exit(1 if problems else 0)
PY
example=$(cat "$TEST_TMP"/dlq/*.ndjson | head -n 1 | jq -r .error)
note "example DLQ reason: $example"
stopped=$(emu_stat rows_stopped)
[ "$stopped" -gt 0 ] || fail "the emulator reported no stopped rows: the resend path was not exercised"
emu_stop
bq_no_sanitizer_reports
note "$invalid invalid rows dead-lettered, $valid stored exactly once ($stopped stopped rows re-sent)"
