#!/usr/bin/env bash
# Installs what is needed and runs the whole test suite; ends with "N passed, N failed"
# (test cases, counted from the JUnit XML of every test target).
set -uo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh || exit 1
bazel test //... "$@"
rc=$?

python3 - "$(bazel info bazel-testlogs 2>/dev/null)" <<'PY'
import os, subprocess, sys
import xml.etree.ElementTree as ET
logs = sys.argv[1]
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
line = f"{passed} passed, {failed} failed"
print(line + (f", {skipped} skipped" if skipped else ""))
PY
exit $rc
