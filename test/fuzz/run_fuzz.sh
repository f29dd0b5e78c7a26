#!/usr/bin/env bash
# Builds the parser fuzz target with clang and fuzzes it for a bounded time.
#
#   test/fuzz/run_fuzz.sh [seconds]      (default 60)
#
# The build goes to build-fuzz/ (FUZZ_BUILD_DIR to change it). The committed corpus is
# copied to a scratch directory first, so a run never grows it; inputs that crash are
# kept in <build dir>/fuzz-artifacts/. Exits non-zero on any crash, leak, timeout or
# sanitizer report.
set -euo pipefail

seconds=${1:-60}
if ! [[ $seconds =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
    echo "usage: $0 [seconds]" >&2
    exit 2
fi

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}

if [ ! -f "$build/build.ninja" ]; then
    CC=clang CXX=clang++ meson setup "$build" "$root" \
        -Dfuzz=true -Dbench=false -Dbuildtype=debugoptimized
fi
ninja -C "$build" test/fuzz/parser_fuzz

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
trap 'exit 130' INT TERM  # so that the EXIT trap cleans up
mkdir "$scratch/corpus"
cp "$root"/test/fuzz/corpus/* "$scratch/corpus/"
artifacts=$build/fuzz-artifacts
mkdir -p "$artifacts"
log=$scratch/fuzz.log

status=0
"$build/test/fuzz/parser_fuzz" \
    -max_total_time="$seconds" \
    -timeout=10 \
    -rss_limit_mb=2048 \
    -print_final_stats=1 \
    -dict="$root/test/fuzz/parser.dict" \
    -artifact_prefix="$artifacts/" \
    "$scratch/corpus" >"$log" 2>&1 || status=$?

# libFuzzer exits non-zero on a crash, leak or timeout; a sanitizer report that did
# not stop the run would still show in the log.
if grep -qE '^==[0-9]+==ERROR|runtime error:|^SUMMARY: ' "$log"; then
    [ "$status" -ne 0 ] || status=1
fi

grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' \
    "$log" || true
if [ "$status" -ne 0 ]; then
    tail -n 60 "$log" >&2
    echo "parser_fuzz FAILED (exit $status); inputs in $artifacts" >&2
    exit "$status"
fi
execs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
echo "parser_fuzz: no findings in ${seconds}s, ${execs:-?} exec/s"
