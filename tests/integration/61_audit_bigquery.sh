#!/usr/bin/env bash
# `beast audit` against BigQuery (the emulator's jobs.query), unchanged
# from what it sends to Google. A pipeline with a regex topic list and
# table = "{topic}": 4,000 messages on "events" (every 100th undecodable,
# so 40 in the file DLQ) → the audit finds every committed offset, exit 0.
# Then a second process in the same group, writing to files, consumes 2,000
# more messages and 200 on "missing.topic" (whose table was never created)
# and commits them: the table lacks what the group committed, so the audit
# exits 1 naming 1000-1499 on each partition of events and 0-99 on each of
# missing.topic; 100 messages nobody consumed show as "beyond committed".
# Rows nested under metadata_namespace = "meta" are audited too. With the
# emulator gone the audit has no verdict: exit 3.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/pipeline_lib.sh"
source "$BEAST_ROOT/plugins/sink_bigquery/tests/bigquery_lib.sh"

audit() {
  local config="$1" out="$2" rc=0
  shift 2
  "$O/bin/beast" audit -c "$config" "$@" >"$out" 2>&1 || rc=$?
  echo "$rc"
}

mock_start --topic events:4 --topic missing.topic:2 --topic nested:2
emu_start "$TEST_TMP/emulator-data"
bq_create_table events "$BQ_JSON_FIELDS"
write_bigquery_config "$TEST_TMP/beast.conf" '"events", "^missing[.].*"' \
  'table = "{topic}"; auth = "none";'
"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic events --format json --count 4000 \
  --invalid-every 100 >/dev/null || fail "beast-load failed"
bq_beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"
bq_wait 60 '[ "$(committed_total events beast-events)" -ge 4000 ]' \
  'committed $(committed_total events beast-events) of 4000'
beast_stop

queries_before=$(emu_stat queries)
rc=$(audit "$TEST_TMP/beast.conf" "$TEST_TMP/clean.out")
[ "$rc" -eq 0 ] || { cat "$TEST_TMP/clean.out"; fail "audit of a clean run exited $rc"; }
grep -q "topic events: table $BQ_PROJECT:$BQ_DATASET.events; dlq $TEST_TMP/dlq" "$TEST_TMP/clean.out" ||
  { cat "$TEST_TMP/clean.out"; fail "the audit does not name the table and the DLQ"; }
grep -q "expected 4000, found 4000 (table 3960, dlq 40), missing 0, duplicates 0" "$TEST_TMP/clean.out" ||
  { cat "$TEST_TMP/clean.out"; fail "clean audit: wrong totals"; }
queries=$(($(emu_stat queries) - queries_before))
# One aggregate query per partition of events; the listing only for
# partition 3, whose dead-lettered offsets are not in the table.
[ "$queries" -le 6 ] || fail "the clean audit ran $queries queries (aggregate first, list only on a shortfall)"
note "clean: exit 0 in $queries queries, 3960 offsets in the table + 40 in the DLQ"

# Another member of the group commits what the table never got.
"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic events --format json --count 2000 >/dev/null ||
  fail "beast-load failed"
"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic missing.topic --format json --count 200 >/dev/null ||
  fail "beast-load failed"
write_file_pipeline_config "$TEST_TMP/files.conf" 'events", "missing.topic' "$TEST_TMP/out"
beast_start "$TEST_TMP/files.conf" "$TEST_TMP/files.log"
wait_until 60 '[ $(($(committed_total events beast-events) + $(committed_total missing.topic beast-events))) -ge 6200 ]' ||
  fail "the file pipeline committed only $(committed_total events beast-events) + $(committed_total missing.topic beast-events)"
beast_stop
"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic events --format json --count 100 >/dev/null ||
  fail "beast-load failed"

rc=$(audit "$TEST_TMP/beast.conf" "$TEST_TMP/gap.out")
[ "$rc" -eq 1 ] || { cat "$TEST_TMP/gap.out"; fail "audit with committed-but-missing offsets exited $rc"; }
[ "$(grep -c "MISSING 500 offsets: 1000-1499$" "$TEST_TMP/gap.out")" -eq 4 ] ||
  { cat "$TEST_TMP/gap.out"; fail "events: the range 1000-1499 is not named for all 4 partitions"; }
grep -q "topic missing.topic: table $BQ_PROJECT:$BQ_DATASET.missing_topic" "$TEST_TMP/gap.out" &&
  [ "$(grep -c "MISSING 100 offsets: 0-99$" "$TEST_TMP/gap.out")" -eq 2 ] ||
  { cat "$TEST_TMP/gap.out"; fail "missing.topic: the absent table's offsets 0-99 are not named"; }
grep -q "missing 2200, duplicates 0 (dlq 0), beyond committed 0 of 100" "$TEST_TMP/gap.out" ||
  { cat "$TEST_TMP/gap.out"; fail "gap audit: wrong totals"; }
grep -q "^beast audit: GAP: 2200 committed offsets in 6 partitions" "$TEST_TMP/gap.out" ||
  { cat "$TEST_TMP/gap.out"; fail "no GAP summary line"; }
note "committed ahead of the table: exit 1, 1000-1499 x 4 and 0-99 x 2 (no table) named, 100 beyond committed"

# metadata_namespace: the coordinates are meta.message_*.
NESTED_FIELDS=$(jq -c '[.[] | select(.name | startswith("message_") or . == "load_time" | not)]
  + [{"name":"meta","type":"RECORD","fields":[.[] | select(.name | startswith("message_") or . == "load_time")]}]' \
  <<<"$BQ_JSON_FIELDS")
bq_create_table nested "$NESTED_FIELDS"
write_bigquery_config "$TEST_TMP/nested.conf" nested \
  'table = "nested"; auth = "none"; metadata_namespace = "meta";' "" 'group_id = "beast-nested";'
"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic nested --format json --count 1000 >/dev/null ||
  fail "beast-load failed"
bq_beast_start "$TEST_TMP/nested.conf" "$TEST_TMP/nested.log"
bq_wait 60 '[ "$(committed_total nested beast-nested)" -ge 1000 ]' \
  'nested: committed $(committed_total nested beast-nested) of 1000'
beast_stop
rc=$(audit "$TEST_TMP/nested.conf" "$TEST_TMP/nested.out")
[ "$rc" -eq 0 ] && grep -q "expected 1000, found 1000 (table 1000, dlq 0)" "$TEST_TMP/nested.out" ||
  { cat "$TEST_TMP/nested.out"; fail "audit of meta.message_* rows exited $rc"; }
note "metadata_namespace = meta: exit 0, 1000 offsets found"

# No emulator: no verdict.
emu_stop
rc=$(audit "$TEST_TMP/nested.conf" "$TEST_TMP/down.out")
[ "$rc" -eq 3 ] && grep -q "could not be audited" "$TEST_TMP/down.out" ||
  { cat "$TEST_TMP/down.out"; fail "audit with the emulator down exited $rc, expected 3"; }
bq_no_sanitizer_reports
note "emulator down: exit 3 (no verdict)"
