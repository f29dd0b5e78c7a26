#!/usr/bin/env bash
# The one command that takes a fresh Debian 12 machine (as root) to a passing test run:
# installs what is missing, then builds and runs every test suite in each configuration,
# each in its own build directory (reused on the next run):
#
#   release    g++, release, -Werror                     build/release
#   install    g++, release, static, installed           build/install
#              (test/consumers/run.sh), then used through pkg-config, CMake and a
#              meson subproject, from outside the tree
#   clang      clang++, debug, -Werror, without TLS      build/clang
#   sanitize   g++, debug, AddressSanitizer + UBSan      build/sanitize
#   tsan       g++, debug, ThreadSanitizer               build/tsan
#   fuzz       test/fuzz/run_fuzz.sh 60, once that script exists
#
# It keeps going after a failure so that one run shows every broken configuration, then
# prints a summary and exits non-zero if anything failed.
#
# Environment:
#   MEMCORO_QUICK=1  skip the clang, install, tsan and fuzz configurations, for fast local
#                    iterations
#                    (release and sanitize still run). CI always runs everything.
#   MEMCORO_JOBS=N   parallel compile jobs (default 2: CI machines have 2 cores).
#
# It starts no service: integration tests start and stop their own memcached processes
# (test/support/memcached_server.hpp); this script only makes sure the binary is there.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=test/deps.sh
source test/deps.sh

memcoro_install_deps
if ! command -v memcached >/dev/null; then
    echo "error: memcached is not on PATH after installing it" >&2
    exit 1
fi

jobs=${MEMCORO_JOBS:-2}
quick=${MEMCORO_QUICK:-0}
if [[ ${CI:-} == true ]]; then
    quick=0  # a quick run never stands in for CI
fi

# Any sanitizer report fails the test that triggered it: UBSan in particular only prints
# and carries on unless told to halt.
asan_options=(halt_on_error=1 detect_leaks=1 strict_string_checks=1
    check_initialization_order=1 detect_stack_use_after_return=1)
ASAN_OPTIONS=$(IFS=:; echo "${asan_options[*]}")
export ASAN_OPTIONS
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# Operations may be started from any thread, and the tests that do so run under
# ThreadSanitizer too: any data race it reports fails the test, except the one false
# report that test/tsan.supp explains.
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/test/tsan.supp"

mkdir -p build
total_passed=0
total_failed=0
summary=()

# record NAME STATUS DETAIL STARTED_AT
record() {
    summary+=("$(printf '%-10s %-5s %-36s %4d s' "$1" "$2" "$3" $((SECONDS - $4)))")
}

# run_config NAME DIR COMPILER [meson options...]
# Every step checks its own status: set -e does not apply inside a function called from
# an `||` list.
run_config() {
    local name=$1 dir=$2 compiler=$3
    shift 3
    local started=$SECONDS log="build/$name.test.log"

    echo "==> [$name] building $dir"
    if ! memcoro_setup_dir "$dir" "$compiler" "$@"; then
        record "$name" FAIL "meson setup failed" "$started"
        total_failed=$((total_failed + 1))
        return 1
    fi
    if ! ninja -C "$dir" -j "$jobs"; then
        record "$name" FAIL "build failed" "$started"
        total_failed=$((total_failed + 1))
        return 1
    fi

    echo "==> [$name] testing"
    local rc=0 multiplier=1
    # Sanitized debug builds run several times slower.
    if [[ $name == sanitize || $name == tsan ]]; then
        multiplier=3
    fi
    meson test -C "$dir" --no-rebuild --print-errorlogs --timeout-multiplier "$multiplier" \
        2>&1 | tee "$log" || rc=$?

    # meson test ends with a table: "Ok: N", "Fail: N", "Timeout: N", ...
    local ok bad
    ok=$(awk '$1 == "Ok:" { n += $2 } END { print n + 0 }' "$log")
    bad=$(awk '$1 == "Fail:" || $1 == "Timeout:" || ($1 == "Unexpected" && $2 == "Pass:") \
               { n += $NF } END { print n + 0 }' "$log")
    if ((rc != 0 && bad == 0)); then
        bad=1  # meson itself failed before or after the tests
    fi
    total_passed=$((total_passed + ok))
    total_failed=$((total_failed + bad))
    if ((rc != 0 || bad != 0)); then
        record "$name" FAIL "$ok passed, $bad failed (log: $log)" "$started"
        return 1
    fi
    if ((ok == 0)); then
        # A configuration that ran no test proves nothing.
        record "$name" FAIL "no test ran" "$started"
        total_failed=$((total_failed + 1))
        return 1
    fi
    record "$name" PASS "$ok passed" "$started"
}

# run_check NAME PASS_DETAIL COMMAND...: one summary line for a check that is a single
# command (quiet unless it fails), counted as one test.
run_check() {
    local name=$1 detail=$2 started=$SECONDS
    shift 2
    echo "==> [$name] $*"
    if "$@"; then
        record "$name" PASS "$detail" "$started"
        total_passed=$((total_passed + 1))
    else
        record "$name" FAIL "failed: $*" "$started"
        total_failed=$((total_failed + 1))
        return 1
    fi
}

# Installs memcoro into a temporary prefix and builds and runs a program through each of
# pkg-config, CMake and a meson subproject.
run_install() {
    MEMCORO_JOBS=$jobs run_check install "pkg-config, CMake, subproject" \
        bash test/consumers/run.sh
}

run_fuzz() {
    if [[ ! -f test/fuzz/run_fuzz.sh ]]; then
        record fuzz SKIP "test/fuzz/run_fuzz.sh not written yet" "$SECONDS"
        return 0
    fi
    run_check fuzz "run_fuzz.sh 60" bash test/fuzz/run_fuzz.sh 60
}

# The counts per operation that do not move with machine noise (allocations, system
# calls), measured on the release build's benchmark binary against bounds: a change that
# makes the hot path allocate or call the kernel more fails here, without any timing.
# The bounds are where the client stands now plus a margin; tighten them as it improves
# (bench/README.md, issue "Performance"). The hot paths allocate nothing in steady state:
# 0.01 per operation leaves room for a stray allocation now and then (a buffer growing
# once), never for one per operation. At 1,024 coroutines the bound is tighter: when a
# batch of completions kept its operations until its end, the pool grew now and then
# after the warm-up (0.002 per get in half the runs); now it is 0.
count_bounds='allocs_s1<=0.01,allocs_s2<=0.01,allocs_s2_1024<=0.001,allocs_s4<=0.01'
count_bounds+=',syscalls_s1<=5,syscalls_s2<=0.25,syscalls_s4<=0.05'
# Over TLS (S13): memcoro allocates nothing either. OpenSSL 3.0 allocates 3 small blocks for
# each record it writes and 1 for each it reads (crypto/packet.c), which nothing outside
# it can avoid: 4 per sequential get, about 0.2 per get at 128 in flight. The bounds catch
# a session that frees its record buffers after each record again (7 per sequential get).
count_bounds+=',allocs_s2_tls<=0.01,sslallocs_s1_tls<=4.5,sslallocs_s2_tls<=0.5'
count_bounds+=',syscalls_s2_tls<=0.3'
run_counts() {
    run_check counts "allocs and syscalls per op in bounds" \
        /usr/bin/python3 bench/suite/det_counts.py --bin "$memcoro_release_dir/bench/suite" \
        --metrics allocs,sslallocs,syscalls --check "$count_bounds"
}

run_config release "$memcoro_release_dir" g++ "${memcoro_release_options[@]}" && run_counts || true
if [[ $quick == 1 ]]; then
    record install SKIP "MEMCORO_QUICK=1" "$SECONDS"
else
    run_install || true
fi
if [[ $quick == 1 ]]; then
    record clang SKIP "MEMCORO_QUICK=1" "$SECONDS"
else
    # clang builds without TLS, so that every run also proves the library, its tests and
    # its benchmarks build and pass without OpenSSL (the TLS tests then check that asking
    # for TLS is refused); the other configurations build it. Unoptimised: clang's
    # warnings do not depend on the optimiser, and its -O3 build took 13 of a fresh run's
    # 44 minutes on this 2-core machine (build and tests: about 4 minutes unoptimised).
    run_config clang build/clang clang++ -Dbuildtype=debug -Dwerror=true -Dtls=disabled || true
fi
run_config sanitize build/sanitize g++ -Dbuildtype=debug \
    -Db_sanitize=address,undefined -Db_lundef=false || true
if [[ $quick == 1 ]]; then
    record tsan SKIP "MEMCORO_QUICK=1" "$SECONDS"
else
    # The benchmarks are not built: TSan's slowdown would make them meaningless. g++ warns
    # (-Wtsan) at every atomic_thread_fence it inlines, and Asio's reference counts and
    # fenced blocks use them, in every file that includes Asio. TSan not modelling a fence
    # can only make it report a race that the fence prevents (which fails the run
    # loudly), never hide one; the 60 warnings would bury any other.
    run_config tsan build/tsan g++ -Dbuildtype=debug -Db_sanitize=thread -Db_lundef=false \
        -Dbench=false -Dcpp_args=-Wno-tsan || true
fi
if [[ $quick == 1 ]]; then
    record fuzz SKIP "MEMCORO_QUICK=1" "$SECONDS"
else
    run_fuzz || true
fi

echo
echo "==================== memcoro test summary ===================="
printf '%s\n' "${summary[@]}"
echo "total time: $((SECONDS / 60)) min $((SECONDS % 60)) s"
# The closing line counts test programs (per configuration) and the fuzz run.
echo "summary: $total_passed passed, $total_failed failed"
((total_failed == 0))
