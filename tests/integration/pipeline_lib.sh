# pipeline_lib.sh — helpers for tests that run beast against the Kafka mock
# with the file sink. Sourced after tests/lib.sh.

# write_file_pipeline_config FILE TOPIC OUT_DIR [OFFSETS] [EXTRA_PIPELINE_LINES] [EXTRA_TOP_LINES]
# OFFSETS is a plugin name ("kafka", the default, or "file") or a whole
# block such as '{ plugin = "file"; path = "/x/events.offsets"; }'.
# EXTRA_TOP_LINES go at the top level, e.g. "$(metrics_config "$PORT")".
write_file_pipeline_config() {
  local file="$1" topic="$2" out="$3" offsets="${4:-kafka}" extra="${5:-}" top="${6:-}"
  [[ "$offsets" == \{* ]] || offsets="{ plugin = \"$offsets\"; }"
  cat >"$file" <<CONF
plugin_dir = "$O/plugins";
data_dir   = "$TEST_TMP/data";
log_level  = "info";
shutdown_timeout_s = 20;
$top
kafka = {
  bootstrap_servers = "$MOCK_BOOTSTRAP";
  session_timeout_ms = 6000;
  heartbeat_interval_ms = 500;
};
pipelines = (
  {
    name    = "events";
    topics  = [ "$topic" ];
    commit_interval_ms = 200;
    decoder = { plugin = "json"; };
    sink    = { plugin = "file"; path = "$out"; batch_rows = 500; linger_ms = 50; workers = 2; };
    offsets = $offsets;
    dlq     = { plugin = "file"; path = "$TEST_TMP/dlq"; };
    $extra
  }
);
CONF
}

# offsets_in_file FILE: the message_offset of every line, one per line.
offsets_in_file() {
  [ -f "$1" ] || return 0
  grep -o '"message_offset":[0-9]*' "$1" | cut -d: -f2
}

# distinct_rows OUT_DIR TOPIC PARTITIONS: distinct (partition, offset) pairs landed.
distinct_rows() {
  local out="$1" topic="$2" partitions="$3" total=0 p n
  for ((p = 0; p < partitions; p++)); do
    n=$(offsets_in_file "$out/$topic-$p.ndjson" | sort -un | wc -l)
    total=$((total + n))
  done
  echo "$total"
}

# check_every_offset OUT_DIR TOPIC PARTITIONS PER_PARTITION: each partition
# holds every offset 0..PER_PARTITION-1 (duplicates allowed, reported).
check_every_offset() {
  local out="$1" topic="$2" partitions="$3" per="$4" p distinct lines min max
  for ((p = 0; p < partitions; p++)); do
    local f="$out/$topic-$p.ndjson"
    [ -f "$f" ] || fail "partition $p: no file $f"
    lines=$(offsets_in_file "$f" | wc -l)
    distinct=$(offsets_in_file "$f" | sort -un | wc -l)
    min=$(offsets_in_file "$f" | sort -n | head -1)
    max=$(offsets_in_file "$f" | sort -n | tail -1)
    [ "$distinct" -eq "$per" ] && [ "$min" -eq 0 ] && [ "$max" -eq $((per - 1)) ] ||
      fail "partition $p: $distinct distinct offsets in [$min, $max], expected $per in [0, $((per - 1))]"
    note "partition $p: all $per offsets present ($((lines - distinct)) duplicate lines from replays)"
  done
}

# check_committed_not_ahead OUT_DIR TOPIC GROUP: for every partition, every
# offset below the group's committed offset is in the file.
check_committed_not_ahead() {
  local out="$1" topic="$2" group="$3" partition low high committed have
  while read -r partition low high committed; do
    [ "$committed" -le 0 ] && continue
    have=$(offsets_in_file "$out/$topic-$partition.ndjson" | sort -un | awk -v c="$committed" '$1 < c' | wc -l)
    [ "$have" -eq "$committed" ] ||
      fail "partition $partition: committed $committed but only $have of offsets 0..$((committed - 1)) are in the file"
  done < <("$O/bin/beast-kafka-offsets" --brokers "$MOCK_BOOTSTRAP" --topic "$topic" --group "$group" | grep -E '^[0-9]')
}

# committed_total TOPIC GROUP: sum of committed offsets (0 for none).
committed_total() {
  "$O/bin/beast-kafka-offsets" --brokers "$MOCK_BOOTSTRAP" --topic "$1" --group "$2" |
    awk '/^[0-9]/ { if ($4 > 0) s += $4 } END { print s + 0 }'
}

# beast_start CONFIG LOG: starts beast in the background, sets BEAST_PID.
beast_start() {
  "$O/bin/beast" run -c "$1" >>"$2" 2>&1 &
  BEAST_PID=$!
  cleanup_add "kill -9 $BEAST_PID 2>/dev/null"
}

# beast_stop [PID]: SIGTERM to PID (default $BEAST_PID), expect exit 0
# within 30 s. PID must be a child of this shell (from beast_start).
beast_stop() {
  local pid="${1:-$BEAST_PID}"
  kill -TERM "$pid"
  local waited=0
  while kill -0 "$pid" 2>/dev/null; do
    sleep 0.2; waited=$((waited + 1))
    [ "$waited" -gt 150 ] && fail "beast (pid $pid) did not exit within 30 s of SIGTERM"
  done
  wait "$pid"
  local rc=$?
  [ "$rc" -eq 0 ] || fail "beast (pid $pid) exited $rc after SIGTERM (expected 0)"
}

# metrics_config PORT: the top-level config line serving /metrics on PORT.
metrics_config() {
  echo "metrics = { listen = \"127.0.0.1:$1\"; };"
}

# metric_value PORT NAME: the sum of every series NAME{...} on beast's
# /metrics at 127.0.0.1:PORT, as an integer. NAME may carry the start of a
# label set to pick series: 'beast_queue_depth{pipeline="events",stage="decode"'.
# Prints nothing (and returns 1) when the page cannot be fetched or has no
# such series.
metric_value() {
  local page
  page=$(curl -sf --max-time 3 "http://127.0.0.1:$1/metrics") || return 1
  awk -v name="$2" '
    /^#/ { next }
    (index(name, "{") ? index($1, name) == 1 : (index($1, name "{") == 1 || $1 == name)) {
      sum += $NF; found = 1
    }
    END { if (found) printf "%.0f\n", sum; else exit 1 }' <<<"$page"
}

# check_committed_at_high TOPIC GROUP: every partition of TOPIC has a
# message and GROUP's committed offset equals its high watermark.
check_committed_at_high() {
  local topic="$1" group="$2" partition _low high committed lines=0
  while read -r partition _low high committed; do
    lines=$((lines + 1))
    [ "$high" -gt 0 ] || fail "partition $partition of $topic is empty (high watermark $high)"
    [ "$committed" -eq "$high" ] ||
      fail "partition $partition: group $group committed $committed, high watermark is $high"
  done < <("$O/bin/beast-kafka-offsets" --brokers "$MOCK_BOOTSTRAP" --topic "$topic" --group "$group" | grep -E '^[0-9]')
  [ "$lines" -gt 0 ] || fail "beast-kafka-offsets listed no partitions of $topic"
}

# high_watermarks TOPIC: "partition high" per line.
high_watermarks() {
  "$O/bin/beast-kafka-offsets" --brokers "$MOCK_BOOTSTRAP" --topic "$1" | awk '/^[0-9]/ { print $1, $3 }'
}

# assemble_plugin_dir DIR: a plugin dir with every built plugin plus the
# test sink "echo" (tests/plugins/test_plugin.c: options delay_ms, out).
assemble_plugin_dir() {
  local dir="$1" so
  [ -f "$O/tests/plugins/good/sink_echo.so" ] || fail "$O/tests/plugins/good/sink_echo.so not built (make unit)"
  mkdir -p "$dir"
  for so in "$O"/plugins/*.so; do
    ln -sf "$so" "$dir/"
  done
  ln -sf "$O/tests/plugins/good/sink_echo.so" "$dir/sink_echo.so"
}

# rss_kb PID: the process's resident set size in kB (empty once it is gone).
rss_kb() {
  awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}

# merge_out_dirs DEST TOPIC PARTITIONS DIR...: DEST/TOPIC-P.ndjson becomes
# the concatenation of every DIR's TOPIC-P.ndjson (for several processes
# sharing a group, each with its own out dir); then the one-dir helpers
# above (distinct_rows, check_every_offset, ...) apply to DEST.
merge_out_dirs() {
  local dest="$1" topic="$2" partitions="$3" p dir
  shift 3
  mkdir -p "$dest"
  for ((p = 0; p < partitions; p++)); do
    for dir in "$@"; do
      [ -f "$dir/$topic-$p.ndjson" ] && cat "$dir/$topic-$p.ndjson"
    done >"$dest/$topic-$p.ndjson"
  done
}

# log_assigned_last LOG: the partition count of the last "assigned N
# partitions" line in a beast log (0 if none).
log_assigned_last() {
  local n
  n=$(grep -o 'assigned [0-9]* partitions' "$1" 2>/dev/null | tail -1 | awk '{ print $2 }')
  echo "${n:-0}"
}
