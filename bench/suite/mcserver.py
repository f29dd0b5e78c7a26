"""Shared by run_suite.py and det_counts.py: a private memcached on a free 127.0.0.1 port
(or a tier of them, for the many-server scenarios), the preloaded data, and where the
suite's binaries are.

The server runs as performance.md section 4 prescribes (`-t 1 -m 1024 -I 2m -U 0`), is
started fresh by the harness and stopped by its PID, never by name: other people's
memcached instances run on the same machine. With tls=True (S13) it also has a TLS
listener (-Z) on a second port, with a throwaway certificate made for it.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

SUITE_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(os.path.dirname(SUITE_DIR))

# Preloaded data: (value size, number of keys). Keys are "v<size>:%08d".
DATA_SETS = ((100, 1000), (102400, 100), (1048576, 100))
# A tier's servers hold the small keys only, each of them all: whichever server a client
# places a key on has it, so every get is a hit whatever the distribution.
TIER_DATA_SETS = ((100, 1000),)

# Debian's interpreter: it has python3-pymemcache and python3-matplotlib, while the first
# python3 on PATH may be another installation without them.
SYSTEM_PYTHON = "/usr/bin/python3"


def default_bin_dir():
    """Where meson puts the suite's binaries: $MEMCORO_BENCH_BIN, else build/release."""
    env = os.environ.get("MEMCORO_BENCH_BIN")
    if env:
        return env
    return os.path.join(REPO_DIR, "build", "release", "bench", "suite")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"version\r\n")
            return s.recv(64).startswith(b"VERSION")
    except OSError:
        return False


def make_certificate(directory):
    """A self-signed P-256 certificate for 127.0.0.1 (and localhost), valid 2 days, in
    directory/cert.pem with its key in directory/key.pem; returns the two paths. It is
    its own CA: a client trusts it with --tls-ca cert.pem and checks the IP."""
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # memcached reads them before it drops to `nobody`, but reads them again as nobody
    # on `refresh_certs`; the key protects nothing beyond this run.
    os.chmod(directory, 0o755)
    os.chmod(key, 0o644)
    return cert, key


def memcached_has_tls():
    """Whether the installed memcached was built with TLS (it lists -Z in its help)."""
    exe = shutil.which("memcached")
    if not exe:
        return False
    p = subprocess.run([exe, "-h"], capture_output=True, text=True)
    return "--enable-ssl" in p.stdout


class Memcached:
    """A private memcached; use as a context manager so it stops whatever happens.

    With tls=True it listens twice: plain text on `port` (`address`) and TLS on
    `tls_port` (`tls_address`), whose certificate `ca_file` verifies. Both listeners share
    the one worker thread, so plain and TLS rows measure the same server."""

    def __init__(self, threads=1, memory_mb=1024, max_item="2m", log_path=None, tls=False):
        self.threads = threads
        self.memory_mb = memory_mb
        self.max_item = max_item
        self.log_path = log_path
        self.tls = tls
        self.proc = None
        self.port = None
        self.tls_port = None
        self.ca_file = None
        self._cert_dir = None
        self._log = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    @property
    def tls_address(self):
        return "127.0.0.1:%d" % self.tls_port

    def start(self):
        exe = shutil.which("memcached")
        if not exe:
            raise RuntimeError("memcached is not installed (apt-get install memcached)")
        try:
            return self._start(exe)
        except BaseException:
            self.stop()  # no process, log or certificate left behind
            raise

    def _start(self, exe):
        for _ in range(5):
            # stop() after a failed attempt closes the log and removes the certificate.
            if self._log is None:
                self._log = open(self.log_path, "w") if self.log_path else subprocess.DEVNULL
            # A free port may be taken before memcached binds it; then it exits, and we
            # try another.
            self.port = free_port()
            cmd = [exe, "-t", str(self.threads), "-m", str(self.memory_mb), "-I", self.max_item,
                   "-U", "0"]
            if self.tls:
                self._cert_dir = tempfile.mkdtemp(prefix="memcoro-bench-tls.")
                self.ca_file, key = make_certificate(self._cert_dir)
                self.tls_port = free_port()
                while self.tls_port == self.port:
                    self.tls_port = free_port()
                # With -Z every listener is TLS but those marked notls:. Listeners that
                # name their port ignore -p (memcached 1.6.18 binds no third one).
                cmd += ["-Z", "-o", "ssl_chain_cert=%s,ssl_key=%s" % (self.ca_file, key),
                        "-l", "notls:127.0.0.1:%d" % self.port,
                        "-l", "127.0.0.1:%d" % self.tls_port]
            else:
                cmd += ["-l", "127.0.0.1", "-p", str(self.port)]
            if os.geteuid() == 0:
                cmd += ["-u", "nobody"]  # memcached refuses to run as root
            self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=self._log)
            for _ in range(100):
                if self.proc.poll() is not None:
                    break
                if _answers(self.port):
                    return self
                time.sleep(0.05)
            self.stop()
        raise RuntimeError("could not start memcached")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            # memcached notices SIGTERM on its next event; a connection wakes it at once.
            deadline = time.time() + 5
            while self.proc.poll() is None and time.time() < deadline:
                _answers(self.port)
                time.sleep(0.05)
            if self.proc.poll() is None:
                self.proc.kill()
        if self.proc:
            self.proc.wait()
            self.proc = None
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()
            self._log = None
        if self._cert_dir:
            shutil.rmtree(self._cert_dir, ignore_errors=True)
            self._cert_dir = None
            self.ca_file = None

    def cpu_seconds(self):
        """utime + stime of the server so far (fields 14 and 15 of /proc/PID/stat)."""
        with open("/proc/%d/stat" % self.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def preload(raw_ceiling, server, data_sets=DATA_SETS):
    """Stores every key the scenarios read, with raw_ceiling's load mode (replies awaited)."""
    for valsize, keys in data_sets:
        subprocess.run([raw_ceiling, "--server", server, "--mode", "load", "--valsize",
                        str(valsize), "--keys", str(keys), "--depth", "16" if valsize <= 1024
                        else "1"], check=True, stdout=subprocess.DEVNULL)


class Tier:
    """N private memcached servers, each as Memcached starts one (own port, stopped by
    PID); a context manager that stops every one of them whatever happens."""

    def __init__(self, count, log_path=None, **kw):
        self.servers = []
        for i in range(count):
            log = "%s.%d" % (log_path, i) if log_path else None
            self.servers.append(Memcached(log_path=log, **kw))

    def addresses(self, n=None):
        """"HOST:PORT,HOST:PORT,...": the first n servers (all by default), in order."""
        return ",".join(s.address for s in self.servers[:n])

    def pids(self, n=None):
        return ",".join(str(s.pid) for s in self.servers[:n])

    def start(self):
        try:
            for s in self.servers:
                s.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        for s in self.servers:
            s.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def preload_tier(raw_ceiling, tier, data_sets=TIER_DATA_SETS):
    """Every key on every server of the tier."""
    for s in tier.servers:
        preload(raw_ceiling, s.address, data_sets)
