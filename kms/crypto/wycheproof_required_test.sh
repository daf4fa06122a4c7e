#!/usr/bin/env bash
# The Wycheproof test must fail when its vectors are missing (so CI cannot pass without
# them) and skip only when STRONGROOM_WYCHEPROOF_OPTIONAL=1 says so.
set -uo pipefail
bin="$TEST_SRCDIR/strongroom/kms/crypto/wycheproof_test"
empty="$TEST_TMPDIR/empty"
mkdir -p "$empty"
run() {
  # The child is a test of its own: keep it off this test's XML and exit files.
  env -u XML_OUTPUT_FILE -u GTEST_OUTPUT -u TEST_PREMATURE_EXIT_FILE -u TEST_SHARD_STATUS_FILE \
    -u STRONGROOM_WYCHEPROOF_OPTIONAL "$@" "$bin" >"$TEST_TMPDIR/out" 2>&1
}
fail=0
expect() {  # expect <want: pass|fail> <grep pattern> <description> -- env assignments
  local want="$1" pattern="$2" what="$3"
  shift 4
  run "$@"
  local rc=$?
  if [[ "$want" == pass && $rc -ne 0 ]] || [[ "$want" == fail && $rc -eq 0 ]] ||
     ! grep -q -- "$pattern" "$TEST_TMPDIR/out"; then
    echo "FAIL: $what: exit $rc, wanted $want and output matching '$pattern':"
    tail -n 20 "$TEST_TMPDIR/out"
    fail=1
  else
    echo "ok: $what"
  fi
}
expect fail "not found" "a missing directory fails" -- \
  STRONGROOM_WYCHEPROOF_DIR="$TEST_TMPDIR/does-not-exist"
expect fail "aes_gcm_test.json" "a directory without the expected files fails" -- \
  STRONGROOM_WYCHEPROOF_DIR="$empty"
expect pass "SKIPPED" "STRONGROOM_WYCHEPROOF_OPTIONAL=1 skips a missing directory" -- \
  STRONGROOM_WYCHEPROOF_DIR="$TEST_TMPDIR/does-not-exist" STRONGROOM_WYCHEPROOF_OPTIONAL=1
exit $fail
