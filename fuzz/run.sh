#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, -Dfuzz=true), replays each committed
# seed corpus, then fuzzes each target for a bounded time, one at a time.
#
#   fuzz/run.sh [seconds-per-target]          default 60
#   FUZZ_TARGETS="token_response" fuzz/run.sh 600
#   BUILD_DIR=build-fuzz  (default)           the clang build directory
#
# Prints "fuzz_<target>: <execs> execs, <result>" per target and a final
# "N passed, M failed"; exits non-zero on any crash, leak, timeout or
# sanitizer report. Inputs that failed are kept in $BUILD_DIR/fuzz-artifacts/.
# The committed corpus is only read: new inputs go to $BUILD_DIR/fuzz-corpus/.
set -uo pipefail

seconds=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-fuzz}
case $build in /*) ;; *) build=$root/$build ;; esac

if [ -z "${FUZZ_TARGETS:-}" ]; then
  FUZZ_TARGETS=$(cd "$root/fuzz" && ls fuzz_*.cpp | sed -e 's/^fuzz_//' -e 's/\.cpp$//')
fi

if [ ! -f "$build/build.ninja" ]; then
  # The setup log goes into the build directory once it exists (the work tree stays clean).
  setup_log=$(mktemp)
  CXX=${CXX:-clang++} meson setup "$build" "$root" -Dwarning_level=3 -Dwerror=true -Dfuzz=true -Dtests=false -Dcli=disabled \
    -Dbench=false -Db_lundef=false >"$setup_log" 2>&1 ||
    { cat "$setup_log"; rm -f "$setup_log"; echo "0 passed, 1 failed"; exit 1; }
  mv "$setup_log" "$build/fuzz-setup.log"
fi
build_targets=()
for t in $FUZZ_TARGETS; do build_targets+=("fuzz/fuzz_$t"); done
if ! ninja -C "$build" -j"${NINJA_JOBS:-2}" "${build_targets[@]}"; then
  echo "0 passed, 1 failed"
  exit 1
fi

passed=0
failed=0
mkdir -p "$build/fuzz-artifacts"
for t in $FUZZ_TARGETS; do
  exe=$build/fuzz/fuzz_$t
  seeds=$root/fuzz/corpus/$t
  work=$build/fuzz-corpus/$t
  log=$build/fuzz-artifacts/fuzz_$t.log
  mkdir -p "$seeds" "$work"
  common=(-rss_limit_mb=2048 -timeout=10 -print_final_stats=1
    "-artifact_prefix=$build/fuzz-artifacts/fuzz_$t-")
  result=ok
  # 1. Replay: every committed seed (regressions included) runs once.
  if ! "$exe" "${common[@]}" -runs=0 "$seeds" >"$log" 2>&1; then
    result="FAILED replaying fuzz/corpus/$t (see $log)"
  fi
  replayed=$(grep -E '^stat::number_of_executed_units' "$log" | tail -n 1 | awk '{print $2}')
  execs=0
  # 2. Fuzz from the seeds plus what earlier runs found, with the dictionary.
  if [ "$result" = ok ] && [ "$seconds" -gt 0 ]; then
    if ! "$exe" "${common[@]}" -dict="$root/fuzz/babelbird.dict" -max_total_time="$seconds" \
      "$work" "$seeds" >>"$log" 2>&1; then
      artifact=$(grep -oE "$build/fuzz-artifacts/fuzz_$t-[a-z-]+[0-9a-f]*" "$log" | tail -n 1)
      result="FAILED (${artifact:-see $log})"
    fi
    execs=$(grep -E '^stat::number_of_executed_units' "$log" | tail -n 1 | awk '{print $2}')
  fi
  if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|invariant broken' "$log"; then
    [ "$result" = ok ] && result="FAILED (sanitizer report in $log)"
  fi
  echo "fuzz_$t: ${execs:-0} execs, $result (${replayed:-0} seeds replayed)"
  if [ "$result" = ok ]; then
    passed=$((passed + 1))
  else
    grep -E 'ERROR|runtime error|invariant broken|SUMMARY' "$log" | head -n 5
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
