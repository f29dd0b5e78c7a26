#!/usr/bin/env bash
# Builds the release configuration and runs the client's main job against memcached:
# the demonstration (build/release/bench/memcoro_demo SERVER), then the benchmark suite,
# which compares memcoro with libmemcached, pymemcache and a raw-socket ceiling
# (bench/suite/README.md) and writes its table, JSON and plot to build/bench-suite.
#
# Environment:
#   MEMCORO_SERVER=host:port  run the demonstration on that server instead of a private one
#                             (the suite always starts its own memcached -t 1)
#   MEMCORO_SUITE=full|quick|off  the suite's five rounds, one short round, or none
#   MEMCORO_JOBS=N            parallel compile jobs (default 2)
#
# The private memcached listens on a free 127.0.0.1 port only, and is stopped by its PID
# when this script exits, whatever the reason.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=test/deps.sh
source test/deps.sh

# The benchmark suite also plots (matplotlib) and counts instructions (valgrind) and
# system calls (strace, where perf has no tracepoints).
memcoro_install_deps python3-matplotlib valgrind strace
jobs=${MEMCORO_JOBS:-2}

memcoro_setup_dir "$memcoro_release_dir" g++ "${memcoro_release_options[@]}"
echo "==> building $memcoro_release_dir"
ninja -C "$memcoro_release_dir" -j "$jobs"

server_pid=
server_port=
server_log=build/bench-memcached.log

# Opens and closes a connection: it wakes memcached's main loop, which otherwise notices a
# SIGTERM only on its next once-a-second clock tick.
poke_server() {
    (exec 3<>"/dev/tcp/127.0.0.1/$server_port") 2>/dev/null || true
}

# A reaped or zombie child counts as gone (kill -0 still succeeds on a zombie).
server_alive() {
    local state
    state=$(awk '{ print $3 }' "/proc/$server_pid/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]]
}

stop_server() {
    if [[ -z $server_pid ]]; then
        return 0
    fi
    kill -TERM "$server_pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do
        server_alive || break
        poke_server
        sleep 0.05
    done
    if server_alive; then
        kill -KILL "$server_pid" 2>/dev/null || true
    fi
    wait "$server_pid" 2>/dev/null || true
    server_pid=
}
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

server_answers() {
    local reply=
    exec 3<>"/dev/tcp/127.0.0.1/$server_port" || return 1
    printf 'version\r\n' >&3
    read -r -t 1 reply <&3 || true
    exec 3<&-
    [[ $reply == VERSION* ]]
}

start_server() {
    local user_args=() attempt i
    if ((EUID == 0)); then
        user_args=(-u nobody)  # memcached refuses to run as root
    fi
    for ((attempt = 1; attempt <= 5; attempt++)); do
        # Ask the kernel for a free port; if someone takes it before memcached binds it,
        # memcached exits and we try another.
        server_port=$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
        memcached -p "$server_port" -l 127.0.0.1 -U 0 -t 2 -m 256 "${user_args[@]}" \
            >"$server_log" 2>&1 &
        server_pid=$!
        for ((i = 0; i < 100; i++)); do
            if ! server_alive; then
                wait "$server_pid" 2>/dev/null || true
                server_pid=
                break
            fi
            if server_answers 2>/dev/null; then
                return 0
            fi
            sleep 0.1
        done
        stop_server
    done
    echo "error: could not start memcached; its last output:" >&2
    cat "$server_log" >&2
    return 1
}

if [[ -n ${MEMCORO_SERVER:-} ]]; then
    server=$MEMCORO_SERVER
    echo "==> using memcached at $server (MEMCORO_SERVER)"
else
    start_server
    server=127.0.0.1:$server_port
    echo "==> started memcached (pid $server_pid) at $server"
fi

demo=$memcoro_release_dir/bench/memcoro_demo
if [[ -x $demo ]]; then
    echo "==> $demo $server"
    "$demo" "$server"
else
    echo "==> $demo is not built yet (bench/meson.build does not define it): nothing to run."
    echo "    The build and a memcached at $server are ready for it."
fi

# The benchmark suite (bench/suite/README.md): every scenario next to libmemcached,
# pymemcache and a raw-socket ceiling, interleaved over 5 rounds, on its own private
# memcached (-t 1). MEMCORO_SUITE=quick runs one short round; MEMCORO_SUITE=off skips it.
suite=${MEMCORO_SUITE:-full}
if [[ $suite != off ]]; then
    suite_bin=$memcoro_release_dir/bench/suite
    suite_args=(--bin "$suite_bin" --out build/bench-suite)
    if [[ $suite == quick ]]; then
        suite_args+=(--quick)
    fi
    echo "==> benchmark suite ($suite)"
    bench/suite/run_suite.py "${suite_args[@]}"
    bench/suite/det_counts.py --bin "$suite_bin" --json build/bench-suite/det_counts.json
    # S12, a stampede on one expired key: not a rate, so it has a table of its own.
    stampede_args=(--bin "$suite_bin" --out build/bench-suite)
    if [[ $suite == quick ]]; then
        stampede_args+=(--rounds 1)
    fi
    echo "==> S12 stampede"
    bench/suite/stampede.py "${stampede_args[@]}"
fi
