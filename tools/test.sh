#!/usr/bin/env bash
# Installs what is needed, runs the whole test suite, then every fuzz target for a bounded
# time (tools/fuzz.sh; FUZZ_SECONDS each, default 20); ends with "N passed, N failed" (test
# cases, counted from the JUnit XML of every test target, plus one case per fuzz target).
set -uo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh || exit 1
bazel test //... "$@"
rc=$?

fuzz_log="$(mktemp)"
trap 'rm -f "$fuzz_log"' EXIT
tools/fuzz.sh | tee "$fuzz_log"
[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1

python3 - "$(bazel info bazel-testlogs 2>/dev/null)" "$fuzz_log" <<'PY'
import os, subprocess, sys
import xml.etree.ElementTree as ET
logs, fuzz_log = sys.argv[1], sys.argv[2]
# The targets `bazel test //...` runs: every test but those tagged manual.
query = "tests(//...) except attr(tags, manual, tests(//...))"
targets = subprocess.run(["bazel", "query", query], capture_output=True, text=True).stdout.split()
passed = failed = skipped = 0
for t in targets:
    path = os.path.join(logs, t.lstrip("/").replace(":", "/"), "test.xml")
    if not os.path.exists(path):
        failed += 1  # built but never ran, or did not build
        continue
    for case in ET.parse(path).iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.get("status") == "notrun" or case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
# Each fuzz target is one case: "fuzz: PASS <label> ..." or "fuzz: FAIL ...".
for fuzz_line in open(fuzz_log):
    if fuzz_line.startswith("fuzz: PASS "):
        passed += 1
    elif fuzz_line.startswith("fuzz: FAIL"):
        failed += 1
line = f"{passed} passed, {failed} failed"
print(line + (f", {skipped} skipped" if skipped else ""))
PY
exit $rc
