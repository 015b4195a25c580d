#!/usr/bin/env bash
# The Kafka stand-in tools on their own: beast-kafka-mock refuses bad
# arguments (exit 2) and creates 100 topics fast; beast-load spreads 20,000
# JSON messages evenly over 4 partitions (checked with beast-kafka-offsets),
# pads to --size, keeps --rate, and exits 1 naming the count when deliveries
# fail; beast-kafka-read shows valid JSON with the expected seq.
set -u
source "$(dirname "$0")/../lib.sh"

MOCK="$O/bin/beast-kafka-mock"
LOAD="$O/bin/beast-load"
OFFSETS="$O/bin/beast-kafka-offsets"
READ="$O/bin/beast-kafka-read"

# expect_exit CODE STDERR_PATTERN CMD...: CMD exits CODE, stderr matches.
expect_exit() {
  local want="$1" pattern="$2" rc=0
  shift 2
  "$@" >"$TEST_TMP/out" 2>"$TEST_TMP/err" || rc=$?
  [ "$rc" -eq "$want" ] || fail "$*: exit $rc, expected $want (stderr: $(cat "$TEST_TMP/err"))"
  grep -Eq "$pattern" "$TEST_TMP/err" || fail "$*: stderr \"$(cat "$TEST_TMP/err")\" does not match /$pattern/"
  [ "$(wc -l <"$TEST_TMP/err")" -eq 1 ] || fail "$*: error is not one line: $(cat "$TEST_TMP/err")"
}

note "bad arguments exit 2 with one clear line"
expect_exit 2 'topic "t": expected NAME:PARTITIONS' "$MOCK" --topic t
expect_exit 2 'PARTITIONS must be an integer' "$MOCK" --topic t:0
expect_exit 2 'PARTITIONS must be an integer' "$MOCK" --topic t:four
expect_exit 2 'brokers "0"' "$MOCK" --brokers 0
expect_exit 2 'unknown option "--bogus"' "$MOCK" --bogus
expect_exit 2 'required' "$LOAD" --topic t --format json --count 1
expect_exit 2 'unknown format' "$LOAD" --brokers 127.0.0.1:9 --topic t --format xml --count 1
expect_exit 2 'required' "$OFFSETS" --topic t
"$MOCK" --help | grep -q '^usage: beast-kafka-mock' || fail "beast-kafka-mock --help"

note "100 topics are created well under 10 s"
topics=()
for ((i = 0; i < 100; i++)); do topics+=(--topic "many$i:2"); done
start=$EPOCHREALTIME
mock_start "${topics[@]}"
took=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
awk -v t="$took" 'BEGIN { exit !(t < 5) }' || fail "100 topics took $took s"
"$OFFSETS" --brokers "$MOCK_BOOTSTRAP" --topic many99 >"$TEST_TMP/many99" || fail "many99 not queryable"
[ "$(wc -l <"$TEST_TMP/many99")" -eq 2 ] || fail "many99 should have 2 partitions: $(cat "$TEST_TMP/many99")"
mock_stop || fail "mock exited $? after SIGTERM (expected 0)"
note "100 topics up in $took s; SIGTERM exit 0"

mock_start --topic t:4 --topic padded:2 --topic slow:1
[[ "$MOCK_BOOTSTRAP" =~ ^127\.0\.0\.1:[0-9]+$ ]] || fail "unexpected bootstrap list \"$MOCK_BOOTSTRAP\""

note "20000 JSON messages spread evenly over 4 partitions"
summary=$("$LOAD" --brokers "$MOCK_BOOTSTRAP" --topic t --format json --count 20000) || fail "beast-load failed"
[[ "$summary" =~ ^produced\ 20000\ messages\ to\ t\ \(4\ partitions\)\ in\ [0-9]+\.[0-9]{2}\ s,\ [0-9]+\ msg/s$ ]] ||
  fail "unexpected summary: $summary"
"$OFFSETS" --brokers "$MOCK_BOOTSTRAP" --topic t --group nobody >"$TEST_TMP/offsets" || fail "beast-kafka-offsets failed"
expected=$'0 0 5000 -1\n1 0 5000 -1\n2 0 5000 -1\n3 0 5000 -1'
[ "$(cat "$TEST_TMP/offsets")" = "$expected" ] || fail "offsets are not 5000 per partition: $(cat "$TEST_TMP/offsets")"
total=$(awk '{ s += $3 } END { print s }' "$TEST_TMP/offsets")
[ "$total" -eq 20000 ] || fail "high watermarks sum to $total, expected 20000"

note "message i is in partition i % 4 with key k<i>, as JSON"
"$READ" --brokers "$MOCK_BOOTSTRAP" --topic t --partition 2 --offset 3 --count 2 --with-offset >"$TEST_TMP/read" ||
  fail "beast-kafka-read failed"
read -r offset key value <"$TEST_TMP/read"
[ "$offset" = 3 ] && [ "$key" = k14 ] || fail "partition 2 offset 3: got offset $offset key $key, expected k14"
jq -e '.seq == 14 and .id == "evt-14" and .currency == "EUR" and (.amount | type) == "number"
       and (.active | type) == "boolean" and .tags == ["a", "b"] and (.nested.lat | type) == "number"
       and (.created_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$"))' \
  <<<"$value" >/dev/null || fail "not the expected JSON event: $value"
[ "$(sed -n 2p "$TEST_TMP/read" | cut -d' ' -f2)" = k18 ] || fail "next message in partition 2 is not k18"

note "--size pads every payload to exactly that many bytes"
"$LOAD" --brokers "$MOCK_BOOTSTRAP" --topic padded --format json --count 10 --size 1000 >/dev/null ||
  fail "beast-load --size failed"
"$READ" --brokers "$MOCK_BOOTSTRAP" --topic padded --partition 1 --count 5 >"$TEST_TMP/padded" || fail "read padded"
awk 'length($0) != 1000 { bad = 1 } END { exit bad }' "$TEST_TMP/padded" || fail "padded payloads are not 1000 bytes"
jq -e '.seq == 1' <<<"$(head -n 1 "$TEST_TMP/padded")" >/dev/null || fail "padded payload is not valid JSON"

note "--rate holds the pace"
start=$EPOCHREALTIME
"$LOAD" --brokers "$MOCK_BOOTSTRAP" --topic slow --format json --count 1500 --rate 3000 >/dev/null ||
  fail "beast-load --rate failed"
took=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
awk -v t="$took" 'BEGIN { exit !(t >= 0.4 && t < 5) }' || fail "1500 messages at 3000/s took $took s"
mock_stop || fail "mock exited $? after SIGTERM (expected 0)"

note "failed deliveries: exit 1 naming the count"
mock_start --topic doomed:2
"$LOAD" --brokers "$MOCK_BOOTSTRAP" --topic doomed --format json --count 4000 --rate 2000 \
  --property message.timeout.ms=1500 >"$TEST_TMP/doomed.out" 2>"$TEST_TMP/doomed.err" &
load_pid=$!
cleanup_add "kill -9 $load_pid"
sleep 0.5
mock_stop || fail "mock exited $? after SIGTERM (expected 0)"
rc=0
wait "$load_pid" || rc=$?
[ "$rc" -eq 1 ] || fail "beast-load exit $rc with the broker gone, expected 1: $(cat "$TEST_TMP/doomed.err")"
grep -Eq '^beast-load: [0-9]+ of 4000 messages to topic "doomed" were not delivered: ' "$TEST_TMP/doomed.err" ||
  fail "unclear delivery error: $(cat "$TEST_TMP/doomed.err")"
[ "$(wc -l <"$TEST_TMP/doomed.err")" -eq 1 ] || fail "delivery error is not one line: $(cat "$TEST_TMP/doomed.err")"
note "as expected: $(cat "$TEST_TMP/doomed.err")"
note "all Kafka tool checks passed"
