# tests/chaos/chaos_lib.sh — shared by the chaos tests (tests/chaos/NN_*.sh):
# the Kafka mock and the BigQuery emulator, beast processes with metrics,
# figures, and the ground-truth check (verify_exactly_once.py) that every
# (partition, offset) is in the table exactly once or, undecodable, in the
# DLQ. Sourced after tests/lib.sh, tests/integration/pipeline_lib.sh and
# plugins/sink_bigquery/tests/bigquery_lib.sh. Everything on 127.0.0.1.
#
# Two sizes: the short one (default; part of `make test`, the whole suite
# well under 150 s on 2 cores) and the full one (BEAST_CHAOS_FULL=1, `make
# chaos`: the figures the issue asks for, e.g. >= 10 kills, a 60 s outage).

CHAOS_FULL="${BEAST_CHAOS_FULL:-0}"
CHAOS_VERIFY="$BEAST_ROOT/tests/chaos/verify_exactly_once.py"
CHAOS_TOPIC="${CHAOS_TOPIC:-events}"
CHAOS_GROUP=beast-events

# chaos_size SHORT FULL: the value for this run's size.
chaos_size() {
  if [ "$CHAOS_FULL" = 1 ]; then echo "$2"; else echo "$1"; fi
}

note "mode: $([ "$CHAOS_FULL" = 1 ] && echo full || echo short)"

# chaos_partitions MIN COUNT: at least MIN partitions, and enough that COUNT
# of beast-load's ~220-byte json events stay under 3 MB a partition. The
# mock keeps about 5 MB a partition: past that it deletes the oldest
# messages, and a consumer that falls behind (kills, outages) would find
# them gone and jump ahead (auto.offset.reset) — retention, not what the
# test is about.
chaos_partitions() {
  local min="$1" count="$2" need
  need=$(((count * 230 + 2999999) / 3000000))
  echo $((need > min ? need : min))
}

# chaos_config FILE PORT [EXTRA_PIPELINE_LINES] [EXTRA_SINK_KEYS]: a pipeline
# $CHAOS_TOPIC (json) -> bigquery table $CHAOS_TOPIC at the emulator, file DLQ
# in $TEST_TMP/dlq, /metrics on PORT. A 3 s session timeout (the mock
# allows it) so that a killed member's partitions move on quickly.
chaos_config() {
  local file="$1" port="$2" extra="${3:-}" sink="${4:-}"
  write_bigquery_config "$file" "$CHAOS_TOPIC" \
    "table = \"$CHAOS_TOPIC\"; auth = \"none\"; timeout_ms = 5000; $sink" "" "$extra" \
    "$(metrics_config "$port")"
  sed -i -e 's/session_timeout_ms = 6000/session_timeout_ms = 3000/' \
    -e 's/^shutdown_timeout_s = .*/shutdown_timeout_s = 15;/' "$file"
}

# chaos_setup PARTITIONS [EMULATOR_FLAGS...]: the mock with $CHAOS_TOPIC, the
# emulator, and the table (beast-load's json columns + metadata columns).
chaos_setup() {
  local partitions="$1"
  shift
  mock_start --topic "$CHAOS_TOPIC:$partitions"
  emu_start "$TEST_TMP/emulator-data" 0 "$@"
  bq_create_table "$CHAOS_TOPIC" "$BQ_JSON_FIELDS"
}

# chaos_load COUNT RATE INVALID_EVERY: beast-load in the background (sets
# LOAD_PID); one run per test, so offsets map to beast-load's sequence.
chaos_load() {
  "$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic "$CHAOS_TOPIC" --format json \
    --count "$1" --rate "$2" --invalid-every "$3" >"$TEST_TMP/load.out" 2>&1 &
  LOAD_PID=$!
  cleanup_add "kill $LOAD_PID 2>/dev/null"
}

# chaos_load_wait: waits for beast-load; fails when it failed.
chaos_load_wait() {
  wait "$LOAD_PID" || fail "beast-load failed: $(cat "$TEST_TMP/load.out")"
}

# chaos_metric PORT NAME: metric_value, or 0 when the page has none (yet).
chaos_metric() {
  metric_value "$1" "$2" 2>/dev/null || echo 0
}

# chaos_offsets FILE: beast-kafka-offsets of the topic and group into FILE.
chaos_offsets() {
  "$O/bin/beast-kafka-offsets" --brokers "$MOCK_BOOTSTRAP" --topic "$CHAOS_TOPIC" \
    --group "$CHAOS_GROUP" >"$1" || fail "beast-kafka-offsets failed"
}

# chaos_verify MODE PARTITIONS INVALID_EVERY: verify_exactly_once.py over
# the offsets, then the table and the DLQ (in that order, so that a running
# beast cannot fake a gap); sets CHAOS_FIGURES; fails with its findings.
chaos_verify() {
  local mode="$1" partitions="$2" every="$3" out
  # Kafka first: with beast still running, the table can only have grown
  # past what the offsets read here promise.
  chaos_offsets "$TEST_TMP/offsets.txt"
  bq_dump_rows "$CHAOS_TOPIC" "$TEST_TMP/rows.ndjson"
  out=$(python3 "$CHAOS_VERIFY" --mode "$mode" --rows "$TEST_TMP/rows.ndjson" --dlq "$TEST_TMP/dlq" \
    --offsets "$TEST_TMP/offsets.txt" --topic "$CHAOS_TOPIC" --partitions "$partitions" \
    --invalid-every "$every" 2>"$TEST_TMP/verify.err") ||
    { cat "$TEST_TMP/verify.err" >&2; fail "$mode check failed: $out"; }
  CHAOS_FIGURES="$out"
}

# chaos_figure NAME: a value from the last chaos_verify figures line.
chaos_figure() {
  tr ' ' '\n' <<<"$CHAOS_FIGURES" | awk -F= -v k="$1" '$1 == k { print $2 }'
}

# chaos_audit CONFIG: `beast audit` must find no gap and no stored duplicate.
chaos_audit() {
  local rc=0
  "$O/bin/beast" audit -c "$1" >"$TEST_TMP/audit.out" 2>&1 || rc=$?
  [ "$rc" -eq 0 ] || { cat "$TEST_TMP/audit.out" >&2; fail "beast audit exited $rc"; }
  grep -q "^beast audit: no gap: .* (0 duplicates stored)" "$TEST_TMP/audit.out" ||
    { cat "$TEST_TMP/audit.out" >&2; fail "beast audit: unexpected verdict"; }
}

# chaos_wait_stored COUNT TIMEOUT: waits until the table and the DLQ together
# hold COUNT distinct messages (table rows count, as nothing is stored twice).
chaos_wait_stored() {
  local count="$1" timeout="$2"
  wait_until "$timeout" "[ \$((\$(bq_total_rows $CHAOS_TOPIC) + \$(chaos_dlq_distinct))) -ge $count ]"
}

# chaos_dlq_distinct: distinct (partition, offset) pairs in the file DLQ.
chaos_dlq_distinct() {
  cat "$TEST_TMP"/dlq/*.ndjson 2>/dev/null | jq -r '"\(.partition) \(.offset)"' 2>/dev/null | sort -u | wc -l
}

# chaos_committed: the group's committed offsets, summed.
chaos_committed() {
  committed_total "$CHAOS_TOPIC" "$CHAOS_GROUP"
}
