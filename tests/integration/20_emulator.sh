#!/usr/bin/env bash
# beast-bq-emulator against curl on 127.0.0.1: startup line and flags; BigQuery
# tables (create/get/list/patch/update, 404/409/400 shapes); insertAll with every
# type, insertErrors invalid/stopped, skipInvalidRows, ignoreUnknownValues,
# insertId dedup, gzip bodies, the 10 MB and 50,000-row limits, templateSuffix;
# tabledata.list paging; jobs.query and getQueryResults; OAuth2 tokens from
# openssl-signed JWTs and refresh tokens, 401 on missing/expired tokens; fault
# injection (429 bursts, errors, drops before/after storing, latency) and
# stats; persistence across a restart; GCS upload/list/download/delete;
# --fast mode (the body scanner, malformed bodies, dedup, per-table counts);
# keep-alive. Every failed assertion prints a FAIL line; the
# script exits 1 if any failed.
set -u
source "$(dirname "$0")/../lib.sh"

EMU="$O/bin/beast-bq-emulator"
[ -x "$EMU" ] || fail "$EMU not built (run make)"
for tool in curl jq openssl gzip; do
  command -v "$tool" >/dev/null || fail "$tool is needed by this test"
done

FAILURES=0

# check DESCRIPTION CONDITION: CONDITION is a shell string; a FAIL line if false.
check() {
  if ! eval "$2"; then
    echo "FAIL: $1" >&2
    FAILURES=$((FAILURES + 1))
  fi
}

# expect_eq DESCRIPTION ACTUAL EXPECTED
expect_eq() {
  if [ "$2" != "$3" ]; then
    echo "FAIL: $1: got '$2', expected '$3'" >&2
    FAILURES=$((FAILURES + 1))
  fi
}

# emu_start DATA_DIR [FLAGS...]: starts the emulator on 127.0.0.1, port 0;
# sets EMU_PID and URL.
EMU_PID=""
EMU_ERR=""
URL=""
emu_start() {
  local data="$1" out="$TEST_TMP/emu.$RANDOM"
  shift
  EMU_ERR="$out.err"
  "$EMU" --listen 127.0.0.1:0 --data "$data" "$@" >"$out.out" 2>"$out.err" &
  EMU_PID=$!
  cleanup_add "kill -9 $EMU_PID"
  wait_until 10 '[ -s "'"$out.out"'" ] || process_gone '"$EMU_PID" ||
    fail "emulator did not start: $(cat "$out.err")"
  local line
  line=$(head -n 1 "$out.out")
  [[ "$line" =~ ^listening\ on\ http://127\.0\.0\.1:([0-9]+)$ ]] ||
    fail "first stdout line is \"$line\" (stderr: $(cat "$out.err"))"
  [ "${BASH_REMATCH[1]}" -gt 0 ] || fail "port 0 was not replaced by the real port: $line"
  URL="http://127.0.0.1:${BASH_REMATCH[1]}"
}

# emu_stop: SIGTERM, expects exit 0 within 10 s.
emu_stop() {
  kill -TERM "$EMU_PID"
  wait_until 10 process_gone "$EMU_PID" || fail "emulator did not stop on SIGTERM"
  local rc=0
  wait "$EMU_PID" || rc=$?
  expect_eq "emulator exit status after SIGTERM" "$rc" 0
  if grep -Eq 'Sanitizer|runtime error' "$EMU_ERR"; then
    echo "FAIL: the emulator reported sanitizer errors:" >&2
    grep -E -A12 'Sanitizer|runtime error' "$EMU_ERR" | head -60 >&2
    FAILURES=$((FAILURES + 1))
  fi
  EMU_PID=""
}

# req METHOD PATH [CURL_ARGS...]: sets CODE and BODY (the body is also in $TEST_TMP/body).
CODE=""
BODY=""
req() {
  local method="$1" path="$2"
  shift 2
  CODE=$(curl -s -o "$TEST_TMP/body" -w '%{http_code}' -X "$method" "$URL$path" "$@")
  BODY=$(cat "$TEST_TMP/body")
}

# json PATH JSON_BODY: POST/PATCH helpers with a JSON body.
post_json() { req POST "$1" -H 'Content-Type: application/json' --data-binary "$2" "${@:3}"; }

# jb FILTER: jq on the last body (raw output).
jb() { jq -r "$1" <"$TEST_TMP/body" 2>/dev/null; }

BQ=/bigquery/v2/projects/proj/datasets/ds

note "flags: --help, bad arguments"
"$EMU" --help | grep -q '^usage: beast-bq-emulator --listen' || check "--help prints usage" false
rc=0; "$EMU" >/dev/null 2>&1 || rc=$?
expect_eq "no --listen exits 2" "$rc" 2
rc=0; "$EMU" --listen 127.0.0.1:0 --error-rate 2 >/dev/null 2>&1 || rc=$?
expect_eq "--error-rate 2 exits 2" "$rc" 2
rc=0; "$EMU" --listen 127.0.0.1:0 --bogus >/dev/null 2>&1 || rc=$?
expect_eq "unknown flag exits 2" "$rc" 2

DATA="$TEST_TMP/data"
emu_start "$DATA"
note "emulator at $URL"

note "keep-alive: two requests on one connection"
reuse=$(curl -sv "$URL/healthz" "$URL/healthz" -o /dev/null -o /dev/null 2>&1 | grep -ci 're-using existing connection')
check "curl re-used the connection for the second request" '[ "$reuse" -ge 1 ]'

note "tables: 404 shape, create, 409, get, list"
req GET "$BQ/tables/events"
expect_eq "missing table code" "$CODE" 404
expect_eq "404 error.code" "$(jb .error.code)" 404
expect_eq "404 message" "$(jb .error.message)" "Not found: Table proj:ds.events"
expect_eq "404 reason" "$(jb '.error.errors[0].reason')" notFound
expect_eq "404 status" "$(jb .error.status)" NOT_FOUND

SCHEMA='{"fields":[
  {"name":"message_topic","type":"STRING"},
  {"name":"message_partition","type":"INT64"},
  {"name":"message_offset","type":"INTEGER","mode":"REQUIRED"},
  {"name":"message_timestamp","type":"TIMESTAMP"},
  {"name":"price","type":"FLOAT64"},
  {"name":"paid","type":"BOOL"},
  {"name":"name","type":"STRING"},
  {"name":"blob","type":"BYTES"},
  {"name":"day","type":"DATE"},
  {"name":"amount","type":"NUMERIC"},
  {"name":"attrs","type":"JSON"},
  {"name":"codes","type":"INTEGER","mode":"REPEATED"},
  {"name":"customer","type":"RECORD","fields":[
     {"name":"id","type":"INTEGER","mode":"REQUIRED"},
     {"name":"tags","type":"STRING","mode":"REPEATED"},
     {"name":"address","type":"STRUCT","fields":[{"name":"city","type":"STRING"}]}]},
  {"name":"items","type":"RECORD","mode":"REPEATED","fields":[
     {"name":"sku","type":"STRING"},{"name":"qty","type":"INTEGER"}]}]}'
TABLE_BODY=$(jq -c -n --argjson s "$SCHEMA" '{tableReference:{projectId:"proj",datasetId:"ds",tableId:"events"},
  schema:$s, timePartitioning:{type:"DAY",field:"message_timestamp"}, clustering:{fields:["message_topic","message_partition"]}}')
post_json "$BQ/tables" "$TABLE_BODY"
expect_eq "tables.insert code" "$CODE" 200
expect_eq "tables.insert kind" "$(jb .kind)" "bigquery#table"
expect_eq "tables.insert id" "$(jb .id)" "proj:ds.events"
expect_eq "INT64 normalized to INTEGER" "$(jb '.schema.fields[1].type')" INTEGER
expect_eq "STRUCT normalized to RECORD" "$(jb '.schema.fields[12].fields[2].type')" RECORD
expect_eq "default mode NULLABLE" "$(jb '.schema.fields[0].mode')" NULLABLE
expect_eq "timePartitioning kept" "$(jb .timePartitioning.field)" message_timestamp
expect_eq "clustering kept" "$(jb '.clustering.fields | join(",")')" "message_topic,message_partition"
post_json "$BQ/tables" "$TABLE_BODY"
expect_eq "duplicate tables.insert code" "$CODE" 409
expect_eq "duplicate reason" "$(jb '.error.errors[0].reason')" duplicate
expect_eq "duplicate message" "$(jb .error.message)" "Already Exists: Table proj:ds.events"
req GET "$BQ/tables/events"
expect_eq "tables.get code" "$CODE" 200
expect_eq "tables.get numRows" "$(jb .numRows)" 0
expect_eq "tables.get field count" "$(jb '.schema.fields | length')" 14
req GET "$BQ/tables"
expect_eq "tables.list code" "$CODE" 200
expect_eq "tables.list names" "$(jb '[.tables[].tableReference.tableId] | join(",")')" events
req GET "$BQ"
expect_eq "dataset created implicitly" "$(jb .id)" "proj:ds"
post_json "/bigquery/v2/projects/proj/datasets" '{"datasetReference":{"datasetId":"other"}}'
expect_eq "datasets.insert code" "$CODE" 200
post_json "/bigquery/v2/projects/proj/datasets" '{"datasetReference":{"datasetId":"other"}}'
expect_eq "duplicate datasets.insert code" "$CODE" 409

note "tables.insert refuses bad schemas"
post_json "$BQ/tables" '{"tableReference":{"tableId":"bad"},"schema":{"fields":[{"name":"a","type":"WIDGET"}]}}'
expect_eq "unknown type code" "$CODE" 400
expect_eq "unknown type reason" "$(jb '.error.errors[0].reason')" invalid
post_json "$BQ/tables" '{"tableReference":{"tableId":"bad"},"schema":{"fields":[{"name":"a","type":"INTEGER"}]},"timePartitioning":{"type":"DAY","field":"a"}}'
expect_eq "partitioning on INTEGER code" "$CODE" 400
check "partitioning message names TIMESTAMP, DATE or DATETIME" '[[ "$(jb .error.message)" == *"TIMESTAMP, DATE or DATETIME"* ]]'
post_json "$BQ/tables" '{"tableReference":{"tableId":"bad"},"schema":{"fields":[{"name":"a","type":"INTEGER"},{"name":"A","type":"STRING"}]}}'
expect_eq "case-insensitive duplicate field code" "$CODE" 400
post_json "$BQ/tables" '{"tableReference":{"tableId":"bad"},"schema":{"fields":[{"name":"r","type":"RECORD"}]}}'
expect_eq "RECORD without fields code" "$CODE" 400

note "tables.patch / update: add, relax, refuse drop and retype"
post_json "$BQ/tables" '{"tableReference":{"tableId":"evolve"},"schema":{"fields":[{"name":"a","type":"INTEGER","mode":"REQUIRED"},{"name":"b","type":"STRING"}]}}'
expect_eq "evolve create" "$CODE" 200
req PATCH "$BQ/tables/evolve" -H 'Content-Type: application/json' --data-binary '{"schema":{"fields":[{"name":"a","type":"INTEGER","mode":"NULLABLE"},{"name":"b","type":"STRING"},{"name":"c","type":"FLOAT"},{"name":"d","type":"STRING","mode":"REPEATED"}]}}'
expect_eq "patch add+relax code" "$CODE" 200
expect_eq "patch relaxed a" "$(jb '.schema.fields[0].mode')" NULLABLE
expect_eq "patch added c,d" "$(jb '[.schema.fields[].name] | join(",")')" "a,b,c,d"
req PATCH "$BQ/tables/evolve" -H 'Content-Type: application/json' --data-binary '{"schema":{"fields":[{"name":"a","type":"INTEGER"},{"name":"b","type":"STRING"},{"name":"c","type":"FLOAT"},{"name":"d","type":"STRING","mode":"REPEATED"},{"name":"e","type":"STRING","mode":"REQUIRED"}]}}'
expect_eq "patch add REQUIRED code" "$CODE" 400
check "patch add REQUIRED message" '[[ "$(jb .error.message)" == *"Cannot add required fields"* ]]'
req PATCH "$BQ/tables/evolve" -H 'Content-Type: application/json' --data-binary '{"schema":{"fields":[{"name":"a","type":"INTEGER"},{"name":"c","type":"FLOAT"},{"name":"d","type":"STRING","mode":"REPEATED"}]}}'
expect_eq "patch drop column code" "$CODE" 400
expect_eq "patch drop column reason" "$(jb '.error.errors[0].reason')" invalid
check "patch drop column message" '[[ "$(jb .error.message)" == *"Field b is missing in new schema"* ]]'
req PATCH "$BQ/tables/evolve" -H 'Content-Type: application/json' --data-binary '{"schema":{"fields":[{"name":"a","type":"STRING"},{"name":"b","type":"STRING"},{"name":"c","type":"FLOAT"},{"name":"d","type":"STRING","mode":"REPEATED"}]}}'
expect_eq "patch retype code" "$CODE" 400
check "patch retype message" '[[ "$(jb .error.message)" == *"Field a has changed type from INTEGER to STRING"* ]]'
req PATCH "$BQ/tables/evolve" -H 'Content-Type: application/json' --data-binary '{"schema":{"fields":[{"name":"a","type":"INTEGER","mode":"REQUIRED"},{"name":"b","type":"STRING"},{"name":"c","type":"FLOAT"},{"name":"d","type":"STRING","mode":"REPEATED"}]}}'
expect_eq "patch tighten NULLABLE->REQUIRED code" "$CODE" 400
req PATCH "$BQ/tables/evolve" -H 'Content-Type: application/json' --data-binary '{"description":"only a description"}'
expect_eq "patch without schema code" "$CODE" 200
expect_eq "patch without schema keeps columns" "$(jb '.schema.fields | length')" 4
expect_eq "patch description" "$(jb .description)" "only a description"
req PUT "$BQ/tables/evolve" -H 'Content-Type: application/json' --data-binary '{"schema":{"fields":[{"name":"a","type":"INTEGER"},{"name":"b","type":"STRING"},{"name":"c","type":"FLOAT"},{"name":"d","type":"STRING","mode":"REPEATED"},{"name":"f","type":"BOOLEAN"}]}}'
expect_eq "PUT update code" "$CODE" 200
expect_eq "PUT update added f" "$(jb '.schema.fields[4].name')" f
req PATCH "$BQ/tables/missing" -H 'Content-Type: application/json' --data-binary '{}'
expect_eq "patch missing table code" "$CODE" 404

note "insertAll: every type, happy path"
ROWS='{"kind":"bigquery#tableDataInsertAllRequest","rows":[
 {"insertId":"t-0-0","json":{"message_topic":"orders","message_partition":0,"message_offset":0,
   "message_timestamp":"2024-01-02T03:04:05.123456Z","price":1.5,"paid":true,"name":"alice",
   "blob":"aGVsbG8=","day":"2024-01-02","amount":"12.50","attrs":{"k":[1,2],"big":9007199254740993},
   "codes":[1,2,3],"customer":{"id":"9223372036854775807","tags":["a","b"],"address":{"city":"Oslo"}},
   "items":[{"sku":"x","qty":2},{"sku":"y"}]}},
 {"insertId":"t-0-1","json":{"message_topic":"orders","message_partition":0,"message_offset":"1",
   "message_timestamp":1704164645,"price":"2.25","paid":"false","name":null,"attrs":"{\"s\":\"text\"}",
   "customer":{"id":-9223372036854775808}}},
 {"insertId":"t-1-0","json":{"message_topic":"orders","message_partition":1,"message_offset":0,
   "message_timestamp":"2024-01-02 04:04:05+01:00","Price":3,"customer":{"id":7}}}]}'
post_json "$BQ/tables/events/insertAll" "$ROWS"
expect_eq "insertAll code" "$CODE" 200
expect_eq "insertAll kind" "$(jb .kind)" "bigquery#tableDataInsertAllResponse"
expect_eq "insertAll has no insertErrors" "$(jb 'has("insertErrors")')" false
req GET "$BQ/tables/events/data"
expect_eq "tabledata.list code" "$CODE" 200
expect_eq "tabledata.list kind" "$(jb .kind)" "bigquery#tableDataList"
expect_eq "tabledata.list totalRows" "$(jb .totalRows)" 3
expect_eq "STRING v" "$(jb '.rows[0].f[0].v')" orders
expect_eq "INTEGER v is a string" "$(jb '.rows[0].f[2].v | type')" string
expect_eq "TIMESTAMP v as seconds" "$(jb '.rows[0].f[3].v')" "1704164645.123456"
expect_eq "TIMESTAMP epoch number" "$(jb '.rows[1].f[3].v')" "1704164645.0"
expect_eq "TIMESTAMP with offset" "$(jb '.rows[2].f[3].v')" "1704164645.0"
expect_eq "FLOAT v" "$(jb '.rows[0].f[4].v')" 1.5
expect_eq "FLOAT from string" "$(jb '.rows[1].f[4].v')" 2.25
expect_eq "field names are case-insensitive (Price)" "$(jb '.rows[2].f[4].v')" 3.0
expect_eq "BOOLEAN v" "$(jb '.rows[0].f[5].v')" true
expect_eq "BOOLEAN from string" "$(jb '.rows[1].f[5].v')" false
expect_eq "NULL v" "$(jb '.rows[1].f[6].v')" null
expect_eq "BYTES v" "$(jb '.rows[0].f[7].v')" aGVsbG8=
expect_eq "DATE v" "$(jb '.rows[0].f[8].v')" 2024-01-02
expect_eq "NUMERIC v" "$(jb '.rows[0].f[9].v')" 12.50
expect_eq "JSON v is JSON text" "$(jb '.rows[0].f[10].v | fromjson | .k[1]')" 2
check "JSON keeps big integers exact" '[[ "$(jb ".rows[0].f[10].v")" == *9007199254740993* ]]'
expect_eq "JSON from a string" "$(jb '.rows[1].f[10].v | fromjson | .s')" text
expect_eq "REPEATED INTEGER" "$(jb '[.rows[0].f[11].v[].v] | join(",")')" "1,2,3"
expect_eq "empty REPEATED" "$(jb '.rows[1].f[11].v | length')" 0
expect_eq "RECORD int64 max exact" "$(jb '.rows[0].f[12].v.f[0].v')" 9223372036854775807
expect_eq "RECORD int64 min exact" "$(jb '.rows[1].f[12].v.f[0].v')" -9223372036854775808
expect_eq "RECORD repeated tags" "$(jb '[.rows[0].f[12].v.f[1].v[].v] | join(",")')" "a,b"
expect_eq "nested RECORD" "$(jb '.rows[0].f[12].v.f[2].v.f[0].v')" Oslo
expect_eq "REPEATED RECORD" "$(jb '.rows[0].f[13].v[1].v.f[0].v')" y
expect_eq "REPEATED RECORD missing subfield" "$(jb '.rows[0].f[13].v[1].v.f[1].v')" null
req GET "$BQ/tables/events/data?formatOptions.useInt64Timestamp=true&maxResults=1"
expect_eq "useInt64Timestamp" "$(jb '.rows[0].f[3].v')" 1704164645123456
req GET "$BQ/tables/events/data?format=json"
expect_eq "format=json rows" "$(jb '.rows | length')" 3
expect_eq "format=json row object" "$(jb '.rows[0].customer.address.city')" Oslo
expect_eq "format=json canonical timestamp" "$(jb '.rows[2].message_timestamp')" "2024-01-02T03:04:05.000000Z"
check "format=json int64 exact" 'grep -q "\"id\":9223372036854775807" "$TEST_TMP/body"'
req GET "$BQ/tables/events"
expect_eq "tables.get numRows after insert" "$(jb .numRows)" 3

note "insertAll: invalid rows -> invalid + stopped, nothing stored"
post_json "$BQ/tables/events/insertAll" '{"rows":[
 {"insertId":"bad-0","json":{"message_offset":10,"customer":{"id":1}}},
 {"insertId":"bad-1","json":{"message_offset":"ten"}},
 {"insertId":"bad-2","json":{"message_offset":12,"nope":1}},
 {"insertId":"bad-3","json":{"message_topic":"t"}},
 {"insertId":"bad-4","json":{"message_offset":"9223372036854775808"}},
 {"insertId":"bad-5","json":{"message_offset":5,"codes":7,"paid":"yes","blob":"***","message_timestamp":"yesterday","customer":{"tags":["x"]}}},
 {"insertId":"bad-6","json":{"message_offset":6,"name":["a"],"customer":"c"}}]}'
expect_eq "invalid rows code" "$CODE" 200
expect_eq "insertErrors count" "$(jb '.insertErrors | length')" 7
expect_eq "row 0 stopped" "$(jb '.insertErrors[] | select(.index==0) | .errors[0].reason')" stopped
expect_eq "stopped has empty message" "$(jb '.insertErrors[] | select(.index==0) | .errors[0].message')" ""
expect_eq "row 1 invalid" "$(jb '.insertErrors[] | select(.index==1) | .errors[0].reason')" invalid
expect_eq "row 1 location" "$(jb '.insertErrors[] | select(.index==1) | .errors[0].location')" message_offset
expect_eq "row 1 debugInfo present" "$(jb '.insertErrors[] | select(.index==1) | .errors[0] | has("debugInfo")')" true
expect_eq "row 2 unknown field" "$(jb '.insertErrors[] | select(.index==2) | .errors[0].message')" "no such field: nope."
expect_eq "row 3 missing REQUIRED" "$(jb '.insertErrors[] | select(.index==3) | .errors[0].message')" "Missing required field: message_offset."
check "row 4 int64 out of range" '[[ "$(jb ".insertErrors[] | select(.index==4) | .errors[0].message")" == *"out of range"* ]]'
expect_eq "row 5 reports each bad field" "$(jb '[.insertErrors[] | select(.index==5) | .errors[].location] | sort | join(",")')" "blob,codes,customer.id,message_timestamp,paid"
expect_eq "row 6 array for scalar and scalar for record" "$(jb '[.insertErrors[] | select(.index==6) | .errors[].location] | sort | join(",")')" "customer,name"
req GET "$BQ/tables/events/data"
expect_eq "nothing stored after invalid rows" "$(jb .totalRows)" 3

note "skipInvalidRows and ignoreUnknownValues"
post_json "$BQ/tables/events/insertAll" '{"skipInvalidRows":true,"rows":[
 {"insertId":"s-0","json":{"message_topic":"orders","message_partition":2,"message_offset":0}},
 {"insertId":"s-1","json":{"message_offset":"x"}},
 {"insertId":"s-2","json":{"message_topic":"orders","message_partition":2,"message_offset":1}}]}'
expect_eq "skipInvalidRows code" "$CODE" 200
expect_eq "skipInvalidRows reports only the invalid row" "$(jb '[.insertErrors[].index] | join(",")')" 1
expect_eq "skipInvalidRows no stopped" "$(jb '[.insertErrors[].errors[].reason] | join(",")')" invalid
req GET "$BQ/tables/events/data"
expect_eq "skipInvalidRows stored the valid rows" "$(jb .totalRows)" 5
post_json "$BQ/tables/events/insertAll" '{"ignoreUnknownValues":true,"rows":[
 {"insertId":"u-0","json":{"message_topic":"other","message_partition":0,"message_offset":0,"extra":1,"customer":{"id":1,"zzz":2}}}]}'
expect_eq "ignoreUnknownValues code" "$CODE" 200
expect_eq "ignoreUnknownValues no errors" "$(jb 'has("insertErrors")')" false
req GET "$BQ/tables/events/data?format=json&startIndex=5"
expect_eq "ignoreUnknownValues dropped unknown fields" "$(jb '.rows[0] | has("extra")')" false

note "insertId dedup (durable)"
post_json "$BQ/tables/events/insertAll" '{"rows":[
 {"insertId":"t-0-0","json":{"message_topic":"orders","message_partition":0,"message_offset":0}},
 {"insertId":"new-1","json":{"message_topic":"orders","message_partition":3,"message_offset":0}},
 {"insertId":"new-1","json":{"message_topic":"orders","message_partition":3,"message_offset":0}},
 {"json":{"message_topic":"noid","message_partition":0,"message_offset":0}},
 {"json":{"message_topic":"noid","message_partition":0,"message_offset":0}}]}'
expect_eq "dedup insert code" "$CODE" 200
expect_eq "dedup acknowledged all rows" "$(jb 'has("insertErrors")')" false
req GET "$BQ/tables/events/data"
expect_eq "dedup stored new-1 once and both rows without insertId" "$(jb .totalRows)" 9
req GET /admin/stats
expect_eq "stats rows_deduped" "$(jb .rows_deduped)" 2

note "gzip bodies"
printf '%s' '{"rows":[{"insertId":"gz-1","json":{"message_topic":"gz","message_partition":0,"message_offset":1}}]}' | gzip -c >"$TEST_TMP/gz.body"
req POST "$BQ/tables/events/insertAll" -H 'Content-Type: application/json' -H 'Content-Encoding: gzip' --data-binary @"$TEST_TMP/gz.body"
expect_eq "gzip insertAll code" "$CODE" 200
req GET "$BQ/tables/events/data"
expect_eq "gzip row stored" "$(jb .totalRows)" 10
printf 'not gzip at all' >"$TEST_TMP/bad.gz"
req POST "$BQ/tables/events/insertAll" -H 'Content-Encoding: gzip' --data-binary @"$TEST_TMP/bad.gz"
expect_eq "corrupt gzip code" "$CODE" 400

note "request limits: 10 MB, 50,000 rows, empty"
{
  printf '{"rows":[{"json":{"message_offset":1,"name":"'
  head -c 10485800 /dev/zero | tr '\0' 'a'
  printf '"}}]}'
} >"$TEST_TMP/big.body"
req POST "$BQ/tables/events/insertAll" -H 'Content-Type: application/json' --data-binary @"$TEST_TMP/big.body"
expect_eq "10 MB body code" "$CODE" 400
expect_eq "10 MB body message" "$(jb .error.message)" "Request payload size exceeds the limit: 10485760 bytes."
gzip -c "$TEST_TMP/big.body" >"$TEST_TMP/big.body.gz"
req POST "$BQ/tables/events/insertAll" -H 'Content-Encoding: gzip' --data-binary @"$TEST_TMP/big.body.gz"
expect_eq "10 MB after gunzip code" "$CODE" 400
check "10 MB after gunzip message" '[[ "$(jb .error.message)" == "Request payload size exceeds the limit"* ]]'
awk 'BEGIN { printf "{\"rows\":["; for (i = 0; i < 50001; i++) { if (i) printf ","; printf "{\"json\":{\"message_offset\":%d}}", i } printf "]}" }' >"$TEST_TMP/many.body"
req POST "$BQ/tables/events/insertAll" --data-binary @"$TEST_TMP/many.body"
expect_eq "50,001 rows code" "$CODE" 400
expect_eq "50,001 rows reason" "$(jb '.error.errors[0].reason')" invalid
check "50,001 rows message" '[[ "$(jb .error.message)" == *"50000"* ]]'
post_json "$BQ/tables/events/insertAll" '{"rows":[]}'
expect_eq "no rows code" "$CODE" 400
post_json "$BQ/tables/events/insertAll" '{"rows":[{'
expect_eq "malformed JSON code" "$CODE" 400
post_json "$BQ/tables/nosuch/insertAll" '{"rows":[{"json":{"a":1}}]}'
expect_eq "insertAll missing table code" "$CODE" 404
expect_eq "insertAll missing table reason" "$(jb '.error.errors[0].reason')" notFound
req GET "$BQ/tables/events/data"
expect_eq "limits stored nothing" "$(jb .totalRows)" 10

note "templateSuffix"
post_json "$BQ/tables/events/insertAll" '{"templateSuffix":"_20240102","rows":[{"insertId":"ts-1","json":{"message_offset":1}}]}'
expect_eq "templateSuffix code" "$CODE" 200
req GET "$BQ/tables/events_20240102"
expect_eq "templateSuffix created the table" "$(jb .numRows)" 1
expect_eq "templateSuffix copied the schema" "$(jb '.schema.fields | length')" 14

note "tabledata.list paging"
req GET "$BQ/tables/events/data?maxResults=4"
expect_eq "page 1 rows" "$(jb '.rows | length')" 4
expect_eq "page 1 token" "$(jb .pageToken)" 4
req GET "$BQ/tables/events/data?maxResults=4&pageToken=8"
expect_eq "last page rows" "$(jb '.rows | length')" 2
expect_eq "last page has no token" "$(jb 'has("pageToken")')" false
req GET "$BQ/tables/events/data?startIndex=3&maxResults=1&selectedFields=message_offset,message_partition"
expect_eq "selectedFields cell count" "$(jb '.rows[0].f | length')" 2
expect_eq "startIndex row" "$(jb '.rows[0].f[0].v + ":" + .rows[0].f[1].v')" "2:0"

note "jobs.query: the audit queries"
query() { # query SQL [EXTRA_JSON]: POST /queries with useLegacySql false
  post_json /bigquery/v2/projects/proj/queries "$(jq -c -n --arg q "$1" --argjson x "${2:-{\}}" '{query:$q,useLegacySql:false} + $x')"
}
query "SELECT message_partition, COUNT(*), COUNT(DISTINCT message_offset), MIN(message_offset), MAX(message_offset) FROM \`proj.ds.events\` WHERE message_topic = 'orders' GROUP BY message_partition ORDER BY message_partition"
expect_eq "aggregate query code" "$CODE" 200
expect_eq "aggregate query kind" "$(jb .kind)" "bigquery#queryResponse"
expect_eq "jobComplete" "$(jb .jobComplete)" true
expect_eq "aggregate totalRows" "$(jb .totalRows)" 4
expect_eq "aggregate schema" "$(jb '[.schema.fields[] | .name + ":" + .type] | join(",")')" "message_partition:INTEGER,f0_:INTEGER,f1_:INTEGER,f2_:INTEGER,f3_:INTEGER"
expect_eq "aggregate rows" "$(jb '[.rows[] | [.f[].v] | join("/")] | join(" ")')" "0/2/2/0/1 1/1/1/0/0 2/2/2/0/1 3/1/1/0/0"
query "SELECT message_partition, message_offset FROM \`proj.ds.events\` WHERE message_topic = 'orders' AND message_partition IN (0, 2) ORDER BY message_partition, message_offset DESC"
expect_eq "offset list" "$(jb '[.rows[] | .f[0].v + ":" + .f[1].v] | join(",")')" "0:1,0:0,2:1,2:0"
query "SELECT COUNT(*) FROM \`proj.ds.events\`"
expect_eq "COUNT(*)" "$(jb '.rows[0].f[0].v')" 10
query "SELECT COUNT(*) AS n FROM ds.events WHERE message_timestamp >= TIMESTAMP '2024-01-02 03:04:05' AND customer.id IS NOT NULL"
expect_eq "alias, TIMESTAMP literal and nested column" "$(jb '.schema.fields[0].name + "=" + .rows[0].f[0].v')" "n=3"
query "SELECT message_topic, COUNT(*) c FROM \`proj.ds.events\` GROUP BY 1 HAVING c > 1 ORDER BY c DESC, message_topic"
expect_eq "GROUP BY ordinal, HAVING alias" "$(jb '[.rows[] | .f[0].v + "=" + .f[1].v] | join(",")')" "orders=6,noid=2"
query "SELECT MAX(message_timestamp), SUM(price), AVG(price) FROM \`proj.ds.events\` WHERE message_topic = @topic" '{"parameterMode":"NAMED","queryParameters":[{"name":"topic","parameterType":{"type":"STRING"},"parameterValue":{"value":"orders"}}]}'
expect_eq "query parameter + TIMESTAMP/FLOAT results" "$(jb '[.rows[0].f[].v] | join(",")')" "1704164645.123456,6.75,2.25"
query "SELECT message_partition, message_offset FROM \`proj.ds.events\` WHERE message_topic = 'orders' ORDER BY 1, 2" '{"maxResults":2}'
expect_eq "maxResults page" "$(jb '.rows | length')" 2
expect_eq "maxResults totalRows" "$(jb .totalRows)" 6
job=$(jb .jobReference.jobId)
token=$(jb .pageToken)
req GET "/bigquery/v2/projects/proj/queries/$job?pageToken=$token&maxResults=10"
expect_eq "getQueryResults code" "$CODE" 200
expect_eq "getQueryResults rest" "$(jb '[.rows[] | .f[0].v + ":" + .f[1].v] | join(",")')" "1:0,2:0,2:1,3:0"
req GET "/bigquery/v2/projects/proj/jobs/$job"
expect_eq "jobs.get state" "$(jb .status.state)" DONE
query "SELECT a.x FROM \`proj.ds.events\` a JOIN \`proj.ds.other\` b ON a.x = b.x"
expect_eq "JOIN code" "$CODE" 400
expect_eq "JOIN reason" "$(jb '.error.errors[0].reason')" invalidQuery
check "JOIN message says unsupported" '[[ "$(jb .error.message)" == *"Unsupported: joins"* ]]'
query "SELECT nope FROM \`proj.ds.events\`"
expect_eq "unknown column code" "$CODE" 400
check "unknown column message" '[[ "$(jb .error.message)" == "Unrecognized name: nope"* ]]'
query "SELECT message_partition, message_offset, COUNT(*) FROM \`proj.ds.events\` GROUP BY message_partition"
expect_eq "ungrouped column code" "$CODE" 400
check "ungrouped column message" '[[ "$(jb .error.message)" == *"neither grouped nor aggregated"* ]]'
query "SELECT COUNT(*) FROM \`proj.ds.missing\`"
expect_eq "query missing table code" "$CODE" 404
post_json /bigquery/v2/projects/proj/queries '{"query":"SELECT COUNT(*) FROM `proj.ds.events`"}'
expect_eq "legacy SQL default refused" "$CODE" 400
check "legacy SQL message" '[[ "$(jb .error.message)" == *useLegacySql* ]]'

note "fault injection: 429 burst, errors, drops, latency, stats"
FAULT_ROW() { echo '{"rows":[{"insertId":"'"$1"'","json":{"message_topic":"faults","message_partition":0,"message_offset":'"$2"'}}]}'; }
post_json /admin/faults '{"burst_429":2}'
expect_eq "admin/faults code" "$CODE" 200
expect_eq "admin/faults echoes burst" "$(jb .burst_429)" 2
post_json "$BQ/tables/events/insertAll" "$(FAULT_ROW f-1 1)"
expect_eq "burst 1 -> 429" "$CODE" 429
expect_eq "429 reason" "$(jb '.error.errors[0].reason')" rateLimitExceeded
expect_eq "429 status" "$(jb .error.status)" RESOURCE_EXHAUSTED
post_json "$BQ/tables/events/insertAll" "$(FAULT_ROW f-1 1)"
expect_eq "burst 2 -> 429" "$CODE" 429
req GET "$BQ/tables/events"
expect_eq "tables.get is not faulted" "$CODE" 200
post_json "$BQ/tables/events/insertAll" "$(FAULT_ROW f-1 1)"
expect_eq "after the burst -> 200" "$CODE" 200
post_json /admin/faults '{"error_rate":1,"codes":[503]}'
post_json "$BQ/tables/events/insertAll" "$(FAULT_ROW f-2 2)"
expect_eq "error_rate 1 -> 503" "$CODE" 503
expect_eq "503 reason" "$(jb '.error.errors[0].reason')" backendError
req GET /admin/stats
expect_eq "admin paths are not faulted" "$CODE" 200
post_json /admin/faults '{"reset":true,"drop_rate":1}'
rc=0; curl -s -o /dev/null -X POST "$URL$BQ/tables/events/insertAll" --data-binary "$(FAULT_ROW f-3 3)" || rc=$?
expect_eq "drop_rate 1: connection closed without an answer (curl 52)" "$rc" 52
post_json /admin/faults '{"reset":true,"drop_after_rate":1}'
rc=0; curl -s -o /dev/null -X POST "$URL$BQ/tables/events/insertAll" --data-binary "$(FAULT_ROW f-4 4)" || rc=$?
expect_eq "drop_after_rate 1: no answer (curl 52)" "$rc" 52
post_json /admin/faults '{"reset":true,"latency_ms":300}'
start=$EPOCHREALTIME
post_json "$BQ/tables/events/insertAll" "$(FAULT_ROW f-4 4)"
took=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')
expect_eq "replay after drop_after -> 200" "$CODE" 200
check "latency_ms 300 delayed the request ($took s)" 'awk -v t="$took" "BEGIN { exit !(t >= 0.3) }"'
req DELETE /admin/faults
expect_eq "DELETE /admin/faults resets" "$(jb .latency_ms)" 0
post_json /admin/faults '{"error_rate":7}'
expect_eq "bad fault setting code" "$CODE" 400
query "SELECT message_offset FROM \`proj.ds.events\` WHERE message_topic = 'faults' ORDER BY 1"
expect_eq "faulted requests stored nothing; drop_after stored once" "$(jb '[.rows[].f[0].v] | join(",")')" "1,4"
req GET /admin/stats
expect_eq "stats faults_burst_429" "$(jb .faults_burst_429)" 2
expect_eq "stats faults_errors" "$(jb .faults_errors)" 1
expect_eq "stats faults_drops" "$(jb .faults_drops)" 1
expect_eq "stats faults_drops_after" "$(jb .faults_drops_after)" 1
expect_eq "stats faults_injected" "$(jb .faults_injected)" 5
check "stats requests counted" '[ "$(jb .requests)" -gt 50 ]'
check "stats rows_inserted counted" '[ "$(jb .rows_inserted)" -ge 13 ]'

note "GCS: upload, list, download, multipart, preconditions, delete"
printf '{"a":1}\n{"a":2}\n' >"$TEST_TMP/obj1"
req POST "/upload/storage/v1/b/bkt/o?uploadType=media&name=events%2Fdt%3D2024-01-02%2Forders%2B0%2B0%2B1.ndjson" \
  -H 'Content-Type: application/x-ndjson' --data-binary @"$TEST_TMP/obj1"
expect_eq "upload code" "$CODE" 200
expect_eq "upload kind" "$(jb .kind)" "storage#object"
expect_eq "upload name (+ kept via %2B)" "$(jb .name)" "events/dt=2024-01-02/orders+0+0+1.ndjson"
expect_eq "upload bucket" "$(jb .bucket)" bkt
expect_eq "upload size" "$(jb .size)" 16
expect_eq "upload md5Hash" "$(jb .md5Hash)" "$(openssl dgst -md5 -binary "$TEST_TMP/obj1" | openssl base64 -A)"
check "upload crc32c present" '[ -n "$(jb .crc32c)" ]'
check "upload generation is a number" '[[ "$(jb .generation)" =~ ^[0-9]+$ ]]'
expect_eq "upload contentType" "$(jb .contentType)" application/x-ndjson
printf 'other' >"$TEST_TMP/obj2"
req POST "/upload/storage/v1/b/bkt/o?uploadType=media&name=events%2Fdt%3D2024-01-03%2Fx.ndjson" --data-binary @"$TEST_TMP/obj2"
req POST "/upload/storage/v1/b/bkt/o?uploadType=media&name=else%2Fy" --data-binary @"$TEST_TMP/obj2"
req GET "/storage/v1/b/bkt/o?prefix=events/"
expect_eq "list code" "$CODE" 200
expect_eq "list kind" "$(jb .kind)" "storage#objects"
expect_eq "list prefix items" "$(jb '[.items[].name] | join(",")')" "events/dt=2024-01-02/orders+0+0+1.ndjson,events/dt=2024-01-03/x.ndjson"
req GET "/storage/v1/b/bkt/o?delimiter=/"
expect_eq "list delimiter prefixes" "$(jb '.prefixes | join(",")')" "else/,events/"
req GET "/storage/v1/b/bkt/o?maxResults=1"
expect_eq "list page 1" "$(jb '[.items[].name] | join(",")')" "else/y"
page=$(jb .nextPageToken)
req GET "/storage/v1/b/bkt/o?maxResults=5&pageToken=$page"
expect_eq "list page 2" "$(jb '.items | length')" 2
curl -s -o "$TEST_TMP/download" "$URL/storage/v1/b/bkt/o/events%2Fdt%3D2024-01-02%2Forders%2B0%2B0%2B1.ndjson?alt=media"
check "download equals upload" 'cmp -s "$TEST_TMP/obj1" "$TEST_TMP/download"'
req GET "/storage/v1/b/bkt/o/events%2Fdt%3D2024-01-02%2Forders%2B0%2B0%2B1.ndjson"
expect_eq "object metadata" "$(jb .size)" 16
printf -- '--BOUND\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{"name":"multi.ndjson","contentType":"application/x-ndjson","metadata":{"k":"v"}}\r\n--BOUND\r\nContent-Type: application/x-ndjson\r\n\r\n{"m":1}\n\r\n--BOUND--\r\n' >"$TEST_TMP/multipart"
req POST "/upload/storage/v1/b/bkt/o?uploadType=multipart" -H 'Content-Type: multipart/related; boundary=BOUND' --data-binary @"$TEST_TMP/multipart"
expect_eq "multipart code" "$CODE" 200
expect_eq "multipart name" "$(jb .name)" multi.ndjson
expect_eq "multipart size" "$(jb .size)" 8
expect_eq "multipart metadata" "$(jb .metadata.k)" v
req POST "/upload/storage/v1/b/bkt/o?uploadType=media&name=multi.ndjson&ifGenerationMatch=0" --data-binary 'x'
expect_eq "ifGenerationMatch=0 on existing object" "$CODE" 412
req DELETE "/storage/v1/b/bkt/o/multi.ndjson"
expect_eq "delete code" "$CODE" 204
req GET "/storage/v1/b/bkt/o/multi.ndjson"
expect_eq "deleted object 404" "$CODE" 404
req GET "/storage/v1/b/bkt"
expect_eq "bucket created implicitly" "$(jb .name)" bkt
post_json /admin/faults '{"burst_429":1}'
req POST "/upload/storage/v1/b/bkt/o?uploadType=media&name=faulted" --data-binary 'x'
expect_eq "uploads are faulted too" "$CODE" 429

note "restart: data, tables, objects and insertIds survive"
emu_stop
emu_start "$DATA"
req GET "$BQ/tables/events/data"
expect_eq "rows survive a restart" "$(jb .totalRows)" 12
req GET "$BQ/tables/evolve"
expect_eq "patched schema survives" "$(jb '.schema.fields | length')" 5
post_json "$BQ/tables/events/insertAll" '{"rows":[{"insertId":"t-0-0","json":{"message_offset":0}}]}'
req GET "$BQ/tables/events/data"
expect_eq "insertIds survive a restart (dedup)" "$(jb .totalRows)" 12
curl -s -o "$TEST_TMP/download2" "$URL/storage/v1/b/bkt/o/events%2Fdt%3D2024-01-02%2Forders%2B0%2B0%2B1.ndjson?alt=media"
check "objects survive a restart" 'cmp -s "$TEST_TMP/obj1" "$TEST_TMP/download2"'
req GET /admin/stats
expect_eq "stats start over after a restart" "$(jb .rows_inserted)" 0
emu_stop

note "faults from flags"
emu_start "$DATA" --error-rate 1 --error-codes 500 --seed 7
post_json "$BQ/tables/events/insertAll" '{"rows":[{"json":{"message_offset":0}}]}'
expect_eq "--error-rate 1 --error-codes 500" "$CODE" 500
expect_eq "500 reason" "$(jb '.error.errors[0].reason')" backendError
emu_stop

note "OAuth2: JWT bearer tokens, refresh tokens, 401 on missing/expired tokens"
openssl genrsa -out "$TEST_TMP/sa.pem" 2048 2>/dev/null || fail "openssl genrsa failed"
openssl rsa -in "$TEST_TMP/sa.pem" -pubout -out "$TEST_TMP/sa.pub" 2>/dev/null || fail "openssl rsa -pubout failed"
openssl genrsa -out "$TEST_TMP/other.pem" 2048 2>/dev/null || fail "openssl genrsa failed"
emu_start "$TEST_TMP/auth-data" --public-key "$TEST_TMP/sa.pub" --token-ttl 2
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
# make_jwt KEY AUD SCOPE IAT EXP
make_jwt() {
  local header payload signature
  header=$(printf '{"alg":"RS256","typ":"JWT"}' | b64url)
  payload=$(printf '{"iss":"beast@test.iam.gserviceaccount.com","scope":"%s","aud":"%s","iat":%d,"exp":%d}' "$3" "$2" "$4" "$5" | b64url)
  signature=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -sign "$1" -binary | b64url)
  printf '%s.%s.%s' "$header" "$payload" "$signature"
}
now=$(date +%s)
SCOPE=https://www.googleapis.com/auth/bigquery
token_req() { req POST /token --data-urlencode "grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer" --data-urlencode "assertion=$1"; }
token_req "$(make_jwt "$TEST_TMP/sa.pem" "$URL/token" "$SCOPE" "$now" $((now + 3600)))"
expect_eq "JWT grant code" "$CODE" 200
expect_eq "token_type" "$(jb .token_type)" Bearer
expect_eq "expires_in is --token-ttl" "$(jb .expires_in)" 2
ACCESS=$(jb .access_token)
check "access_token issued" '[ -n "$ACCESS" ] && [ "$ACCESS" != null ]'
token_req "$(make_jwt "$TEST_TMP/other.pem" "$URL/token" "$SCOPE" "$now" $((now + 3600)))"
expect_eq "JWT signed by another key" "$CODE" 400
expect_eq "bad signature error" "$(jb .error)" invalid_grant
expect_eq "bad signature description" "$(jb .error_description)" "Invalid JWT Signature."
token_req "$(make_jwt "$TEST_TMP/sa.pem" "$URL/token" "$SCOPE" $((now - 7200)) $((now - 3600)))"
expect_eq "expired JWT" "$CODE:$(jb .error)" "400:invalid_grant"
token_req "$(make_jwt "$TEST_TMP/sa.pem" "$URL/token" "$SCOPE" "$now" $((now + 7200)))"
expect_eq "JWT living over an hour" "$CODE:$(jb .error)" "400:invalid_grant"
token_req "$(make_jwt "$TEST_TMP/sa.pem" "http://elsewhere/token" "$SCOPE" "$now" $((now + 3600)))"
expect_eq "JWT for another audience" "$CODE:$(jb .error)" "400:invalid_grant"
token_req "$(make_jwt "$TEST_TMP/sa.pem" "$URL/token" "" "$now" $((now + 3600)))"
expect_eq "JWT without scope" "$CODE:$(jb .error)" "400:invalid_scope"
token_req "garbage"
expect_eq "malformed JWT" "$CODE:$(jb .error)" "400:invalid_grant"
req POST /token --data-urlencode "grant_type=password"
expect_eq "unsupported grant" "$CODE:$(jb .error)" "400:unsupported_grant_type"
req POST /token --data-urlencode "grant_type=refresh_token" --data-urlencode "refresh_token=1//abc" --data-urlencode "client_id=cid" --data-urlencode "client_secret=s"
expect_eq "refresh_token grant" "$CODE:$(jb .token_type)" "200:Bearer"
req POST /token --data-urlencode "grant_type=refresh_token" --data-urlencode "refresh_token=revoked-1" --data-urlencode "client_id=cid"
expect_eq "revoked refresh token" "$CODE:$(jb .error)" "400:invalid_grant"
req GET "$BQ/tables"
expect_eq "no token -> 401" "$CODE" 401
expect_eq "401 reason required" "$(jb '.error.errors[0].reason')" required
expect_eq "401 status" "$(jb .error.status)" UNAUTHENTICATED
check "401 has WWW-Authenticate" 'curl -s -D - -o /dev/null "$URL$BQ/tables" | grep -qi "^WWW-Authenticate: Bearer"'
req GET "$BQ/tables" -H "Authorization: Bearer not-a-token"
expect_eq "unknown token -> 401 authError" "$CODE:$(jb '.error.errors[0].reason')" "401:authError"
post_json "$BQ/tables" '{"tableReference":{"tableId":"authed"},"schema":{"fields":[{"name":"a","type":"INTEGER"}]}}' -H "Authorization: Bearer $ACCESS"
expect_eq "valid token -> 200" "$CODE" 200
req POST "/upload/storage/v1/b/b/o?uploadType=media&name=n" --data-binary x
expect_eq "GCS needs the token too" "$CODE" 401
req GET /admin/stats
expect_eq "admin paths need no token" "$CODE" 200
wait_until 10 '[ "$(curl -s -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $ACCESS" "$URL$BQ/tables")" = 401 ]' ||
  check "token expired after --token-ttl 2" false
req GET "$BQ/tables" -H "Authorization: Bearer $ACCESS"
expect_eq "expired token -> 401 authError" "$CODE:$(jb '.error.errors[0].reason')" "401:authError"
token_req "$(make_jwt "$TEST_TMP/sa.pem" "$URL/token" "$SCOPE" "$(date +%s)" $(($(date +%s) + 600)))"
req GET "$BQ/tables" -H "Authorization: Bearer $(jb .access_token)"
expect_eq "a fresh token works again" "$CODE" 200
emu_stop

note "--require-auth without a key: tokens needed, JWT signatures not checked"
emu_start "$TEST_TMP/require-auth-data" --require-auth
req GET "$BQ/tables"
expect_eq "--require-auth: no token -> 401" "$CODE" 401
now=$(date +%s)
token_req "$(make_jwt "$TEST_TMP/other.pem" "$URL/token" "$SCOPE" "$now" $((now + 600)))"
expect_eq "--require-auth: any RS256 signature accepted" "$CODE" 200
req GET "$BQ/tables" -H "Authorization: Bearer $(jb .access_token)"
expect_eq "--require-auth: token works" "$CODE" 404
expect_eq "--require-auth: then the dataset is simply missing" "$(jb '.error.errors[0].reason')" notFound
emu_stop

note "--fast: rows counted and deduplicated in memory, not stored"
emu_start "$TEST_TMP/fast-data" --fast
post_json "$BQ/tables" '{"tableReference":{"tableId":"bench"},"schema":{"fields":[{"name":"a","type":"INTEGER"}]}}'
expect_eq "fast: tables.insert" "$CODE" 200
post_json "$BQ/tables/bench/insertAll" '{"rows":[{"insertId":"1","json":{"a":1}},{"insertId":"2","json":{"a":2}},{"insertId":"1","json":{"a":1}},{"json":"not an object"}]}'
expect_eq "fast: insertAll code" "$CODE" 200
expect_eq "fast: a row without a json object is invalid" "$(jb '[.insertErrors[].index] | join(",")')" 3
post_json "$BQ/tables/bench/insertAll" '{"rows":[{"insertId":"2","json":{"a":2}},{"insertId":"3","json":{"a":3}}]}'
req GET /admin/stats
expect_eq "fast: rows_inserted" "$(jb .rows_inserted)" 3
expect_eq "fast: rows_deduped" "$(jb .rows_deduped)" 2
expect_eq "fast: stats say fast" "$(jb .fast)" true
req GET "$BQ/tables/bench/data"
expect_eq "fast: nothing stored" "$(jb .totalRows)" 0
post_json "$BQ/tables/missing/insertAll" '{"rows":[{"json":{"a":1}}]}'
expect_eq "fast: missing table still 404" "$CODE" 404

note "--fast: the body scanner (nested keys, key order, escapes, empty ids)"
post_json "$BQ/tables/bench/insertAll" '{"rows":[{"json":{"insertId":"3","a":1}},{"json":{"insertId":"3","nested":{"insertId":"3","json":{}}}}]}'
expect_eq "fast: an insertId inside json is a column, not the row's id" "$CODE:$(jb .insertErrors)" "200:null"
post_json "$BQ/tables/bench/insertAll" '{"rows":[{"json":{"a":4},"insertId":"4"},{"insertId":"4","json":{"a":4}},{"insertId":"a\u0062c","json":{}},{"insertId":"abc","json":{"s":"}]\"{["}}]}'
expect_eq "fast: key order and escaped ids" "$CODE:$(jb .insertErrors)" "200:null"
post_json "$BQ/tables/bench/insertAll" '{"rows":[{"insertId":"","json":{}},{"insertId":"","json":{}},{"insertId":7,"json":{}},{"json":{"a":1},"extra":[{"insertId":"5"}]}]}'
expect_eq "fast: empty or non-string ids are no ids" "$CODE" 200
req GET /admin/stats
# rows so far: 3 (first test) + 2 nested + 2 of 4 ("4" and "abc" once each) + 4 without ids
expect_eq "fast: rows_inserted after the scanner cases" "$(jb .rows_inserted)" 11
expect_eq "fast: rows_deduped after the scanner cases" "$(jb .rows_deduped)" 4
expect_eq "fast: per-table distinct rows" "$(jb '.tables["proj:ds.bench"].rows_inserted')" 11
expect_eq "fast: per-table deduped rows" "$(jb '.tables["proj:ds.bench"].rows_deduped')" 4
expect_eq "fast: insertIds remembered" "$(jb .fast_insert_ids)" 5

note "--fast: malformed bodies get 400, the emulator lives on"
rejected_before=$(jb .insert_rejected)
for body in '' '[{"json":{}}]' '{"rows":[{"json":{}}' '{"rows":[{"json":{"a":"unterminated}}]}' \
  '{"rows":[{"json":{"a":[1,2}}]}' '{"rows":[{"json":{}} x]}' '{"rows":[{"insertId":"1","json":{}},]}' \
  '{"rows":[{"insertId":"\q","json":{}}]}' '{"rows":[{"json":{}}],"kind":tru}' '{"rows" [{"json":{}}]}'; do
  post_json "$BQ/tables/bench/insertAll" "$body"
  expect_eq "fast: malformed body $body: code" "$CODE" 400
  expect_eq "fast: malformed body $body: message" "$(jb .error.message)" "Invalid JSON payload received."
done
post_json "$BQ/tables/bench/insertAll" '{"rows":[]}'
expect_eq "fast: no rows message" "$(jb .error.message)" "No rows present in the request."
post_json "$BQ/tables/bench/insertAll" '{"rows":{"json":{}}}'
expect_eq "fast: rows not an array" "$(jb .error.message)" "No rows present in the request."
req POST "$BQ/tables/bench/insertAll" --data-binary @"$TEST_TMP/many.body"
expect_eq "fast: 50,001 rows message" "$(jb .error.message)" "too many rows present in the request, limit: 50000 row count: 50001."
req GET /admin/stats
expect_eq "fast: every refusal counted" "$(jb .insert_rejected)" $((rejected_before + 13))
expect_eq "fast: refusals inserted nothing" "$(jb .rows_inserted)" 11
req GET /healthz
expect_eq "fast: still serving after malformed bodies" "$CODE" 200

note "--fast: a large request, gzip, templateSuffix, deleting the table"
awk 'BEGIN { printf "{\"rows\":["; for (i = 0; i < 3000; i++) { if (i) printf ","; printf "{\"insertId\":\"big-%d\",\"json\":{\"a\":%d,\"s\":\"x\\\"y\"}}", i, i } printf "]}" }' >"$TEST_TMP/fast-big.body"
req POST "$BQ/tables/bench/insertAll" --data-binary @"$TEST_TMP/fast-big.body"
expect_eq "fast: 3,000 rows code" "$CODE:$(jb .insertErrors)" "200:null"
gzip -c "$TEST_TMP/fast-big.body" >"$TEST_TMP/fast-big.body.gz"
req POST "$BQ/tables/bench/insertAll" -H 'Content-Encoding: gzip' --data-binary @"$TEST_TMP/fast-big.body.gz"
expect_eq "fast: the same rows gzipped" "$CODE" 200
post_json "$BQ/tables/bench/insertAll" '{"templateSuffix":"_x","rows":[{"insertId":"big-1","json":{}}]}'
expect_eq "fast: templateSuffix code" "$CODE" 200
req GET "$BQ/tables/bench_x"
expect_eq "fast: templateSuffix created the table" "$CODE" 200
req GET /admin/stats
expect_eq "fast: 3,000 new rows, then 3,000 duplicates" "$(jb '.tables["proj:ds.bench"].rows_inserted'):$(jb '.tables["proj:ds.bench"].rows_deduped')" "3011:3004"
expect_eq "fast: a suffixed table has ids of its own" "$(jb '.tables["proj:ds.bench_x"].rows_inserted')" 1
req DELETE "$BQ/tables/bench"
expect_eq "fast: delete the table" "$CODE" 204
post_json "$BQ/tables/bench/insertAll" '{"rows":[{"insertId":"big-1","json":{}}]}'
expect_eq "fast: a deleted table is 404" "$CODE" 404
post_json "$BQ/tables" '{"tableReference":{"tableId":"bench"},"schema":{"fields":[{"name":"a","type":"INTEGER"}]}}'
req POST "$BQ/tables/bench/insertAll" --data-binary @"$TEST_TMP/fast-big.body"
req GET /admin/stats
expect_eq "fast: a re-created table starts with no ids and no counts" "$(jb '.tables["proj:ds.bench"].rows_inserted'):$(jb '.tables["proj:ds.bench"].rows_deduped')" "3000:0"
req POST /admin/reset
req GET /admin/stats
expect_eq "fast: reset forgets tables and ids" "$(jb '.tables | length'):$(jb .fast_insert_ids)" "0:0"
emu_stop

if [ "$FAILURES" -gt 0 ]; then
  echo "FAIL: $FAILURES assertion(s) failed" >&2
  exit 1
fi
note "all emulator checks passed"
