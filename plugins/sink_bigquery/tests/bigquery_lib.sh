# plugins/sink_bigquery/tests/bigquery_lib.sh — helpers for the BigQuery
# sink's integration tests (tests/integration/50_bigquery_*.sh): the
# emulator, tables made with curl, reading rows back, stats, and a beast
# config whose sink is bigquery. Sourced after tests/lib.sh and
# tests/integration/pipeline_lib.sh. Everything on 127.0.0.1.

BQ_PROJECT=demo
BQ_DATASET=events
EMU="$O/bin/beast-bq-emulator"
[ -x "$EMU" ] || fail "$EMU not built (run make)"
[ -f "$O/plugins/sink_bigquery.so" ] || fail "$O/plugins/sink_bigquery.so not built (run make)"
for tool in curl jq python3; do
  command -v "$tool" >/dev/null || fail "$tool is needed by this test"
done

# BEAST_KEEP_LOGS=DIR keeps the test's logs and configs for a look afterwards.
if [ -n "${BEAST_KEEP_LOGS:-}" ]; then
  mkdir -p "$BEAST_KEEP_LOGS"
  cleanup_add "cp $TEST_TMP/*.log $TEST_TMP/*.conf $TEST_TMP/emulator.*.err '$BEAST_KEEP_LOGS/'"
fi

EMU_PID=""
EMU_URL=""
EMU_LOG=""

# emu_start DATA_DIR [PORT] [FLAGS...]: starts the emulator on 127.0.0.1
# (PORT 0 or empty: a free one) and waits for its "listening on" line;
# sets EMU_PID, EMU_URL, EMU_LOG. Stopped by PID at exit.
emu_start() {
  local data="$1" port="${2:-0}" out="$TEST_TMP/emulator.$RANDOM"
  shift 2 || shift $#
  EMU_LOG="$out.err"
  "$EMU" --listen "127.0.0.1:$port" --data "$data" "$@" >"$out.out" 2>"$EMU_LOG" &
  EMU_PID=$!
  cleanup_add "kill -9 $EMU_PID"
  wait_until 10 "[ -s '$out.out' ] || process_gone $EMU_PID" ||
    fail "emulator did not start: $(cat "$EMU_LOG")"
  local line
  line=$(head -n 1 "$out.out")
  [[ "$line" =~ ^listening\ on\ (http://127\.0\.0\.1:[0-9]+)$ ]] ||
    fail "emulator said \"$line\" (stderr: $(cat "$EMU_LOG"))"
  EMU_URL="${BASH_REMATCH[1]}"
}

# emu_stop: SIGTERM, waits up to 10 s; fails on sanitizer reports.
emu_stop() {
  [ -n "$EMU_PID" ] || return 0
  kill -TERM "$EMU_PID" 2>/dev/null
  wait_until 10 process_gone "$EMU_PID" || kill -KILL "$EMU_PID" 2>/dev/null
  wait "$EMU_PID" 2>/dev/null
  EMU_PID=""
  if grep -Eq 'Sanitizer|runtime error' "$EMU_LOG"; then
    grep -E -A12 'Sanitizer|runtime error' "$EMU_LOG" | head -40 >&2
    fail "the emulator reported sanitizer errors"
  fi
}

BQ_TABLES_PATH="/bigquery/v2/projects/$BQ_PROJECT/datasets/$BQ_DATASET/tables"

# EMU_AUTH=1 when the emulator requires tokens (--public-key,
# --require-auth): bq_curl then fetches a fresh one for each request.
EMU_AUTH=0

# bq_curl CURL_ARGS...: curl -s at the emulator, with a token if needed.
bq_curl() {
  if [ "$EMU_AUTH" = 1 ]; then
    local token
    token=$(curl -s "$EMU_URL/token" --data-urlencode grant_type=refresh_token \
      --data-urlencode refresh_token=test-helper --data-urlencode client_id=test | jq -r .access_token)
    curl -s -H "Authorization: Bearer $token" "$@"
  else
    curl -s "$@"
  fi
}

# bq_create_table TABLE FIELDS_JSON: tables.insert with that schema.
bq_create_table() {
  local code
  code=$(bq_curl -o "$TEST_TMP/create.out" -w '%{http_code}' -X POST "$EMU_URL$BQ_TABLES_PATH" \
    -H 'Content-Type: application/json' \
    --data-binary "{\"tableReference\":{\"projectId\":\"$BQ_PROJECT\",\"datasetId\":\"$BQ_DATASET\",\"tableId\":\"$1\"},\"schema\":{\"fields\":$2}}")
  [ "$code" = 200 ] || fail "tables.insert $1: HTTP $code $(cat "$TEST_TMP/create.out")"
}

# bq_table_json TABLE: the table resource (tables.get).
bq_table_json() {
  bq_curl -f "$EMU_URL$BQ_TABLES_PATH/$1"
}

# bq_total_rows TABLE: rows stored (0 when the table is missing).
bq_total_rows() {
  local n
  n=$(bq_curl "$EMU_URL$BQ_TABLES_PATH/$1/data?maxResults=1&format=json" | jq -r '.totalRows // 0' 2>/dev/null)
  echo "${n:-0}"
}

# bq_dump_rows TABLE FILE: every stored row as one JSON object per line.
bq_dump_rows() {
  local table="$1" file="$2" token="" page
  : >"$file"
  while :; do
    page=$(bq_curl -f "$EMU_URL$BQ_TABLES_PATH/$table/data?format=json&maxResults=100000${token:+&pageToken=$token}") ||
      fail "tabledata.list of $table failed"
    jq -c '.rows[]?' <<<"$page" >>"$file"
    token=$(jq -r '.pageToken // empty' <<<"$page")
    [ -n "$token" ] || break
  done
}

# emu_stat NAME: a counter of /admin/stats.
emu_stat() {
  curl -sf "$EMU_URL/admin/stats" | jq -r ".$1 // 0"
}

# The columns of beast-load's json format plus beast's metadata columns.
BQ_JSON_FIELDS='[
 {"name":"seq","type":"INTEGER","mode":"REQUIRED"},
 {"name":"id","type":"STRING"},
 {"name":"user_id","type":"STRING"},
 {"name":"amount","type":"FLOAT"},
 {"name":"currency","type":"STRING"},
 {"name":"active","type":"BOOLEAN"},
 {"name":"tags","type":"STRING","mode":"REPEATED"},
 {"name":"created_at","type":"TIMESTAMP"},
 {"name":"nested","type":"RECORD","fields":[
   {"name":"city","type":"STRING"},{"name":"lat","type":"FLOAT"},{"name":"lon","type":"FLOAT"}]},
 {"name":"pad","type":"STRING"},
 {"name":"message_topic","type":"STRING"},
 {"name":"message_partition","type":"INTEGER"},
 {"name":"message_offset","type":"INTEGER"},
 {"name":"message_timestamp","type":"TIMESTAMP"},
 {"name":"load_time","type":"TIMESTAMP"}]'

# The host keys of the sink block; a test may change them before writing.
BQ_SINK_HOST_KEYS='batch_rows = 500; linger_ms = 50; workers = 2; retry_backoff_ms = 20; retry_backoff_max_ms = 500;'

# write_bigquery_config FILE TOPIC SINK_KEYS [DECODER_BLOCK] [EXTRA_PIPELINE_LINES] [TOP_LINES]
# A pipeline TOPIC (or several: '"a", "b"') -> bigquery sink at $EMU_URL, project/dataset as above,
# Kafka offsets, file DLQ in $TEST_TMP/dlq. SINK_KEYS are the plugin's keys
# ("table = \"x\"; auth = \"none\";"), $BQ_SINK_HOST_KEYS the host's.
write_bigquery_config() {
  local file="$1" topic="$2" sink_keys="$3" decoder="${4:-}" extra="${5:-}" top="${6:-}"
  [ -n "$decoder" ] || decoder='{ plugin = "json"; }'
  [[ "$topic" == *\"* ]] || topic="\"$topic\"" # several: '"a", "b"'
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
    topics  = [ $topic ];
    commit_interval_ms = 200;
    decoder = $decoder;
    sink    = { plugin = "bigquery"; project = "$BQ_PROJECT"; dataset = "$BQ_DATASET";
                endpoint = "$EMU_URL"; $BQ_SINK_HOST_KEYS
                $sink_keys };
    offsets = { plugin = "kafka"; };
    dlq     = { plugin = "file"; path = "$TEST_TMP/dlq"; };
    $extra
  }
);
CONF
}

# dlq_lines: messages in the file DLQ.
dlq_lines() {
  cat "$TEST_TMP"/dlq/*.ndjson 2>/dev/null | wc -l
}

# check_table_exactly_once TABLE TOPIC PARTITIONS PER_PARTITION [any-seq]:
# the table holds each (topic, partition, offset) of 0..PER_PARTITION-1
# once, with every metadata column, and (unless "any-seq": several
# beast-load runs) beast-load's seq matches its offset.
check_table_exactly_once() {
  local table="$1" topic="$2" partitions="$3" per="$4" seq="${5:-seq}"
  bq_dump_rows "$table" "$TEST_TMP/rows.ndjson"
  python3 - "$TEST_TMP/rows.ndjson" "$topic" "$partitions" "$per" "$seq" <<'PY' || fail "table $table: wrong contents (see above)"
import json, sys
path, topic, partitions, per = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
check_seq = sys.argv[5] == "seq"
seen, problems = {}, []
with open(path) as f:
    for n, line in enumerate(f, 1):
        row = json.loads(line)
        for column in ("message_topic", "message_partition", "message_offset", "message_timestamp", "load_time"):
            if column not in row:
                problems.append(f"row {n}: no {column}")
        key = (row.get("message_partition"), row.get("message_offset"))
        seen[key] = seen.get(key, 0) + 1
        if row.get("message_topic") != topic:
            problems.append(f"row {n}: topic {row.get('message_topic')!r}")
        if check_seq and "seq" in row and row["seq"] != key[1] * partitions + key[0]:
            problems.append(f"row {n}: offset {key} holds seq {row['seq']}")
want = {(p, o) for p in range(partitions) for o in range(per)}
dups = sum(c - 1 for c in seen.values())
missing = sorted(want - set(seen))
extra = sorted(set(seen) - want)
if dups or missing or extra:
    problems.append(f"{len(seen)} distinct rows; {dups} duplicates; missing {len(missing)} {missing[:5]}; unexpected {extra[:5]}")
for p in problems[:20]:
    print("  " + p)
sys.exit(1 if problems else 0)
PY
}

# bq_wait TIMEOUT_S CONDITION DESCRIPTION: waits for the shell condition;
# fails with DESCRIPTION (and beast's last log lines) when it does not come
# true in time, or at once when beast ($BEAST_PID, logging to $BEAST_LOG)
# exits meanwhile.
bq_wait() {
  local timeout="$1" condition="$2" what="$3"
  wait_until "$timeout" "$condition || process_gone \$BEAST_PID" || true
  eval "$condition" && return 0
  tail -n 15 "$BEAST_LOG" >&2
  process_gone "$BEAST_PID" && fail "beast exited before: $(eval "echo \"$what\"")"
  fail "after $timeout s: $(eval "echo \"$what\"")"
}

# bq_beast_start CONFIG LOG: beast_start, remembering LOG for bq_wait.
bq_beast_start() {
  BEAST_LOG="$2"
  beast_start "$1" "$2"
}

# proto_producer: how this machine can put example.Booking records into
# Kafka: "beast-load" when beast-load has --format proto, "env" when
# $BQ_PROTO_PRODUCER is set (a command taking BROKERS TOPIC COUNT), else "".
proto_producer() {
  if "$O/bin/beast-load" --help 2>&1 | grep -q -- '--format [^ ]*proto'; then
    echo beast-load
  elif [ -n "${BQ_PROTO_PRODUCER:-}" ]; then
    echo env
  fi
}

# skip_without_proto_producer: ends the test (exit 0, "SKIP" note) when
# there is no way to produce proto records.
skip_without_proto_producer() {
  if [ -z "$(proto_producer)" ]; then
    note "SKIP: beast-load has no --format proto yet (and \$BQ_PROTO_PRODUCER is not set)"
    exit 0
  fi
}

# produce_bookings TOPIC COUNT: COUNT example.Booking records into TOPIC.
produce_bookings() {
  local topic="$1" count="$2" extra=()
  case "$(proto_producer)" in
  beast-load)
    if "$O/bin/beast-load" --help 2>&1 | grep -q -- '--descriptor-set'; then
      extra=(--descriptor-set "$O/schemas/booking.desc" --message example.Booking)
    fi
    "$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic "$topic" --format proto --count "$count" \
      "${extra[@]}" >/dev/null || fail "beast-load --format proto failed"
    ;;
  env)
    $BQ_PROTO_PRODUCER "$MOCK_BOOTSTRAP" "$topic" "$count" >/dev/null || fail "$BQ_PROTO_PRODUCER failed"
    ;;
  *) fail "no proto producer" ;;
  esac
}

# bq_create_dataset: datasets.insert of $BQ_DATASET (409 if it exists is fine).
bq_create_dataset() {
  local code
  code=$(bq_curl -o "$TEST_TMP/dataset.out" -w '%{http_code}' -X POST \
    "$EMU_URL/bigquery/v2/projects/$BQ_PROJECT/datasets" -H 'Content-Type: application/json' \
    --data-binary "{\"datasetReference\":{\"projectId\":\"$BQ_PROJECT\",\"datasetId\":\"$BQ_DATASET\"}}")
  [ "$code" = 200 ] || [ "$code" = 409 ] || fail "datasets.insert: HTTP $code $(cat "$TEST_TMP/dataset.out")"
}

# bq_no_sanitizer_reports: fails when any output this test kept (beast logs,
# command outputs, emulator stderr) holds an ASan/UBSan report — also from
# runs that were expected to fail.
bq_no_sanitizer_reports() {
  local hits
  hits=$(grep -l -E 'Sanitizer|runtime error' "$TEST_TMP"/*.log "$TEST_TMP"/*.out "$TEST_TMP"/emulator.*.err 2>/dev/null)
  [ -z "$hits" ] || { grep -h -E -A10 'Sanitizer|runtime error' $hits | head -40 >&2; fail "sanitizer reports in: $hits"; }
}
