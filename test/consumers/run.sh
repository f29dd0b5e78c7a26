#!/usr/bin/env bash
# Proves that memcoro can be used from other projects: builds memcoro (release, static),
# installs it into a temporary prefix, then builds three consumers outside the source tree
# and runs each against a private memcached:
#
#   pkgconfig   a Makefile using `pkg-config memcoro`
#   cmake       find_package(memcoro) and the target memcoro::memcoro
#   subproject  meson, with subprojects/memcoro linked to this source tree
#
# Each consumer builds test/consumers/main.cpp (a set and a get). memcoro's own build
# directory, build/install, is kept and reused like test/run.sh's; everything else lives in
# a temporary directory that is removed at the end. Prints one line on success; on failure,
# the output of the step that failed, and exits non-zero.
#
# Environment: MEMCORO_JOBS=N parallel compile jobs (default 2).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
src=$PWD
# shellcheck source=test/deps.sh
source test/deps.sh

jobs=${MEMCORO_JOBS:-2}
build_dir=build/install
started=$SECONDS

tmp=$(mktemp -d "${TMPDIR:-/tmp}/memcoro-consumers.XXXXXX")
memcached_pid=
cleanup() {
    if [[ -n $memcached_pid ]]; then
        kill "$memcached_pid" 2>/dev/null || true
        wait "$memcached_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# step NAME COMMAND...: runs COMMAND with its output in a log, shown only if it fails.
step() {
    local name=$1
    shift
    if ! "$@" >"$tmp/step.log" 2>&1; then
        echo "consumers: FAIL at: $name" >&2
        echo "---- $* ----" >&2
        cat "$tmp/step.log" >&2
        exit 1
    fi
}

# memcoro, installed. memcoro_setup_dir configures the directory once; only the prefix,
# which changes every run, is set on each run (without recompiling anything).
prefix=$tmp/prefix
step "configure memcoro" memcoro_setup_dir "$build_dir" g++ -Dbuildtype=release -Dwerror=true \
    -Ddefault_library=static -Dtests=false -Dbench=false
step "set the prefix" meson configure "$build_dir" -Dprefix="$prefix"
step "build memcoro" ninja -C "$build_dir" -j "$jobs"
step "install memcoro" meson install -C "$build_dir" --no-rebuild
pc_file=$(find "$prefix" -name memcoro.pc)
cmake_config=$(find "$prefix" -name memcoroConfig.cmake)
if [[ -z $pc_file || -z $cmake_config || ! -f $prefix/include/memcoro/memcoro.hpp ]]; then
    echo "consumers: FAIL: memcoro.pc, memcoroConfig.cmake or the headers were not installed" >&2
    find "$prefix" -type f >&2
    exit 1
fi

# Copies consumer NAME (its build files and main.cpp) out of the source tree.
copy_consumer() {
    mkdir -p "$tmp/$1"
    cp -r "test/consumers/$1/." "$tmp/$1/"
    cp test/consumers/main.cpp "$tmp/$1/"
}

copy_consumer pkgconfig
step "build the pkg-config consumer" env PKG_CONFIG_PATH="$(dirname "$pc_file")" \
    make -C "$tmp/pkgconfig" CXX=g++ CXXFLAGS="-O2 -Werror"

copy_consumer cmake
step "configure the CMake consumer" env CXX=g++ cmake -S "$tmp/cmake" -B "$tmp/cmake/build" \
    -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_CXX_FLAGS="-Wall -Wextra -Werror"
step "build the CMake consumer" cmake --build "$tmp/cmake/build" -j "$jobs"

# The subproject is this source tree, through a symbolic link: meson reads only its
# meson.build files and builds inside the consumer's build directory. Forced to the
# subproject, so that a memcoro installed on the machine cannot stand in for it. Built
# without optimisation: only whether it builds and runs matters here, and memcoro's sources
# compile faster so.
copy_consumer subproject
mkdir -p "$tmp/subproject/subprojects"
ln -s "$src" "$tmp/subproject/subprojects/memcoro"
step "configure the subproject consumer" env CXX=g++ meson setup "$tmp/subproject/build" \
    "$tmp/subproject" -Dbuildtype=plain -Dwerror=true --force-fallback-for=memcoro
step "build the subproject consumer" ninja -C "$tmp/subproject/build" -j "$jobs"

# A private memcached on a free loopback port: a port found free may be taken before
# memcached binds it, so a memcached that exits at once is retried on another.
memcached_args=(-U 0 -l 127.0.0.1 -m 16)
if ((EUID == 0)); then
    memcached_args+=(-u nobody)
fi
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=
for _ in 1 2 3 4 5; do
    candidate=$((20000 + RANDOM % 30000))
    if port_open "$candidate"; then
        continue
    fi
    memcached -p "$candidate" "${memcached_args[@]}" >"$tmp/memcached.log" 2>&1 &
    memcached_pid=$!
    for _ in $(seq 50); do
        if port_open "$candidate"; then
            port=$candidate
            break
        fi
        if ! kill -0 "$memcached_pid" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    if [[ -n $port ]]; then
        break
    fi
    kill "$memcached_pid" 2>/dev/null || true
    wait "$memcached_pid" 2>/dev/null || true
    memcached_pid=
done
if [[ -z $port ]]; then
    echo "consumers: FAIL: could not start memcached on a free loopback port" >&2
    cat "$tmp/memcached.log" >&2
    exit 1
fi

step "run the pkg-config consumer" "$tmp/pkgconfig/consumer" "127.0.0.1:$port" pkgconfig
step "run the CMake consumer" "$tmp/cmake/build/consumer" "127.0.0.1:$port" cmake
step "run the subproject consumer" "$tmp/subproject/build/consumer" "127.0.0.1:$port" subproject

echo "consumers: pkg-config, CMake and subproject consumers built and ran ($((SECONDS - started)) s)"
