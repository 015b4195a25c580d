#!/usr/bin/env bash
# The BigQuery sink's thread safety, without the host: six threads call
# write() at once on one instance (as `workers` do), each 100 batches of 100
# rows, to three auto-created tables, against an emulator that checks JWT
# signatures, issues 1-second tokens, delays answers by 10 ms (so the run
# outlives several tokens) and injects 10% errors, 3% dropped
# connections and 3% answers withheld after storing. Every row is stored
# exactly once; tokens are refreshed under concurrency. The driver
# (plugins/sink_bigquery/tests/stress_threads.c) is compiled here from the
# plugin's sources; BQ_STRESS_CFLAGS picks the flags, e.g.
#   BQ_STRESS_CFLAGS="-O1 -g -fsanitize=thread" bash tests/integration/59_bigquery_threads.sh
# runs it under ThreadSanitizer (the host itself cannot: librdkafka).
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/pipeline_lib.sh"
source "$BEAST_ROOT/plugins/sink_bigquery/tests/bigquery_lib.sh"
command -v openssl >/dev/null || fail "openssl is needed by this test"

THREADS=6
CALLS=100
ROWS=100
if [ -z "${BQ_STRESS_CFLAGS:-}" ]; then
  BQ_STRESS_CFLAGS="-O2 -g"
  [[ "$O" == *asan* ]] && BQ_STRESS_CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined"
fi
cd "$BEAST_ROOT" || fail "cd $BEAST_ROOT failed"
# shellcheck disable=SC2086
cc -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror $BQ_STRESS_CFLAGS -Isdk -Ihost -Iplugins/sink_bigquery \
  -o "$TEST_TMP/stress_threads" plugins/sink_bigquery/tests/stress_threads.c plugins/sink_bigquery/*.c \
  host/arena.c -lcurl -lcrypto -lz -lcjson -lpthread 2>"$TEST_TMP/cc.out" ||
  fail "compiling stress_threads failed: $(cat "$TEST_TMP/cc.out")"

openssl genrsa -out "$TEST_TMP/sa.pem" 2048 2>/dev/null || fail "openssl genrsa failed"
openssl rsa -in "$TEST_TMP/sa.pem" -pubout -out "$TEST_TMP/sa.pub" 2>/dev/null || fail "openssl rsa -pubout failed"
emu_start "$TEST_TMP/emulator-data" 0 --public-key "$TEST_TMP/sa.pub" --token-ttl 1 \
  --error-rate 0.1 --drop-rate 0.03 --drop-after-rate 0.03 --latency-ms 10 --seed 11
EMU_AUTH=1
python3 - "$TEST_TMP/sa.pem" "$EMU_URL/token" >"$TEST_TMP/sa.json" <<'PY'
import json, sys
print(json.dumps({"type": "service_account", "private_key": open(sys.argv[1]).read(),
                  "client_email": "stress@demo.iam.gserviceaccount.com", "token_uri": sys.argv[2]}))
PY

started=$(date +%s)
"$TEST_TMP/stress_threads" "$EMU_URL" "$TEST_TMP/sa.json" "$THREADS" "$CALLS" "$ROWS" \
  >"$TEST_TMP/stress.out" 2>"$TEST_TMP/stress.log" ||
  { tail -n 20 "$TEST_TMP/stress.log"; fail "stress_threads failed"; }
took=$(($(date +%s) - started))
for ((t = 0; t < 3; t++)); do
  bq_dump_rows "t$t" "$TEST_TMP/t$t.ndjson"
  python3 - "$TEST_TMP/t$t.ndjson" "$t" "$THREADS" $((CALLS * ROWS)) <<'PY' || fail "table t$t: wrong contents (see above)"
import json, sys
path, table, threads, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
seen = {}
for line in open(path):
    row = json.loads(line)
    key = (row["message_partition"], row["message_offset"])
    seen[key] = seen.get(key, 0) + 1
want = {(p, o) for p in range(table, threads, 3) for o in range(per)}
dups = sum(n - 1 for n in seen.values())
if set(seen) != want or dups:
    print(f"  t{table}: {len(set(seen) & want)} of {len(want)} rows, {dups} duplicates, unexpected {sorted(set(seen) - want)[:5]}")
    sys.exit(1)
PY
done
tokens=$(grep -c "^access token" "$TEST_TMP/stress.log")
[ "$tokens" -ge 2 ] || fail "only $tokens tokens were fetched in $took s of 1-second tokens"
created=$(grep -c "^created table" "$TEST_TMP/stress.log")
[ "$created" -eq 3 ] || fail "$created 'created table' lines, expected 3"
faults=$(emu_stat faults_injected)
deduped=$(emu_stat rows_deduped)
token_errors=$(emu_stat token_errors)
[ "$token_errors" -eq 0 ] || fail "the emulator refused $token_errors token requests"
emu_stop
grep -E 'ThreadSanitizer|Sanitizer|runtime error' "$TEST_TMP/stress.log" && fail "sanitizer reports in stress_threads"
bq_no_sanitizer_reports
note "$((THREADS * CALLS * ROWS)) rows from $THREADS threads in ${took}s, each stored once ($faults faults, $deduped replays deduplicated, $tokens tokens, 3 tables created concurrently)"
