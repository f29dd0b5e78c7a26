# shellcheck shell=bash
# Shared by test/run.sh and bench/run.sh (sourced, not run): installs what the project
# needs on Debian 12 and configures meson build directories.

# Boost 1.81 comes from libboost1.81-dev: libboost-dev is still 1.74 on Debian 12, too old
# for Asio's per-operation cancellation. libclang-rt-14-dev carries libFuzzer and clang's
# sanitizer runtimes. libssl-dev is memcoro's TLS; the openssl command line makes the TLS
# tests' certificates. pkg-config, cmake and make build the programs that use the
# installed library (test/consumers). One group a line: "name: packages".
memcoro_package_groups=(
    "compilers and build tools: g++ clang libclang-rt-14-dev meson ninja-build pkg-config cmake make"
    "libraries: libboost1.81-dev doctest-dev libssl-dev"
    "memcached and the clients compared with: memcached libmemcached-dev libmemcached-tools python3-pymemcache python3-memcache python3-pylibmc nutcracker"
    "tools: openssl strace"
)

# The release build directory is shared by test/run.sh and bench/run.sh, so both must
# configure it the same way.
# shellcheck disable=SC2034  # used by the scripts that source this file
memcoro_release_dir=build/release
# shellcheck disable=SC2034
memcoro_release_options=(-Dbuildtype=release -Dwerror=true)

# Installs the packages that are not installed yet, the project's and any named as
# arguments (the group "more"); prints nothing when none is missing, else one line per
# group it installs. apt's own output goes to build/apt.log, shown only if it fails.
memcoro_install_deps() {
    local groups=("${memcoro_package_groups[@]}")
    if (($# > 0)); then
        groups+=("more: $*")
    fi
    local group pkg missing=() lines=()
    for group in "${groups[@]}"; do
        local want=()
        for pkg in ${group#*: }; do
            if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" != installed ]]; then
                want+=("$pkg")
            fi
        done
        if ((${#want[@]} > 0)); then
            missing+=("${want[@]}")
            lines+=("==> installing ${group%%: *}: ${want[*]}")
        fi
    done
    if ((${#missing[@]} == 0)); then
        return 0
    fi
    printf '%s\n' "${lines[@]}"

    local sudo=()
    if ((EUID != 0)); then
        sudo=(sudo)
    fi
    # Installing memcached would start Debian's own memcached service on port 11211. We
    # start only what we stop, so services are held back during the install, unless the
    # machine already has a policy (containers usually do).
    local policy=/usr/sbin/policy-rc.d own_policy=0 rc=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod 755 "$policy"
        own_policy=1
    fi
    mkdir -p build
    local log=build/apt.log
    {
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
            "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
                apt-get install -y -q --no-install-recommends "${missing[@]}"
    } >"$log" 2>&1 || rc=$?
    if ((own_policy)); then
        "${sudo[@]}" rm -f "$policy"
    fi
    if ((rc != 0)); then
        tail -n 40 "$log" >&2
        echo "error: apt-get failed ($rc) installing: ${missing[*]} (whole log: $log)" >&2
        return "$rc"
    fi
}

# memcoro_setup_dir DIR COMPILER [meson options...]
# Configures DIR once; afterwards ninja re-runs meson by itself when a meson.build changes.
# A directory left half-configured by an interrupted setup, or configured with other
# options than these scripts now pass (kept in DIR/.memcoro-setup), is wiped and
# configured again.
memcoro_setup_dir() {
    local dir=$1 compiler=$2
    shift 2
    local wanted="CXX=$compiler $*"
    if [[ -f $dir/meson-private/coredata.dat && -f $dir/build.ninja &&
        "$(cat "$dir/.memcoro-setup" 2>/dev/null)" == "$wanted" ]]; then
        return 0
    fi
    rm -rf "$dir"
    echo "==> configuring $dir ($wanted)"
    local out
    out=$(CXX=$compiler meson setup "$dir" "$@" 2>&1) || {
        printf '%s\n' "$out" >&2
        return 1
    }
    printf '%s\n' "$wanted" >"$dir/.memcoro-setup"
}
