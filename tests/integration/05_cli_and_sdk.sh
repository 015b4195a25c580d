#!/usr/bin/env bash
# The CLI without Kafka: --version/--help, `beast plugins` lists the four
# core plugins with options and defaults, `beast check` accepts beast.conf
# and refuses a misspelt key with file:line:key (exit 2), and a plugin
# compiled now from sdk/ alone loads into the already-built host while an
# ABI-incompatible one is refused by name.
set -u
source "$(dirname "$0")/../lib.sh"
BEAST="$O/bin/beast"

"$BEAST" --version | grep -q '^beast [0-9]' || fail "--version"
"$BEAST" --help | grep -q 'check -c FILE' || fail "--help"
"$BEAST" frobnicate >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown command must exit 2"

out=$("$BEAST" plugins --plugin-dir "$O/plugins") || fail "beast plugins exited non-zero"
for want in "decoder json" "sink file" "offsets kafka" "offsets file"; do
  grep -q "^$want " <<<"$out" || fail "beast plugins does not list '$want'"
done
grep -Eq '^ +path +string +\(required\)' <<<"$out" || fail "sink file's required path option not shown"
grep -Eq '^ +fsync +bool += true' <<<"$out" || fail "option default not shown"
grep -Eq '^ +batch_rows +int += 500' <<<"$out" || fail "host sink keys not shown"

BEAST_PLUGIN_DIR="$O/plugins" BEAST_SCHEMAS="$O/schemas" KAFKA_BROKERS=127.0.0.1:9 "$BEAST" check -c beast.conf >"$TEST_TMP/check.out" 2>&1 ||
  fail "beast check -c beast.conf failed: $(cat "$TEST_TMP/check.out")"

sed 's/batch_rows/batch_rowz/' beast.conf >"$TEST_TMP/typo.conf"
line=$(grep -n batch_rowz "$TEST_TMP/typo.conf" | head -1 | cut -d: -f1)
BEAST_PLUGIN_DIR="$O/plugins" BEAST_SCHEMAS="$O/schemas" "$BEAST" check -c "$TEST_TMP/typo.conf" >"$TEST_TMP/typo.out" 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "misspelt key: exit $rc, expected 2"
grep -q "typo.conf:$line: pipelines\..*\.sink\.batch_rowz: unknown key" "$TEST_TMP/typo.out" ||
  fail "misspelt key message lacks file:line:key: $(cat "$TEST_TMP/typo.out")"
[ "$(wc -l <"$TEST_TMP/typo.out")" -eq 1 ] || fail "config error must be one line"

# A plugin built now, from sdk/ alone, loads into the host built earlier.
mkdir -p "$TEST_TMP/plugins"
cc -std=gnu11 -Wall -Wextra -Werror -O2 -fPIC -fvisibility=hidden -shared -Isdk \
  -o "$TEST_TMP/plugins/sink_echo.so" tests/plugins/test_plugin.c || fail "cannot build a plugin from sdk/"
cc -std=gnu11 -O2 -fPIC -fvisibility=hidden -shared -Isdk -DTEST_ABI_MAJOR=7 \
  -o "$TEST_TMP/plugins/sink_future.so" tests/plugins/test_plugin.c || fail "cannot build variant"
nm -D --defined-only "$TEST_TMP/plugins/sink_echo.so" | grep -q ' T beast_plugin_entry$' ||
  fail "entry symbol not exported"
[ "$(nm -D --defined-only "$TEST_TMP/plugins/sink_echo.so" | grep -c ' T ')" -eq 1 ] ||
  fail "a plugin must export only its entry point"
out=$("$BEAST" plugins --plugin-dir "$TEST_TMP/plugins" 2>"$TEST_TMP/refused.txt")
grep -q '^sink echo  version 0.0.1' <<<"$out" || fail "separately built plugin not listed: $out"
grep -q 'sink_future.so: not binary compatible: host has abi_major = 1, library has abi_major = 7' \
  "$TEST_TMP/refused.txt" || fail "incompatible plugin not refused by name: $(cat "$TEST_TMP/refused.txt")"
note "CLI, plugins listing, config errors and separately built plugins behave"
