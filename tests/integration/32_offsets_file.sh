#!/usr/bin/env bash
# The file offset store (offsets = { plugin = "file"; path = ... }):
# consume 20,000 messages from 4 partitions, SIGTERM (exit 0): the file holds
# next-offset == high watermark per partition and the Kafka group has no
# commits at all. Produce 20,000 more and restart: beast resumes from the
# file, so the output holds all 40,000 offsets with no duplicate line (from
# the group alone it would start again at offset 0). Then a corrupt line in
# the file makes `beast check` and `beast run` exit 2 naming file and line,
# and leaves the file as it was.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/pipeline_lib.sh"

PARTITIONS=4
BATCH=20000
OFFSETS_FILE="$TEST_TMP/state/events.offsets"

mock_start --topic "events:$PARTITIONS"
write_file_pipeline_config "$TEST_TMP/beast.conf" events "$TEST_TMP/out" \
  "{ plugin = \"file\"; path = \"$OFFSETS_FILE\"; }"
"$O/bin/beast" check -c "$TEST_TMP/beast.conf" >/dev/null || fail "beast check failed"

# file_offsets_total: sum of the next-offsets in the offsets file (0 if none).
file_offsets_total() {
  awk -F'\t' '!/^#/ && NF == 3 { s += $3 } END { print s + 0 }' "$OFFSETS_FILE" 2>/dev/null || echo 0
}

# check_file_at_high: the file has one line per partition, equal to its high watermark.
check_file_at_high() {
  local partition high stored lines
  lines=$(grep -vc '^#' "$OFFSETS_FILE")
  [ "$lines" -eq "$PARTITIONS" ] || fail "$OFFSETS_FILE has $lines offset lines, expected $PARTITIONS: $(cat "$OFFSETS_FILE")"
  while read -r partition high; do
    stored=$(awk -F'\t' -v p="$partition" '$1 == "events" && $2 == p { print $3 }' "$OFFSETS_FILE")
    [ "$stored" = "$high" ] ||
      fail "partition $partition: offsets file holds \"$stored\", high watermark is $high"
  done < <(high_watermarks events)
}

# check_group_has_no_commits: the file store must not commit to the group.
check_group_has_no_commits() {
  local committed
  committed=$("$O/bin/beast-kafka-offsets" --brokers "$MOCK_BOOTSTRAP" --topic events --group beast-events |
    awk '/^[0-9]/ && $4 != -1 { print $1 "=" $4 }')
  [ -z "$committed" ] || fail "the Kafka group has commits ($committed); the file store should be the only one"
}

# --- Run 1: 20,000 messages, then SIGTERM.
"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic events --format json --count "$BATCH" >/dev/null ||
  fail "beast-load failed"
beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"
wait_until 90 '[ "$(distinct_rows "$TEST_TMP/out" events "$PARTITIONS")" -ge "$BATCH" ]' ||
  fail "run 1: only $(distinct_rows "$TEST_TMP/out" events "$PARTITIONS") of $BATCH rows landed in 90 s"
wait_until 15 '[ "$(file_offsets_total)" -ge "$BATCH" ]' ||
  fail "run 1: the offsets file sums to $(file_offsets_total), expected $BATCH"
beast_stop
check_file_at_high
check_group_has_no_commits
note "run 1: $BATCH rows, offsets file at the high watermarks: $(grep -v '^#' "$OFFSETS_FILE" | tr '\t\n' ' ;')"

# --- Run 2: 20,000 more; the restart must resume from the file.
"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic events --format json --count "$BATCH" >/dev/null ||
  fail "beast-load (second batch) failed"
beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"
wait_until 90 '[ "$(distinct_rows "$TEST_TMP/out" events "$PARTITIONS")" -ge $((2 * BATCH)) ]' ||
  fail "run 2: only $(distinct_rows "$TEST_TMP/out" events "$PARTITIONS") of $((2 * BATCH)) rows landed in 90 s"
wait_until 15 '[ "$(file_offsets_total)" -ge $((2 * BATCH)) ]' ||
  fail "run 2: the offsets file sums to $(file_offsets_total), expected $((2 * BATCH))"
# Give a replay from offset 0, were there one, time to show.
sleep 1
beast_stop
lines=$(cat "$TEST_TMP"/out/events-*.ndjson | wc -l)
[ "$lines" -eq $((2 * BATCH)) ] ||
  fail "run 2: $lines lines in the output for $((2 * BATCH)) messages: $((lines - 2 * BATCH)) duplicates, the restart did not resume from the file"
check_every_offset "$TEST_TMP/out" events "$PARTITIONS" $((2 * BATCH / PARTITIONS))
check_file_at_high
check_group_has_no_commits
note "run 2: resumed from the file, $((2 * BATCH)) distinct rows and no duplicate"

# --- A corrupt offsets file: exit 2, one line naming the file and the line.
awk -F'\t' 'BEGIN { OFS = "\t" } !/^#/ && $2 == 1 { $3 = "12x" } { print }' "$OFFSETS_FILE" >"$OFFSETS_FILE.new" &&
  mv "$OFFSETS_FILE.new" "$OFFSETS_FILE" || fail "cannot corrupt $OFFSETS_FILE"
bad_line=$(grep -n $'\t12x$' "$OFFSETS_FILE" | cut -d: -f1)
[ -n "$bad_line" ] || fail "no corrupt line in $OFFSETS_FILE"
cp "$OFFSETS_FILE" "$TEST_TMP/corrupt.copy"
for command in check run; do
  rc=0
  timeout 30 "$O/bin/beast" "$command" -c "$TEST_TMP/beast.conf" >"$TEST_TMP/$command.out" 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || fail "beast $command with a corrupt offsets file exited $rc, expected 2: $(cat "$TEST_TMP/$command.out")"
  grep -qF "$OFFSETS_FILE:$bad_line:" "$TEST_TMP/$command.out" ||
    fail "beast $command does not name $OFFSETS_FILE:$bad_line: $(cat "$TEST_TMP/$command.out")"
  cmp -s "$OFFSETS_FILE" "$TEST_TMP/corrupt.copy" || fail "beast $command changed the corrupt offsets file"
  note "beast $command, corrupt file: exit 2: $(grep -F "$OFFSETS_FILE:$bad_line:" "$TEST_TMP/$command.out" | head -1)"
done
