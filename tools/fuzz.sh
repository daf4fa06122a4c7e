#!/usr/bin/env bash
# Builds every libFuzzer target (cc_fuzzer in tools/fuzz.bzl; clang-14, ASan/UBSan, see
# `--config=fuzz` in .bazelrc) and runs each over a copy of its seed corpus
# (<package>/testdata/fuzz/<target>/, plus <target>.dict beside it if there is one) for
# FUZZ_SECONDS (default 20) seconds. Prints one line per target, "fuzz: PASS|FAIL <label>
# <execs/s> execs/s ...", then "fuzz: N passed, N failed"; exits 1 if any target crashed,
# leaked, timed out on an input (10 s) or did not build. A failing input is kept in
# FUZZ_ARTIFACTS (default /tmp/strongroom-fuzz-artifacts) with the log's tail printed.
#
# Usage: tools/fuzz.sh [label...]   (default: every fuzz target)
# The clang build has an output base of its own, so it never displaces the gcc build's.
set -uo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-20}"
artifacts="${FUZZ_ARTIFACTS:-/tmp/strongroom-fuzz-artifacts}"
output_base="${FUZZ_OUTPUT_BASE:-${XDG_CACHE_HOME:-$HOME/.cache}/bazel/_bazel_$(id -un)/fuzz-$(pwd -P | md5sum | cut -c1-32)}"
bazel_fuzz() { bazel --output_base="$output_base" "$@"; }

if [ $# -gt 0 ]; then
  targets=("$@")
else
  # Every top-level folder but Bazel's convenience symlinks (the gcc server's, which this
  # server would otherwise walk into).
  scope=""
  for dir in */; do
    case "$dir" in bazel-*) ;; *) scope="${scope:+$scope + }//${dir%/}/...";; esac
  done
  mapfile -t targets < <(bazel_fuzz query --color=no --curses=no \
    "attr(tags, '\bfuzzer\b', $scope)" 2>/dev/null)
fi
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: FAIL (no fuzz targets found)"
  echo "fuzz: 0 passed, 1 failed"
  exit 1
fi

bazel_fuzz build --config=fuzz --symlink_prefix=/ "${targets[@]}" >&2
build_rc=$?
bin="$(bazel_fuzz info --config=fuzz bazel-bin 2>/dev/null)"

work="$(mktemp -d /tmp/strongroom-fuzz.XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"
passed=0
failed=0
for label in "${targets[@]}"; do
  pkg="${label#//}"
  pkg="${pkg%%:*}"
  name="${label##*:}"
  binary="$bin/$pkg/$name"
  if [ $build_rc -ne 0 ] || [ ! -x "$binary" ]; then
    echo "fuzz: FAIL $label (the fuzz build failed)"
    failed=$((failed + 1))
    continue
  fi
  seeds="$pkg/testdata/fuzz/$name"
  corpus="$work/$name/corpus"
  mkdir -p "$corpus" "$work/$name/tmp"
  [ -d "$seeds" ] && cp -R "$seeds/." "$corpus/"
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -detect_leaks=1
        -print_final_stats=1 -artifact_prefix="$artifacts/$name-")
  [ -f "$seeds.dict" ] && args+=(-dict="$seeds.dict")
  log="$work/$name/log"
  # Fast unwinding on malloc: the full unwinding openssl_lsan.cc asks for costs ~10x here.
  TEST_TMPDIR="$work/$name/tmp" \
    ASAN_OPTIONS="fast_unwind_on_malloc=1:detect_leaks=1" \
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
    "$binary" "${args[@]}" "$corpus" >"$log" 2>&1
  rc=$?
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
  units="$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -1)"
  cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)"
  summary="${rate:-0} execs/s, ${runs:-0} runs, cov ${cov:-0}, ${units:-0} new units"
  if [ $rc -eq 0 ]; then
    echo "fuzz: PASS $label $summary"
    passed=$((passed + 1))
  else
    why="$(grep -m1 -oE 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer): [a-zA-Z-]+|runtime error: .*|deadly signal|timeout|out-of-memory' "$log")"
    echo "fuzz: FAIL $label exit $rc (${why:-see log}) $summary"
    echo "---- $label: last lines of its log (failing input under $artifacts) ----"
    tail -40 "$log"
    echo "----"
    failed=$((failed + 1))
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]
