#!/usr/bin/env bash
# Protobuf end to end: beast-load --format proto writes example.Booking
# events (1 in 200 made undecodable), beast decodes them with the proto
# decoder from the built descriptor set into the file sink. Every valid
# offset lands as a row with the Booking's columns (enum names, nested
# records, Timestamp as RFC 3339); the invalid ones are in the DLQ with
# stage "decode".
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/pipeline_lib.sh"

mock_start --topic bookings:4
cat >"$TEST_TMP/beast.conf" <<CONF
plugin_dir = "$O/plugins";
data_dir   = "$TEST_TMP/data";
kafka = { bootstrap_servers = "$MOCK_BOOTSTRAP"; session_timeout_ms = 6000; };
pipelines = ( {
  name    = "bookings";
  topics  = [ "bookings" ];
  commit_interval_ms = 200;
  decoder = { plugin = "proto"; descriptor_set = "$O/schemas/booking.desc"; message = "example.Booking"; };
  sink    = { plugin = "file"; path = "$TEST_TMP/out"; linger_ms = 50; };
  dlq     = { plugin = "file"; path = "$TEST_TMP/dlq"; };
} );
CONF
"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic bookings --format proto --count 20000 \
  --invalid-every 200 >"$TEST_TMP/load.log" 2>&1 || fail "beast-load: $(cat "$TEST_TMP/load.log")"
beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"
landed() { cat "$TEST_TMP"/out/*.ndjson "$TEST_TMP"/dlq/*.ndjson 2>/dev/null | grep -c ''; }
wait_until 60 '[ "$(landed)" -ge 20000 ]' || fail "only $(landed) of 20000 landed"
wait_until 15 '[ "$(committed_total bookings beast-bookings)" -ge 20000 ]' ||
  fail "committed $(committed_total bookings beast-bookings) of 20000"
beast_stop

rows=$(cat "$TEST_TMP"/out/*.ndjson | grep -c '')
dlq=$(cat "$TEST_TMP"/dlq/*.ndjson | grep -c '')
[ "$rows" -eq 19900 ] || fail "$rows rows in the sink, expected 19900"
[ "$dlq" -eq 100 ] || fail "$dlq rows in the DLQ, expected 100"
# Every DLQ row is an undecodable one: offset % 50 == 49 within its partition
# (message i goes to partition i % 4, so invalid i % 200 == 199 land at
# offsets 49, 99, ... of partition 3).
jq -e -s 'all(.[]; .stage == "decode" and .partition == 3 and (.offset % 50) == 49 and
                   (.error | test("invalid field number 0 at byte [0-9]+ in message example.Booking")))' "$TEST_TMP"/dlq/*.ndjson >/dev/null ||
  fail "DLQ rows are not exactly the invalid messages: $(jq -c "{partition,offset,stage,error}" "$TEST_TMP"/dlq/*.ndjson | head -3)"
row=$(head -1 "$TEST_TMP/out/bookings-0.ndjson")
jq -e '(.booking_id | startswith("bk-")) and (.status | type == "string") and
       (.customer.email | endswith("@example.com")) and (.items | length >= 1) and
       (.items[0].price.currency == "IDR") and (.created_at | test("^20[0-9-]+T[0-9:.]+Z$")) and
       (.attributes | length == 2) and .message_topic == "bookings"' <<<"$row" >/dev/null ||
  fail "row does not look like a decoded Booking: $row"
note "19900 Booking rows decoded, 100 invalid in the DLQ, committed == high"
