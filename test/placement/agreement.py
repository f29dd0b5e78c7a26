#!/usr/bin/python3
"""Placement agreement with the Python clients on this machine (protocol.md 6, 7, 7.1).

Usage: agreement.py PLACEMENT_TOOL

For each server list, seeded random keys go to placement_tool (our placement layer) and
to the library, which computes its answer live; any difference fails the test. Nothing
connects to a server:
  - pymemcache 3.5.2 HashClient (rendezvous): clients connect lazily, and its placement is
    HashClient._get_client, the call every operation makes; `without` is compared with the
    hasher after remove_node, which is what remove_server does to placement.
  - python-memcache 1.59 Client (modula): its placement is Client._get_server, which asks
    each bucket's _Host to connect. A live host is given a stand-in socket so that
    _get_socket returns it at once; a dead one gets its deaduntil time, as mark_dead sets
    it, so _get_server's own rehash loop runs.
  - pylibmc (ketama_weighted): Client.hash(key) returns libmemcached's
    memcached_generate_hash, the server index. pylibmc refuses to mix unix sockets with
    TCP servers and takes no weight for a socket, so its unix list is all sockets,
    weight 1 (libmemcached_agreement_tests covers mixed lists and socket weights).
"""

import random
import subprocess
import sys
import time

SEED = 20240611
KEYS = 100_000
WITHOUT_KEYS = 10_000


def random_keys(count, seed):
    """Keys of 1-64 characters; one in eight has é or € (multi-byte in UTF-8)."""
    rng = random.Random(seed)
    printable = [chr(c) for c in range(0x21, 0x7F)]
    keys = []
    for _ in range(count):
        n = rng.randint(1, 64)
        if rng.randrange(8) == 0:
            chars = [rng.choice(printable) if rng.randrange(3) else rng.choice("é€")
                     for _ in range(n)]
        else:
            chars = rng.choices(printable, k=n)
        keys.append("".join(chars))
    return keys


def ours(tool, distribution, servers, keys, alive=None):
    """placement_tool's index per key (None for `none`)."""
    args = [tool, distribution]
    if alive is not None:
        args += ["--alive", ",".join("1" if a else "0" for a in alive)]
    args += servers
    out = subprocess.run(args, input="\n".join(keys).encode() + b"\n",
                         capture_output=True, check=True).stdout.decode().split()
    return [None if o == "none" else int(o) for o in out]


def compare(name, keys, theirs, mine):
    if len(theirs) != len(mine):
        raise AssertionError(f"{name}: {len(mine)} answers for {len(theirs)} keys")
    differ = [(k, t, m) for k, t, m in zip(keys, theirs, mine) if t != m]
    if differ:
        k, t, m = differ[0]
        raise AssertionError(f"{name}: {len(differ)} of {len(keys)} keys differ; "
                             f"first {k!r}: library {t}, ours {m}")
    print(f"ok   {name}: {len(keys)} keys agree")


PYMEMCACHE_SPECS = ["127.0.0.1:21211", "127.0.0.1:21212", "[::1]:21214", "localhost",
                   "unix:/tmp/memcoro-a.sock", "/tmp/memcoro-b.sock"]


def _pymemcache_client():
    from pymemcache.client.base import normalize_server_spec
    from pymemcache.client.hash import HashClient

    client = HashClient(PYMEMCACHE_SPECS, allow_unicode_keys=True)
    nodes = [client._make_client_key(normalize_server_spec(s)) for s in PYMEMCACHE_SPECS]
    return client, nodes


def _pymemcache_place(keys):
    client, nodes = _pymemcache_client()
    index_of_client = {id(client.clients[n]): i for i, n in enumerate(nodes)}
    return [index_of_client[id(client._get_client(k))] for k in keys]


def check_pymemcache(tool, keys):
    # Its murmur3 is pure Python (about 10 us a score): the keys are split over two
    # processes so that the run stays within seconds.
    from concurrent.futures import ProcessPoolExecutor

    half = len(keys) // 2
    with ProcessPoolExecutor(2) as pool:
        parts = list(pool.map(_pymemcache_place, [keys[:half], keys[half:]]))
    compare("pymemcache HashClient (rendezvous)", keys, parts[0] + parts[1],
            ours(tool, "rendezvous", PYMEMCACHE_SPECS, keys))

    client, nodes = _pymemcache_client()
    sub = keys[:WITHOUT_KEYS]
    for dead in ([2], [0, 5], list(range(len(nodes)))):
        for i in dead:
            client.hasher.remove_node(nodes[i])
        index_of_node = {n: i for i, n in enumerate(nodes)}
        theirs = [index_of_node.get(client.hasher.get_node(k)) for k in sub]
        alive = [i not in dead for i in range(len(nodes))]
        compare(f"pymemcache without {dead}", sub, theirs,
                ours(tool, "rendezvous", PYMEMCACHE_SPECS, sub, alive))
        for i in dead:
            client.hasher.add_node(nodes[i])


class _StandInSocket:
    """Lets python-memcache's _Host._get_socket answer 'connected' without a server."""

    def close(self):
        pass


def check_python_memcache(tool, keys):
    import memcache

    # (python-memcache's spec, ours): it writes IPv6 as inet6:[addr]:port.
    servers = [(("127.0.0.1:21211", 1), "127.0.0.1:21211"),
               (("127.0.0.1:21212", 2), "127.0.0.1:21212=2"),
               (("127.0.0.1:21213", 1), "127.0.0.1:21213"),
               (("unix:/tmp/memcoro-a.sock", 3), "unix:/tmp/memcoro-a.sock=3"),
               (("inet6:[::1]:21214", 1), "[::1]:21214")]
    client = memcache.Client([s for s, _ in servers])
    specs = [o for _, o in servers]
    encoded = [k.encode() for k in keys]

    def place(key_bytes):
        server, _ = client._get_server(key_bytes)
        return None if server is None else client.servers.index(server)

    def set_dead(dead):
        for i, host in enumerate(client.servers):
            host.socket = None if i in dead else _StandInSocket()
            host.deaduntil = time.time() + 3600 if i in dead else 0

    set_dead([])
    compare("python-memcache Client (modula)", keys, [place(k) for k in encoded],
            ours(tool, "modula", specs, keys))

    sub, sub_encoded = keys[:WITHOUT_KEYS], encoded[:WITHOUT_KEYS]
    for dead in ([1], [0, 2], [0, 1, 2, 4], list(range(len(specs)))):
        set_dead(dead)
        alive = [i not in dead for i in range(len(specs))]
        compare(f"python-memcache without {dead}", sub, [place(k) for k in sub_encoded],
                ours(tool, "modula", specs, sub, alive))
    set_dead([])


def check_pylibmc(tool, keys):
    import _pylibmc
    import pylibmc

    def client(specs):
        return pylibmc.Client(specs, behaviors={"ketama_weighted": True})

    # (pylibmc's spec, ours): pylibmc writes a weight as host:port:weight.
    tcp = [("127.0.0.1:21211:1", "127.0.0.1:21211"), ("127.0.0.1:21212:2", "127.0.0.1:21212=2"),
           ("127.0.0.1:21213:1", "127.0.0.1:21213"), ("127.0.0.1", "127.0.0.1"),
           ("[::1]:21214:3", "[::1]:21214=3"), ("localhost:21215", "localhost:21215")]
    unix = [((_pylibmc.server_type_unix, p, 0), p)
            for p in ("/tmp/memcoro-a.sock", "/tmp/memcoro-b.sock", "/tmp/memcoro-c.sock")]
    for name, servers in (("tcp", tcp), ("unix", unix)):
        specs = [o for _, o in servers]
        c = client([s for s, _ in servers])
        compare(f"pylibmc ketama_weighted ({name})", keys, [c.hash(k) for k in keys],
                ours(tool, "ketama", specs, keys))
        # `without`: libmemcached's continuum of the live servers, i.e. a client built
        # from the live ones (their indices mapped back to the full list).
        sub = keys[:WITHOUT_KEYS]
        for dead in ([1], [0, 2]):
            live = [i for i in range(len(servers)) if i not in dead]
            c = client([servers[i][0] for i in live])
            alive = [i not in dead for i in range(len(servers))]
            compare(f"pylibmc ({name}) without {dead}", sub, [live[c.hash(k)] for k in sub],
                    ours(tool, "ketama", specs, sub, alive))


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    tool = sys.argv[1]
    keys = random_keys(KEYS, SEED)
    failed = 0
    for check in (check_pymemcache, check_python_memcache, check_pylibmc):
        started = time.monotonic()
        try:
            check(tool, keys)
        except ImportError as e:
            # test/deps.sh installs all three; a machine without one still runs the rest.
            print(f"SKIP {check.__name__}: {e}")
        except AssertionError as e:
            print(f"FAIL {e}")
            failed += 1
        print(f"     ({check.__name__}: {time.monotonic() - started:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
