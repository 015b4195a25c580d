#!/usr/bin/env bash
# BigQuery sink schema evolution with auto_update_schema, proto decoder.
# The decoder starts from a descriptor of example.Booking without `tags`
# (25) and `country_code` (26); the table exists with that schema plus the
# metadata columns plus `legacy_id STRING REQUIRED`, a column the rows do
# not carry. The records in Kafka carry fields 25 and 26, so the decoder
# sees unknown fields (and rereads its descriptor file on the way).
# Phase 1: insertAll answers "Missing required field: legacy_id": the sink
# relaxes legacy_id to NULLABLE with tables.patch and sends the rows again;
# 2,000 records land. Phase 2: the descriptor file is replaced by the full
# one, the decoder's schema grows, insertAll answers "no such field: tags",
# the sink adds tags and country_code (never dropping, retyping or moving
# a column) and sends again; 2,000 more land with the new columns filled.
# Nothing is dead-lettered. (JSON rows have no decoder schema, so
# auto_update_schema needs a decoder like proto.) Needs proto records:
# beast-load --format proto or $BQ_PROTO_PRODUCER; else skipped.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/pipeline_lib.sh"
source "$BEAST_ROOT/plugins/sink_bigquery/tests/bigquery_lib.sh"
skip_without_proto_producer
command -v protoc >/dev/null || fail "protoc is needed by this test"

TOPIC=bookings
PARTITIONS=4
FIRST=2000
SECOND=2000
COUNT=$((FIRST + SECOND))

# v1: booking.proto without fields 25 and 26.
mkdir -p "$TEST_TMP/v1"
grep -v -E '^\s*(repeated string tags = 25|string country_code = 26);' "$BEAST_ROOT/schemas/booking.proto" \
  >"$TEST_TMP/v1/booking.proto"
[ "$(grep -c ' = 2[56];' "$TEST_TMP/v1/booking.proto")" -eq 0 ] || fail "could not cut fields 25/26 out of booking.proto"
protoc -I"$TEST_TMP/v1" --include_imports --descriptor_set_out="$TEST_TMP/v1.desc" "$TEST_TMP/v1/booking.proto" ||
  fail "protoc failed"
cp "$TEST_TMP/v1.desc" "$TEST_TMP/booking.desc"

mock_start --topic "$TOPIC:$PARTITIONS"
emu_start "$TEST_TMP/emulator-data"
# (beast schema prints the metadata columns too.)
"$O/bin/beast" schema --plugin-dir "$O/plugins" --descriptor-set "$TEST_TMP/v1.desc" --message example.Booking --format bigquery |
  jq -c '. + [{"name":"legacy_id","type":"STRING","mode":"REQUIRED"}]' >"$TEST_TMP/v1-table.json" ||
  fail "beast schema of v1 failed"
bq_create_table "$TOPIC" "$(cat "$TEST_TMP/v1-table.json")"
DECODER="{ plugin = \"proto\"; descriptor_set = \"$TEST_TMP/booking.desc\"; message = \"example.Booking\";
           reload_min_interval_ms = 200; }"
write_bigquery_config "$TEST_TMP/beast.conf" "$TOPIC" \
  'table = "{topic}"; auth = "none"; auto_create = true; auto_update_schema = true;' "$DECODER"

produce_bookings "$TOPIC" "$FIRST"
bq_beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"
bq_wait 60 '[ "$(bq_total_rows "$TOPIC")" -ge "$FIRST" ]' '$(bq_total_rows "$TOPIC") of $FIRST rows (phase 1)'
columns() { bq_table_json "$TOPIC" | jq -r '[.schema.fields[].name] | join(",")'; }
before=$(columns)
[[ ",$before," != *,tags,* && ",$before," != *,country_code,* ]] ||
  fail "phase 1: the table already has tags/country_code: $before"
mode=$(bq_table_json "$TOPIC" | jq -r '.schema.fields[] | select(.name == "legacy_id") | .mode')
[ "$mode" = NULLABLE ] || fail "phase 1: legacy_id is $mode, expected relaxed to NULLABLE"
grep -q "updated the schema of $BQ_PROJECT:$BQ_DATASET.$TOPIC to decoder schema version 1: relaxed legacy_id" \
  "$TEST_TMP/beast.log" || fail "no schema update line for legacy_id in the log"

# Phase 2: the full descriptor (renamed into place, as a deploy would).
cp "$O/schemas/booking.desc" "$TEST_TMP/booking.desc.new" && mv "$TEST_TMP/booking.desc.new" "$TEST_TMP/booking.desc"
produce_bookings "$TOPIC" "$SECOND"
bq_wait 60 '[ "$(bq_total_rows "$TOPIC")" -ge "$COUNT" ]' '$(bq_total_rows "$TOPIC") of $COUNT rows (phase 2)'
bq_wait 15 '[ "$(committed_total "$TOPIC" beast-events)" -ge "$COUNT" ]' \
  'committed $(committed_total "$TOPIC" beast-events) of $COUNT'
beast_stop
check_table_exactly_once "$TOPIC" "$TOPIC" "$PARTITIONS" $((COUNT / PARTITIONS)) any-seq
[ "$(dlq_lines)" -eq 0 ] || fail "$(dlq_lines) records were dead-lettered: $(cat "$TEST_TMP"/dlq/*.ndjson | head -c 600)"

after=$(columns)
[ "$after" = "$before,tags,country_code" ] ||
  fail "the schema did not grow by tags,country_code at the end (nothing dropped or moved): before $before, after $after"
bq_table_json "$TOPIC" | jq -e '.schema.fields[] | select(.name == "tags") | .mode == "REPEATED" and .type == "STRING"' >/dev/null ||
  fail "tags is not STRING REPEATED: $(bq_table_json "$TOPIC" | jq -c '.schema.fields[] | select(.name == "tags")')"
grep -q "updated the schema of $BQ_PROJECT:$BQ_DATASET.$TOPIC to decoder schema version [0-9]*: added tags, added country_code" \
  "$TEST_TMP/beast.log" || fail "no schema update line in the log"
with_new=$(jq -c 'select(.country_code == "ID" and (.tags | length) > 0)' "$TEST_TMP/rows.ndjson" | wc -l)
[ "$with_new" -ge "$SECOND" ] || fail "only $with_new rows carry the new columns, expected at least $SECOND"
patched=$(emu_stat tables_patched)
[ "$patched" -ge 2 ] || fail "tables.patch was called $patched times, expected 2"
emu_stop
bq_no_sanitizer_reports
note "legacy_id relaxed, schema grew by tags, country_code ($patched tables.patch); $with_new rows carry them; $COUNT records exactly once"
