#!/usr/bin/env bash
# BigQuery sink with the proto decoder and auto_create: 4,000 example.Booking
# records (4 partitions) into "{topic}" = bookings, which does not exist: the
# sink creates it from the decoder's schema plus the metadata columns
# (tables.insert, the same schema `beast schema --format bigquery` prints),
# partitioned by DAY on created_at and clustered by country_code, status;
# every record lands exactly once. Needs proto records in Kafka: `beast-load
# --format proto`, or $BQ_PROTO_PRODUCER (a command: BROKERS TOPIC COUNT);
# skipped (exit 0) when neither exists.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/pipeline_lib.sh"
source "$BEAST_ROOT/plugins/sink_bigquery/tests/bigquery_lib.sh"
skip_without_proto_producer

TOPIC=bookings
PARTITIONS=4
COUNT=4000
[ -f "$O/schemas/booking.desc" ] || fail "$O/schemas/booking.desc not built (run make)"

mock_start --topic "$TOPIC:$PARTITIONS"
emu_start "$TEST_TMP/emulator-data"
bq_create_dataset
DECODER="{ plugin = \"proto\"; descriptor_set = \"$O/schemas/booking.desc\"; message = \"example.Booking\"; }"
write_bigquery_config "$TEST_TMP/beast.conf" "$TOPIC" \
  'table = "{topic}"; auth = "none"; auto_create = true; partition_field = "created_at";
   partition_type = "DAY"; clustering = [ "country_code", "status" ];' "$DECODER"
"$O/bin/beast" check --connect -c "$TEST_TMP/beast.conf" >"$TEST_TMP/check.out" 2>&1 ||
  fail "beast check --connect failed (a missing table is fine with auto_create): $(cat "$TEST_TMP/check.out")"

produce_bookings "$TOPIC" "$COUNT"
bq_beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"
bq_wait 60 '[ "$(bq_total_rows "$TOPIC")" -ge "$COUNT" ]' '$(bq_total_rows "$TOPIC") of $COUNT rows'
bq_wait 15 '[ "$(committed_total "$TOPIC" beast-events)" -ge "$COUNT" ]' \
  'committed $(committed_total "$TOPIC" beast-events) of $COUNT'
beast_stop
check_table_exactly_once "$TOPIC" "$TOPIC" "$PARTITIONS" $((COUNT / PARTITIONS)) any-seq
check_committed_at_high "$TOPIC" beast-events
[ "$(dlq_lines)" -eq 0 ] || fail "$(dlq_lines) records were dead-lettered"

bq_table_json "$TOPIC" >"$TEST_TMP/table.json" || fail "tables.get $TOPIC failed"
[ "$(jq -r '.timePartitioning.type + ":" + .timePartitioning.field' "$TEST_TMP/table.json")" = "DAY:created_at" ] ||
  fail "timePartitioning is $(jq -c .timePartitioning "$TEST_TMP/table.json")"
[ "$(jq -r '.clustering.fields | join(",")' "$TEST_TMP/table.json")" = "country_code,status" ] ||
  fail "clustering is $(jq -c .clustering "$TEST_TMP/table.json")"
# The created schema is the decoder's (what `beast schema` prints) plus metadata columns.
normalize='def n: map({name, type, mode: (.mode // "NULLABLE")} + (if .fields then {fields: (.fields | n)} else {} end)); n'
"$O/bin/beast" schema --plugin-dir "$O/plugins" --descriptor-set "$O/schemas/booking.desc" --message example.Booking --format bigquery |
  jq -c "$normalize" >"$TEST_TMP/want.json" || fail "beast schema failed"
jq -c ".schema.fields | $normalize" "$TEST_TMP/table.json" >"$TEST_TMP/have.json"
if ! cmp -s "$TEST_TMP/want.json" "$TEST_TMP/have.json"; then
  jq -c '[.[] | .name]' "$TEST_TMP/want.json" "$TEST_TMP/have.json"
  fail "the created table's schema differs from the decoder's schema with metadata columns"
fi
grep -q "created table $BQ_PROJECT:$BQ_DATASET.$TOPIC: $(jq length "$TEST_TMP/want.json") columns, partitioned by DAY on created_at, clustered" \
  "$TEST_TMP/beast.log" || fail "no 'created table' line in the log"
[ "$(emu_stat tables_created)" -eq 1 ] || fail "the emulator created $(emu_stat tables_created) tables, expected 1"
emu_stop
bq_no_sanitizer_reports
note "table created from the proto schema ($(jq length "$TEST_TMP/want.json") columns, DAY partitions on created_at, clustered); $COUNT records exactly once"
