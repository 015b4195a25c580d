#!/usr/bin/env bash
# `beast audit` with the file sink and the file DLQ. 4,000 messages on 4
# partitions, every 100th undecodable: after a clean run the audit finds
# every committed offset (the dead-lettered ones in the DLQ) and exits 0.
# Lines deleted from a partition's file, or from the DLQ, are a gap: exit 1
# naming the missing ranges. Retention: offsets deleted from the file but
# below the low watermark (the mock keeps 5 MB per partition) are not
# missing. A sink without an audit operation, an unknown --pipeline and bad
# usage exit 2.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/pipeline_lib.sh"

# audit CONFIG OUT [ARGS...]: runs beast audit, output in OUT; echoes the status.
audit() {
  local config="$1" out="$2" rc=0
  shift 2
  "$O/bin/beast" audit -c "$config" "$@" >"$out" 2>&1 || rc=$?
  echo "$rc"
}

# delete_offsets FILE KEY FROM TO: removes the lines whose "KEY":N has FROM <= N < TO
# (by value: with several sink workers, lines are not in offset order).
delete_offsets() {
  awk -v key="\"$2\":" -v from="$3" -v to="$4" '
    { at = index($0, key) }
    at { offset = substr($0, at + length(key)) + 0; if (offset >= from && offset < to) next }
    { print }' "$1" >"$1.tmp" && mv "$1.tmp" "$1"
}

mock_start --topic events:4 --topic big:1
write_file_pipeline_config "$TEST_TMP/beast.conf" events "$TEST_TMP/out"
"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic events --format json --count 4000 \
  --invalid-every 100 >/dev/null || fail "beast-load failed"
beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"
wait_until 60 '[ "$(committed_total events beast-events)" -ge 4000 ]' ||
  fail "committed only $(committed_total events beast-events) of 4000"
beast_stop

# Clean: exit 0; 40 offsets found in the DLQ, the rest in the files.
rc=$(audit "$TEST_TMP/beast.conf" "$TEST_TMP/clean.out")
[ "$rc" -eq 0 ] || { cat "$TEST_TMP/clean.out"; fail "audit of a clean run exited $rc"; }
grep -q "expected 4000, found 4000 (table 3960, dlq 40), missing 0, duplicates 0" "$TEST_TMP/clean.out" ||
  { cat "$TEST_TMP/clean.out"; fail "clean audit: wrong totals"; }
grep -q "^beast audit: no gap" "$TEST_TMP/clean.out" || fail "clean audit: no 'no gap' line"
note "clean run: exit 0, 3960 offsets in the files + 40 in the DLQ"

# A gap in a partition's file: offsets 100..149 of partition 2.
cp "$TEST_TMP/out/events-2.ndjson" "$TEST_TMP/events-2.saved"
delete_offsets "$TEST_TMP/out/events-2.ndjson" message_offset 100 150
[ "$(offsets_in_file "$TEST_TMP/out/events-2.ndjson" | wc -l)" -eq 950 ] || fail "could not delete 50 lines"
rc=$(audit "$TEST_TMP/beast.conf" "$TEST_TMP/gap.out")
[ "$rc" -eq 1 ] || { cat "$TEST_TMP/gap.out"; fail "audit with deleted lines exited $rc, expected 1"; }
grep -q "MISSING 50 offsets: 100-149" "$TEST_TMP/gap.out" ||
  { cat "$TEST_TMP/gap.out"; fail "the gap 100-149 is not named"; }
grep -q "^beast audit: GAP: 50 committed offsets in 1 partition " "$TEST_TMP/gap.out" ||
  { cat "$TEST_TMP/gap.out"; fail "no GAP summary line"; }
cp "$TEST_TMP/events-2.saved" "$TEST_TMP/out/events-2.ndjson"
note "50 lines deleted from partition 2: exit 1, missing range 100-149 named"

# A gap in the DLQ: partition 3, offset 24 (message 99) was dead-lettered.
grep -q '"offset":24,' "$TEST_TMP/dlq/events-3.ndjson" || fail "offset 24 is not in the DLQ"
delete_offsets "$TEST_TMP/dlq/events-3.ndjson" offset 24 25
rc=$(audit "$TEST_TMP/beast.conf" "$TEST_TMP/dlqgap.out")
[ "$rc" -eq 1 ] || { cat "$TEST_TMP/dlqgap.out"; fail "audit without a DLQ line exited $rc"; }
grep -q "MISSING 1 offsets: 24$" "$TEST_TMP/dlqgap.out" ||
  { cat "$TEST_TMP/dlqgap.out"; fail "the dead-lettered offset 24 is not named"; }
note "one DLQ line deleted: exit 1, offset 24 named"

# Retention, with the file offset store: 300 messages of 10 KB (3 MB),
# offsets 0..49 deleted from the file: a gap. Then 700 more (10 MB in
# all): the mock drops the oldest batches, the low watermark passes 49, and
# the same missing lines are no longer a gap.
write_file_pipeline_config "$TEST_TMP/big.conf" big "$TEST_TMP/big" \
  "{ plugin = \"file\"; path = \"$TEST_TMP/big.offsets\"; }"
"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic big --format json --count 300 \
  --size 10000 >/dev/null || fail "beast-load big failed"
beast_start "$TEST_TMP/big.conf" "$TEST_TMP/big.log"
wait_until 60 '[ "$(offsets_in_file "$TEST_TMP/big/big-0.ndjson" | wc -l)" -ge 300 ]' ||
  fail "big: only $(offsets_in_file "$TEST_TMP/big/big-0.ndjson" | wc -l) of 300 rows"
beast_stop
grep -q "^big	0	300$" "$TEST_TMP/big.offsets" || fail "big: file offset store holds $(cat "$TEST_TMP/big.offsets")"
delete_offsets "$TEST_TMP/big/big-0.ndjson" message_offset 0 50
rc=$(audit "$TEST_TMP/big.conf" "$TEST_TMP/big1.out")
[ "$rc" -eq 1 ] && grep -q "MISSING 50 offsets: 0-49" "$TEST_TMP/big1.out" ||
  { cat "$TEST_TMP/big1.out"; fail "big: offsets 0-49 deleted above the low watermark: exit $rc"; }
"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic big --format json --count 700 \
  --size 10000 >/dev/null || fail "beast-load big failed"
beast_start "$TEST_TMP/big.conf" "$TEST_TMP/big.log"
wait_until 60 'grep -q "^big	0	1000$" "$TEST_TMP/big.offsets"' ||
  fail "big: the file offset store holds $(cat "$TEST_TMP/big.offsets"), expected 1000"
beast_stop
low=$("$O/bin/beast-kafka-offsets" --brokers "$MOCK_BOOTSTRAP" --topic big | awk '/^0 / { print $2 }')
[ "${low:-0}" -gt 50 ] || fail "big: the low watermark is ${low:-?}: retention did not pass the deleted lines"
rc=$(audit "$TEST_TMP/big.conf" "$TEST_TMP/big2.out")
[ "$rc" -eq 0 ] || { cat "$TEST_TMP/big2.out"; fail "big: lines below the low watermark counted as missing (exit $rc)"; }
grep -q "expected $((1000 - low)), found $((1000 - low))" "$TEST_TMP/big2.out" ||
  { cat "$TEST_TMP/big2.out"; fail "big: wrong totals with the low watermark at $low"; }
note "retention: offsets 0-49 gone from the file are a gap at low watermark 0, not at low watermark $low"

# A sink without an audit operation (the SDK test sink), unknown pipeline, bad usage.
assemble_plugin_dir "$TEST_TMP/plugins"
sed -e "s|^plugin_dir.*|plugin_dir = \"$TEST_TMP/plugins\";|" \
  -e "s|sink    = { plugin = \"file\"; path = \"[^\"]*\";|sink    = { plugin = \"echo\";|" \
  "$TEST_TMP/beast.conf" >"$TEST_TMP/echo.conf"
grep -q 'plugin = "echo"' "$TEST_TMP/echo.conf" || fail "could not write the echo config"
rc=$(audit "$TEST_TMP/echo.conf" "$TEST_TMP/echo.out")
[ "$rc" -eq 2 ] && grep -q 'sink "echo" cannot be audited' "$TEST_TMP/echo.out" ||
  { cat "$TEST_TMP/echo.out"; fail "audit of a sink without audit exited $rc"; }
rc=$(audit "$TEST_TMP/beast.conf" "$TEST_TMP/nope.out" --pipeline nope)
[ "$rc" -eq 2 ] && grep -q 'no pipeline named "nope"' "$TEST_TMP/nope.out" ||
  { cat "$TEST_TMP/nope.out"; fail "--pipeline nope exited $rc"; }
rc=$(audit "$TEST_TMP/beast.conf" "$TEST_TMP/events.out" --pipeline events)
[ "$rc" -eq 1 ] || fail "--pipeline events exited $rc (the DLQ line is still deleted: expected 1)"
rc=0
"$O/bin/beast" audit >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "beast audit without -c exited $rc"
note "sink without audit, unknown pipeline, missing -c: exit 2"
