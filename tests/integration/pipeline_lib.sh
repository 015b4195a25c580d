# pipeline_lib.sh — helpers for tests that run beast against the Kafka mock
# with the file sink. Sourced after tests/lib.sh.

# write_file_pipeline_config FILE TOPIC OUT_DIR [OFFSETS_PLUGIN] [EXTRA_PIPELINE_LINES]
write_file_pipeline_config() {
  local file="$1" topic="$2" out="$3" offsets="${4:-kafka}" extra="${5:-}"
  cat >"$file" <<CONF
plugin_dir = "$O/plugins";
data_dir   = "$TEST_TMP/data";
log_level  = "info";
shutdown_timeout_s = 20;
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
    offsets = { plugin = "$offsets"; };
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

# beast_stop: SIGTERM, expect exit 0 within 30 s.
beast_stop() {
  kill -TERM "$BEAST_PID"
  local waited=0
  while kill -0 "$BEAST_PID" 2>/dev/null; do
    sleep 0.2; waited=$((waited + 1))
    [ "$waited" -gt 150 ] && fail "beast did not exit within 30 s of SIGTERM"
  done
  wait "$BEAST_PID"
  local rc=$?
  [ "$rc" -eq 0 ] || fail "beast exited $rc after SIGTERM (expected 0)"
}
