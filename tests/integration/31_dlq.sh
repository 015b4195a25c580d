#!/usr/bin/env bash
# The file DLQ (SPEC §4.4): 20,000 messages on 4 partitions, every 100th one
# truncated JSON (beast-load --invalid-every 100 --headers). Exactly those
# 200 land in the DLQ directory, one NDJSON object each with topic,
# partition, offset, timestamp, key and value (base64 of exactly the bytes in
# Kafka), headers, stage "decode" and the decoder's reason; the other 19,800
# land once each in the sink files and never in the DLQ; every offset is
# committed; beast_rows_dlq_total and beast_decode_errors_total are 200.
# (i % 100 == 99 and i % 4 == 3 coincide, so all invalid messages are on
# partition 3, offsets 24, 49, ..., 4999.)
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/pipeline_lib.sh"

PARTITIONS=4
COUNT=20000
EVERY=100
PER_PARTITION=$((COUNT / PARTITIONS))
INVALID=$((COUNT / EVERY))
VALID=$((COUNT - INVALID))
STARTED_AT=$(date +%s)

mock_start --topic "events:$PARTITIONS"
PORT=$(free_port)
write_file_pipeline_config "$TEST_TMP/beast.conf" events "$TEST_TMP/out" kafka "" \
  "$(metrics_config "$PORT")"
"$O/bin/beast" check -c "$TEST_TMP/beast.conf" >/dev/null || fail "beast check failed"

for bad in 0 -5 x; do
  rc=0
  "$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic events --format json --count 1 \
    --invalid-every "$bad" >/dev/null 2>"$TEST_TMP/bad.err" || rc=$?
  [ "$rc" -eq 2 ] && grep -q -- '--invalid-every' "$TEST_TMP/bad.err" ||
    fail "beast-load --invalid-every $bad: exit $rc (expected 2): $(cat "$TEST_TMP/bad.err")"
done
summary=$("$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic events --format json \
  --count "$COUNT" --invalid-every "$EVERY" --headers) || fail "beast-load failed"
[[ "$summary" == "produced $COUNT messages to events "*", $INVALID invalid" ]] ||
  fail "beast-load summary does not end with \", $INVALID invalid\": $summary"

dlq_lines() {
  cat "$TEST_TMP"/dlq/*.ndjson 2>/dev/null | wc -l
}

beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"
wait_until 90 '[ "$(distinct_rows "$TEST_TMP/out" events "$PARTITIONS")" -ge "$VALID" ] && [ "$(dlq_lines)" -ge "$INVALID" ]' ||
  { tail -20 "$TEST_TMP/beast.log"; fail "after 90 s: $(distinct_rows "$TEST_TMP/out" events "$PARTITIONS") rows in the sink (want $VALID), $(dlq_lines) in the DLQ (want $INVALID)"; }
wait_until 15 '[ "$(committed_total events beast-events)" -ge "$COUNT" ]' ||
  fail "committed only $(committed_total events beast-events) of $COUNT"

# Everything is acknowledged now, so the counters are final.
for metric in beast_rows_dlq_total:$INVALID beast_decode_errors_total:$INVALID \
  beast_rows_written_total:$VALID beast_messages_consumed_total:$COUNT; do
  name=${metric%%:*} want=${metric##*:}
  got=$(metric_value "$PORT" "$name") || fail "no $name on http://127.0.0.1:$PORT/metrics"
  [ "$got" -eq "$want" ] || fail "$name = $got, expected $want"
done
note "metrics: beast_rows_dlq_total = $INVALID, beast_decode_errors_total = $INVALID, beast_rows_written_total = $VALID"
beast_stop

check_committed_at_high events beast-events
[ "$(committed_total events beast-events)" -eq "$COUNT" ] || fail "committed total != $COUNT"
dead_lettered=$(grep -c 'dead-lettered events/' "$TEST_TMP/beast.log")
[ "$dead_lettered" -eq "$INVALID" ] || fail "the log has $dead_lettered dead-lettered lines, expected $INVALID"

# What Kafka holds, byte for byte: "OFFSET KEY VALUE" per line.
for ((p = 0; p < PARTITIONS; p++)); do
  "$O/bin/beast-kafka-read" --brokers "$MOCK_BOOTSTRAP" --topic events --partition "$p" \
    --offset 0 --count "$PER_PARTITION" --with-offset >"$TEST_TMP/kafka-$p.txt" ||
    fail "beast-kafka-read of partition $p failed"
done

python3 - "$TEST_TMP" "$PARTITIONS" "$PER_PARTITION" "$EVERY" "$STARTED_AT" <<'PY' || fail "DLQ / sink contents are wrong (see above)"
import base64, datetime, glob, json, os, re, sys

tmp, partitions, per_partition, every, started_at = sys.argv[1], *map(int, sys.argv[2:])
problems = []

def problem(text):
    problems.append(text)
    if len(problems) <= 20:
        print("  " + text)

# Kafka's bytes per (partition, offset).
kafka = {}
for p in range(partitions):
    with open(f"{tmp}/kafka-{p}.txt", "rb") as f:
        lines = f.read().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if len(lines) != per_partition:
        problem(f"partition {p}: beast-kafka-read printed {len(lines)} lines, expected {per_partition}")
    for line in lines:
        offset, key, value = line.split(b" ", 2)
        kafka[(p, int(offset))] = (key, value)

invalid = set()
for (p, o) in kafka:
    seq = o * partitions + p
    if seq % every == every - 1:
        invalid.add((p, o))
# The input really is what the test claims: invalid ones do not parse, the others do.
for (p, o), (key, value) in kafka.items():
    try:
        json.loads(value)
        parsed = True
    except ValueError:
        parsed = False
    if parsed == ((p, o) in invalid):
        problem(f"input {p}@{o}: parses as JSON = {parsed}, but invalid = {(p, o) in invalid}")
if len(invalid) != len(kafka) // every:
    problem(f"{len(invalid)} invalid messages in Kafka, expected {len(kafka) // every}")

# The DLQ.
fields = ["topic", "partition", "offset", "timestamp", "key", "value", "headers", "stage", "error"]
b64 = lambda text: base64.b64encode(text.encode()).decode()
dlq = {}
files = sorted(glob.glob(f"{tmp}/dlq/*.ndjson"))
if not files:
    problem(f"no *.ndjson files in {tmp}/dlq")
for name in files:
    with open(name, "rb") as f:
        for number, line in enumerate(f, 1):
            where = f"{os.path.basename(name)}:{number}"
            try:
                row = json.loads(line)
            except ValueError as e:
                problem(f"{where}: not JSON: {e}")
                continue
            if sorted(row) != sorted(fields):
                problem(f"{where}: fields {sorted(row)}, expected {sorted(fields)}")
                continue
            p, o = row["partition"], row["offset"]
            if row["topic"] != "events" or not isinstance(p, int) or not isinstance(o, int):
                problem(f"{where}: topic/partition/offset {row['topic']!r} {p!r} {o!r}")
                continue
            if (p, o) in dlq:
                problem(f"{where}: {p}@{o} is in the DLQ twice")
            dlq[(p, o)] = row
            if (p, o) not in kafka:
                problem(f"{where}: {p}@{o} is not in Kafka")
                continue
            key, value = kafka[(p, o)]
            seq = o * partitions + p
            if base64.b64decode(row["value"], validate=True) != value:
                problem(f"{where}: value is not the {len(value)} bytes of {p}@{o} in Kafka")
            if row["key"] is None or base64.b64decode(row["key"], validate=True) != key:
                problem(f"{where}: key {row['key']!r} is not base64 of {key!r}")
            if row["stage"] != "decode":
                problem(f"{where}: stage {row['stage']!r}, expected 'decode'")
            m = re.fullmatch(r"invalid JSON at byte (\d+): unexpected end of input.*", row["error"] or "")
            if not m or int(m.group(1)) > len(value):
                problem(f"{where}: error {row['error']!r} does not name a byte within the "
                        f"{len(value)}-byte value and the end of input")
            want_headers = [{"key": "beast-test", "value": b64("invalid")},
                            {"key": "beast-seq", "value": b64(str(seq))},
                            {"key": "beast-source", "value": b64("beast-load")}]
            if row["headers"] != want_headers:
                problem(f"{where}: headers {row['headers']!r}, expected {want_headers!r}")
            try:
                ts = datetime.datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00")).timestamp()
                if not started_at - 3600 <= ts <= datetime.datetime.now().timestamp() + 60:
                    problem(f"{where}: timestamp {row['timestamp']} is not around now")
            except (AttributeError, ValueError):
                problem(f"{where}: timestamp {row['timestamp']!r} is not RFC 3339")
if set(dlq) != invalid:
    missing = sorted(invalid - set(dlq))
    extra = sorted(set(dlq) - invalid)
    problem(f"DLQ holds {len(dlq)} messages; missing {len(missing)} invalid ones {missing[:5]}, "
            f"{len(extra)} unexpected ones {extra[:5]}")

# The sink: every valid offset exactly once, with its own payload; no invalid one.
seen = {}
for p in range(partitions):
    name = f"{tmp}/out/events-{p}.ndjson"
    if not os.path.exists(name):
        problem(f"no sink file {name}")
        continue
    with open(name, "rb") as f:
        for number, line in enumerate(f, 1):
            row = json.loads(line)
            key = (row["message_partition"], row["message_offset"])
            if row["message_topic"] != "events" or key[0] != p:
                problem(f"events-{p}.ndjson:{number}: row of {row['message_topic']}/{key[0]}")
            seen[key] = seen.get(key, 0) + 1
            if row.get("seq") != key[1] * partitions + p:
                problem(f"events-{p}.ndjson:{number}: offset {key[1]} holds seq {row.get('seq')}")
valid = set(kafka) - invalid
duplicates = sum(n - 1 for n in seen.values())
if set(seen) != valid or duplicates:
    problem(f"sink: {len(set(seen) & valid)} of {len(valid)} valid offsets, "
            f"{len(set(seen) & invalid)} invalid ones, {duplicates} duplicate rows")
if problems:
    print(f"{len(problems)} problems")
    sys.exit(1)
print(f"DLQ: {len(dlq)} rows, all fields and bytes as in Kafka; sink: {len(seen)} rows, each once")
PY
note "$INVALID invalid messages dead-lettered with their exact bytes, $VALID rows in the sink once each, committed == high watermark"
