# shellcheck shell=bash
# tests/bench/bench_lib.sh — what scripts/bench and scripts/soak share: the
# beast config template of a benchmark run, preloading with a check that the
# mock kept everything, and the "every message landed" checks. Sourced after
# tests/lib.sh, tests/integration/pipeline_lib.sh and
# plugins/sink_bigquery/tests/bigquery_lib.sh (mock_start, emu_start, ...).

BENCH_WATCH="$BEAST_ROOT/scripts/bench-watch"

# kv LINE KEY: the value of KEY in a "name: k=v k=v ..." line.
kv() {
  tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p" | head -1
}

# calc EXPR [FORMAT]: awk arithmetic printed with FORMAT (default %.2f).
calc() {
  awk "BEGIN { printf \"${2:-%.2f}\", $1 }"
}

# write_bench_config FILE TOPIC FORMAT SINK METRICS_PORT DIR [VARY]: the
# beast config of one run: pipeline "bench" (group beast-bench) reading
# TOPIC from $MOCK_BOOTSTRAP, decoder FORMAT (proto: example.Booking; json),
# SINK "bigquery" (the emulator at $EMU_URL, table {topic}, auto-created for
# proto) or "file" (DIR/out), a file DLQ in DIR/dlq, /metrics on
# 127.0.0.1:METRICS_PORT. Everything else is beast's default; VARY holds the
# sink keys a row changes, e.g. "workers = 4;".
write_bench_config() {
  local file="$1" topic="$2" format="$3" sink="$4" port="$5" dir="$6" vary="${7:-}" decoder sink_block
  case "$format" in
  proto) decoder="{ plugin = \"proto\"; descriptor_set = \"$O/schemas/booking.desc\"; message = \"example.Booking\"; }" ;;
  json) decoder='{ plugin = "json"; }' ;;
  *) fail "write_bench_config: unknown format $format" ;;
  esac
  case "$sink" in
  bigquery)
    sink_block="plugin = \"bigquery\"; project = \"$BQ_PROJECT\"; dataset = \"$BQ_DATASET\"; table = \"{topic}\";
                endpoint = \"$EMU_URL\"; auth = \"none\";"
    [ "$format" = proto ] && sink_block="$sink_block auto_create = true;"
    ;;
  file) sink_block="plugin = \"file\"; path = \"$dir/out\";" ;;
  *) fail "write_bench_config: unknown sink $sink" ;;
  esac
  cat >"$file" <<CONF
plugin_dir = "$O/plugins";
data_dir   = "$dir/data";
log_level  = "info";
metrics    = { listen = "127.0.0.1:$port"; };
kafka = {
  bootstrap_servers = "$MOCK_BOOTSTRAP";
};
pipelines = (
  {
    name    = "bench";
    topics  = [ "$topic" ];
    decoder = $decoder;
    sink    = { $sink_block
                $vary };
    dlq     = { plugin = "file"; path = "$dir/dlq"; };
  }
);
CONF
}

# bench_produce TOPIC FORMAT COUNT [LOAD_ARGS...]: preloads TOPIC with
# beast-load (LOAD_ARGS e.g. --size 1000), then checks that the mock kept all
# of it: every partition still starts at offset 0 and the high watermarks
# add up to COUNT (the mock trims beyond ~5 MB per partition).
bench_produce() {
  local topic="$1" format="$2" count="$3" low_max high_sum
  shift 3
  "$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic "$topic" --format "$format" \
    --count "$count" "$@" >/dev/null || fail "beast-load --format $format --count $count $* failed"
  read -r low_max high_sum < <("$O/bin/beast-kafka-offsets" --brokers "$MOCK_BOOTSTRAP" --topic "$topic" |
    awk '/^[0-9]/ { if ($2 > low) low = $2; high += $3 } END { print low + 0, high + 0 }')
  [ "$low_max" -eq 0 ] && [ "$high_sum" -eq "$count" ] ||
    fail "the mock did not keep the preload: $high_sum of $count messages, oldest offset up to $low_max (trimmed)"
}

# sample_payload_bytes TOPIC: mean payload size of up to 200 messages of
# partition 0 (beast-kafka-read prints each value and a newline).
sample_payload_bytes() {
  local n=200 have bytes
  have=$("$O/bin/beast-kafka-offsets" --brokers "$MOCK_BOOTSTRAP" --topic "$1" | awk '$1 == "0" { print $3 - $2 }')
  [ "${have:-0}" -lt "$n" ] && n="${have:-0}"
  [ "$n" -gt 0 ] || { echo 0; return; }
  bytes=$("$O/bin/beast-kafka-read" --brokers "$MOCK_BOOTSTRAP" --topic "$1" --count "$n" | wc -c)
  calc "($bytes - $n) / $n" %.0f
}

# verify_bigquery COUNT DIR: the emulator (one per run, --fast, where
# rows_inserted counts distinct insertIds) took exactly COUNT rows, none
# invalid, and beast's DLQ (DIR/dlq) is empty. Prints "N distinct rows".
verify_bigquery() {
  local count="$1" dir="$2" stats inserted invalid dlq
  stats=$(curl -sf "$EMU_URL/admin/stats") || fail "emulator /admin/stats unreachable"
  inserted=$(jq -r '.rows_inserted' <<<"$stats")
  invalid=$(jq -r '.rows_invalid' <<<"$stats")
  dlq=$(cat "$dir"/dlq/*.ndjson 2>/dev/null | wc -l)
  [ "$inserted" -eq "$count" ] && [ "$invalid" -eq 0 ] && [ "$dlq" -eq 0 ] ||
    fail "the emulator took $inserted distinct rows of $count ($invalid invalid, $dlq in the DLQ)"
  echo "$inserted distinct rows"
}

# verify_file COUNT DIR TOPIC PARTITIONS: the file sink's DIR/out (one
# TOPIC-P.ndjson per partition P) holds COUNT distinct (partition, offset)
# pairs. One awk pass (distinct_rows of pipeline_lib.sh, the same check,
# takes tens of seconds for a million rows). Prints "N distinct offsets".
verify_file() {
  local count="$1" dir="$2" topic="$3" partitions="$4" files=() p distinct lines
  for ((p = 0; p < partitions; p++)); do
    [ -f "$dir/out/$topic-$p.ndjson" ] && files+=("$dir/out/$topic-$p.ndjson")
  done
  [ "${#files[@]}" -gt 0 ] || fail "no files of $topic in $dir/out"
  read -r distinct lines < <(awk '
    match($0, /"message_offset":[0-9]+/) {
      key = FILENAME " " substr($0, RSTART + 17, RLENGTH - 17)
      if (!(key in seen)) { seen[key] = 1; distinct++ }
    }
    END { print distinct + 0, NR }' "${files[@]}")
  [ "$distinct" -eq "$count" ] || fail "the files hold $distinct distinct offsets of $count ($lines lines)"
  echo "$distinct distinct offsets"
}

# bench_subshell_traps: the first lines of a ( ... ) that uses cleanup_add:
# its own cleanup list, run when the subshell ends (bash resets traps in
# subshells, and the parent's list must not run twice).
bench_subshell_traps() {
  _LIB_CLEANUP=()
  trap _lib_run_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
