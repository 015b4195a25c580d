#!/usr/bin/env bash
# docs/configuration.md is generated from the option tables; it must match
# what the built host and plugins declare (run scripts/gen-config-doc).
set -u
source "$(dirname "$0")/../lib.sh"
cd "$BEAST_ROOT"
cp docs/configuration.md "$TEST_TMP/before.md"
O="$O" scripts/gen-config-doc >/dev/null || fail "gen-config-doc failed"
cp docs/configuration.md "$TEST_TMP/after.md"
cp "$TEST_TMP/before.md" docs/configuration.md
diff -u "$TEST_TMP/before.md" "$TEST_TMP/after.md" >"$TEST_TMP/diff" ||
  fail "docs/configuration.md is stale; run scripts/gen-config-doc: $(head -20 "$TEST_TMP/diff")"
note "docs/configuration.md matches the option tables"
