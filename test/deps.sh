# shellcheck shell=bash
# Shared by test/run.sh and bench/run.sh (sourced, not run): installs what the project
# needs on Debian 12 and configures meson build directories.

# Boost 1.81 comes from libboost1.81-dev: libboost-dev is still 1.74 on Debian 12, too old
# for Asio's per-operation cancellation. libclang-rt-14-dev carries libFuzzer and clang's
# sanitizer runtimes. libssl-dev is memcoro's TLS; the openssl command line makes the TLS
# tests' certificates. pkg-config, cmake and make build the programs that use the
# installed library (test/consumers).
memcoro_packages=(
    g++ clang libclang-rt-14-dev meson ninja-build pkg-config cmake make
    libboost1.81-dev doctest-dev
    memcached libmemcached-dev libmemcached-tools python3-pymemcache python3-memcache
    python3-pylibmc nutcracker
    libssl-dev openssl
    strace
)

# The release build directory is shared by test/run.sh and bench/run.sh, so both must
# configure it the same way.
# shellcheck disable=SC2034  # used by the scripts that source this file
memcoro_release_dir=build/release
# shellcheck disable=SC2034
memcoro_release_options=(-Dbuildtype=release -Dwerror=true)

# Installs the packages that are not installed yet, the project's and any named as
# arguments; prints nothing when none is missing.
memcoro_install_deps() {
    local pkg missing=()
    for pkg in "${memcoro_packages[@]}" "$@"; do
        if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" != installed ]]; then
            missing+=("$pkg")
        fi
    done
    if ((${#missing[@]} == 0)); then
        return 0
    fi

    echo "==> installing missing packages: ${missing[*]}"
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
    {
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
                apt-get install -y -qq --no-install-recommends "${missing[@]}"
    } || rc=$?
    if ((own_policy)); then
        "${sudo[@]}" rm -f "$policy"
    fi
    if ((rc != 0)); then
        echo "error: apt-get failed ($rc) installing: ${missing[*]}" >&2
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
