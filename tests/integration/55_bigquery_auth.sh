#!/usr/bin/env bash
# BigQuery sink authentication against the emulator with --public-key (JWT
# signatures checked with the key's public half, Bearer tokens required):
# - a service-account JSON whose key was made by openssl genrsa and whose
#   token_uri is the emulator's: phase 1 with 1-hour tokens; then the
#   emulator restarts (it forgets every token, so the cached one gets 401:
#   the sink fetches a new one and sends again) with 3-second tokens, and
#   12,000 messages arrive over ~10 s: tokens are refreshed before they
#   expire, no 401 reaches the pipeline, every row lands exactly once;
# - `beast check --connect` with a key the emulator does not know (refused:
#   "Invalid JWT Signature"), authorized_user files (good and revoked),
#   $GOOGLE_APPLICATION_CREDENTIALS, and the metadata server (a fake one);
# - malformed credentials fail at load time with one line naming the file.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/pipeline_lib.sh"
source "$BEAST_ROOT/plugins/sink_bigquery/tests/bigquery_lib.sh"
command -v openssl >/dev/null || fail "openssl is needed by this test"

TOPIC=secure
PARTITIONS=4
FIRST=2000
SECOND=12000
COUNT=$((FIRST + SECOND))

openssl genrsa -out "$TEST_TMP/sa.pem" 2048 2>/dev/null || fail "openssl genrsa failed"
openssl rsa -in "$TEST_TMP/sa.pem" -pubout -out "$TEST_TMP/sa.pub" 2>/dev/null || fail "openssl rsa -pubout failed"
openssl genrsa -out "$TEST_TMP/other.pem" 2048 2>/dev/null || fail "openssl genrsa failed"

# service_account_json KEY_PEM TOKEN_URI > FILE
service_account_json() {
  python3 - "$1" "$2" <<'PY'
import json, sys
print(json.dumps({"type": "service_account", "project_id": "demo", "private_key_id": "k1",
                  "private_key": open(sys.argv[1]).read(),
                  "client_email": "beast@demo.iam.gserviceaccount.com",
                  "client_id": "1", "token_uri": sys.argv[2]}))
PY
}

mock_start --topic "$TOPIC:$PARTITIONS"
EMU_PORT=$(free_port)
emu_start "$TEST_TMP/emulator-data" "$EMU_PORT" --public-key "$TEST_TMP/sa.pub" --token-ttl 3600
service_account_json "$TEST_TMP/sa.pem" "$EMU_URL/token" >"$TEST_TMP/sa.json"
code=$(curl -s -o /dev/null -w '%{http_code}' "$EMU_URL$BQ_TABLES_PATH")
[ "$code" = 401 ] || fail "the emulator answers $code without a token; expected 401"
write_bigquery_config "$TEST_TMP/beast.conf" "$TOPIC" \
  "table = \"$TOPIC\"; auto_create = false; credentials = \"$TEST_TMP/sa.json\";"

# check --connect: service account, then the failure modes.
expect_check() { # expect_check NAME CONFIG ok|fail [TEXT]
  local rc=0
  "$O/bin/beast" check --connect -c "$2" >"$TEST_TMP/$1.out" 2>&1 || rc=$?
  if [ "$3" = ok ]; then
    [ "$rc" -eq 0 ] || fail "$1: beast check --connect failed: $(cat "$TEST_TMP/$1.out")"
  else
    [ "$rc" -ne 0 ] || fail "$1: beast check --connect passed"
    grep -qF -- "$4" "$TEST_TMP/$1.out" || fail "$1: output does not say \"$4\": $(cat "$TEST_TMP/$1.out")"
  fi
}
# The table does not exist yet and auto_create is false: the probe says so
# (after the token worked).
expect_check service-account-no-table "$TEST_TMP/beast.conf" fail "does not exist and auto_create is false"
EMU_AUTH=1
bq_create_table "$TOPIC" "$BQ_JSON_FIELDS"
expect_check service-account "$TEST_TMP/beast.conf" ok

service_account_json "$TEST_TMP/other.pem" "$EMU_URL/token" >"$TEST_TMP/other.json"
sed "s|$TEST_TMP/sa.json|$TEST_TMP/other.json|" "$TEST_TMP/beast.conf" >"$TEST_TMP/other.conf"
expect_check unknown-key "$TEST_TMP/other.conf" fail "Invalid JWT Signature"

printf '{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"1//good"}' >"$TEST_TMP/user.json"
sed "s|credentials = \"$TEST_TMP/sa.json\";|credentials = \"$TEST_TMP/user.json\"; token_uri = \"$EMU_URL/token\";|" \
  "$TEST_TMP/beast.conf" >"$TEST_TMP/user.conf"
expect_check authorized-user "$TEST_TMP/user.conf" ok
printf '{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"revoked-1"}' >"$TEST_TMP/user.json"
expect_check revoked-user "$TEST_TMP/user.conf" fail "Token has been expired or revoked"

# $GOOGLE_APPLICATION_CREDENTIALS when `credentials` is not set.
sed "s|credentials = \"$TEST_TMP/sa.json\";||" "$TEST_TMP/beast.conf" >"$TEST_TMP/adc.conf"
GOOGLE_APPLICATION_CREDENTIALS="$TEST_TMP/sa.json" expect_check adc-env "$TEST_TMP/adc.conf" ok

# The metadata server (neither set): a fake one that gets its tokens from the emulator.
python3 "$BEAST_ROOT/plugins/sink_bigquery/tests/fake_metadata_server.py" "$EMU_URL" >"$TEST_TMP/metadata.out" 2>&1 &
METADATA_PID=$!
cleanup_add "kill -9 $METADATA_PID"
wait_until 10 "[ -s '$TEST_TMP/metadata.out' ]" || fail "fake metadata server did not start"
METADATA_URL=$(awk '{print $3; exit}' "$TEST_TMP/metadata.out")
sed "s|credentials = \"$TEST_TMP/sa.json\";|metadata_server = \"$METADATA_URL\";|" "$TEST_TMP/beast.conf" >"$TEST_TMP/metadata.conf"
(unset GOOGLE_APPLICATION_CREDENTIALS; expect_check metadata-server "$TEST_TMP/metadata.conf" ok) || exit 1
sed "s|credentials = \"$TEST_TMP/sa.json\";|metadata_server = \"http://no-such-host.invalid\";|" "$TEST_TMP/beast.conf" >"$TEST_TMP/nometa.conf"
(unset GOOGLE_APPLICATION_CREDENTIALS; expect_check no-credentials "$TEST_TMP/nometa.conf" fail "no credentials") || exit 1

# Malformed credentials: load-time errors (exit 2) naming the file.
expect_load_error() { # expect_load_error NAME FILE_CONTENT TEXT
  printf '%s' "$2" >"$TEST_TMP/$1.json"
  sed "s|$TEST_TMP/sa.json|$TEST_TMP/$1.json|" "$TEST_TMP/beast.conf" >"$TEST_TMP/$1.conf"
  local rc=0
  "$O/bin/beast" check -c "$TEST_TMP/$1.conf" >"$TEST_TMP/$1.out" 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || fail "$1: beast check exited $rc, expected 2: $(cat "$TEST_TMP/$1.out")"
  grep -qF "credentials $TEST_TMP/$1.json: $3" "$TEST_TMP/$1.out" ||
    fail "$1: no \"credentials $TEST_TMP/$1.json: $3\" in: $(cat "$TEST_TMP/$1.out")"
  [ "$(wc -l <"$TEST_TMP/$1.out")" -le 2 ] || fail "$1: more than one error line: $(cat "$TEST_TMP/$1.out")"
}
expect_load_error not-json '{"type": "service_account",' "not valid JSON"
expect_load_error bad-key '{"type":"service_account","client_email":"a@b","private_key":"-----BEGIN PRIVATE KEY-----\nxx\n-----END PRIVATE KEY-----\n"}' \
  "private_key is not a PEM RSA private key"
expect_load_error no-email '{"type":"service_account","private_key":"x"}' "service_account without \"client_email\""
expect_load_error other-type '{"type":"external_account"}' "type \"external_account\" is not supported"
rc=0
sed "s|$TEST_TMP/sa.json|$TEST_TMP/missing.json|" "$TEST_TMP/beast.conf" >"$TEST_TMP/missing.conf"
"$O/bin/beast" check -c "$TEST_TMP/missing.conf" >"$TEST_TMP/missing.out" 2>&1 || rc=$?
[ "$rc" -eq 2 ] && grep -qF "credentials $TEST_TMP/missing.json: cannot open: No such file or directory" "$TEST_TMP/missing.out" ||
  fail "a missing credentials file: exit $rc, $(cat "$TEST_TMP/missing.out")"
grep -q "PRIVATE KEY\|1//good\|revoked-1" "$TEST_TMP"/*.out && fail "a secret appeared in beast's output"
note "check --connect: service account, authorized_user, \$GOOGLE_APPLICATION_CREDENTIALS, metadata server; refusals and malformed files reported"

# Phase 1: 1-hour tokens.
"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic "$TOPIC" --format json --count "$FIRST" >/dev/null ||
  fail "beast-load failed"
bq_beast_start "$TEST_TMP/beast.conf" "$TEST_TMP/beast.log"
bq_wait 30 '[ "$(bq_total_rows "$TOPIC")" -ge "$FIRST" ]' '$(bq_total_rows "$TOPIC") of $FIRST rows'

# Phase 2: restart with 3-second tokens; the cached token is unknown now.
emu_stop
emu_start "$TEST_TMP/emulator-data" "$EMU_PORT" --public-key "$TEST_TMP/sa.pub" --token-ttl 3
"$O/bin/beast-load" --brokers "$MOCK_BOOTSTRAP" --topic "$TOPIC" --format json --count "$SECOND" --rate 1200 >/dev/null ||
  fail "beast-load failed"
bq_wait 40 '[ "$(bq_total_rows "$TOPIC")" -ge "$COUNT" ]' '$(bq_total_rows "$TOPIC") of $COUNT rows'
bq_wait 15 '[ "$(committed_total "$TOPIC" beast-events)" -ge "$COUNT" ]' \
  'committed $(committed_total "$TOPIC" beast-events) of $COUNT'
beast_stop
check_table_exactly_once "$TOPIC" "$TOPIC" "$PARTITIONS" $((COUNT / PARTITIONS)) any-seq
check_committed_at_high "$TOPIC" beast-events

grep -q "refused (HTTP 401): fetching a new one" "$TEST_TMP/beast.log" ||
  fail "the token the restarted emulator forgot was never refused and replaced"
tokens=$(grep -c "access token [0-9]* from $EMU_URL/token, expires in 3 s" "$TEST_TMP/beast.log")
[ "$tokens" -ge 3 ] || fail "only $tokens 3-second tokens were fetched in ~10 s: no early refresh"
if grep "not accepted" "$TEST_TMP/beast.log" | grep -q "HTTP 401"; then
  grep "not accepted" "$TEST_TMP/beast.log" | grep "HTTP 401" | head -3
  fail "a 401 reached the pipeline"
fi
issued=$(emu_stat tokens_issued)
token_errors=$(emu_stat token_errors)
auth_failures=$(emu_stat auth_failures)
[ "$token_errors" -eq 0 ] || fail "the emulator refused $token_errors token requests (bad JWT?)"
[ "$(dlq_lines)" -eq 0 ] || fail "$(dlq_lines) rows were dead-lettered"
grep -q "PRIVATE KEY\|ya29\.\|assertion=" "$TEST_TMP/beast.log" && fail "a secret appeared in the log"
emu_stop
bq_no_sanitizer_reports
note "restart: forgotten token refused once and replaced; $tokens 3-second tokens ($issued issued by the restarted emulator, $auth_failures 401s absorbed in the sink); $COUNT rows exactly once"
