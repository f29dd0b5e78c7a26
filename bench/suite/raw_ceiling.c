/*
 * raw_ceiling: what any memcached client could at best reach on this machine. No library:
 * plain blocking sockets, requests built from key strings made before the clock starts,
 * replies parsed in place in the receive buffer and values skipped without a copy. It keeps
 * --depth requests in flight per connection (a sliding window: every read that completes
 * replies is followed by one write that refills the window).
 *
 *     raw_ceiling --server 127.0.0.1:PORT --mode mg --depth 128 --ops 1000000
 *
 * Modes (keys "v<valsize>:%08d", --keys of them):
 *   get       "get k"                     one key per request
 *   mg        "mg k v"                    meta get
 *   multiget  "get k1 .. kB"              --batch keys per request; ops are counted in keys
 *   fanout    one connection per server of --server's list (one thread): --batch keys
 *             spread over the servers (key j of a batch to server j mod N), "get k.." to
 *             every server at once, then every reply read before the next batch: a
 *             multi-key get fanned out over a tier (S9); ops are counted in keys
 *   set       "set k 0 0 S"               with reply
 *   setnr     "set k 0 0 S noreply"       written --depth at a time, then one "mn" waits
 *                                         for the server to have handled them all
 *   load      set every key once, with replies (run_suite.py preloads with it)
 *   pingpong  1-byte TCP ping-pong with a forked echo process: the machine's round-trip
 *             floor, the noise context of a run (no memcached involved)
 * --conns C runs C connections, one thread each; --ops is the total over all of them.
 * --server takes a comma-separated list (a tier): connection i goes to server i mod N, so
 * --conns 4 over 4 servers is one connection to each. --server-pid takes the matching list
 * of pids; the server CPU is their sum. Every server must hold every key.
 * Prints one JSON line, the format every program of bench/suite shares.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "measure.h"

enum mode { M_GET, M_MG, M_MULTIGET, M_FANOUT, M_SET, M_SETNR, M_LOAD, M_PINGPONG };

static const char *const mode_names[] = {"get", "mg", "multiget", "fanout", "set", "setnr",
                                         "load", "pingpong"};

#define MAX_SERVERS 16

struct options {
    char host[MAX_SERVERS][64];
    int port[MAX_SERVERS];
    int servers;
    enum mode mode;
    long depth;
    long ops;
    long valsize;
    long keys;
    long batch;
    long conns;
    const char *server_pids;
    const char *scenario;
};

static struct options opt;
static char **key_strings; /* "v100:00000042" */
static size_t key_len;     /* all keys have the same length */
static char *value_bytes;  /* valsize bytes + "\r\n" */
static char **set_headers; /* "set <key> 0 0 <valsize>[ noreply]\r\n", one per key */
static size_t set_header_len;

static void die(const char *what) {
    fprintf(stderr, "raw_ceiling: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void fail(const char *what) {
    fprintf(stderr, "raw_ceiling: %s\n", what);
    exit(1);
}

static int connect_server(int server) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)opt.port[server]);
    if (inet_pton(AF_INET, opt.host[server], &sa.sin_addr) != 1) {
        fail("--server needs IPv4 addresses");
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) die("connect");
    int one = 1;
    /* Requests go out as soon as they are written, as every client under test does. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            die("send");
        }
        p += w;
        n -= (size_t)w;
    }
}

/* ---- Reply parsing ------------------------------------------------------------------- */

/* Replies are parsed where they land in the receive buffer. Values are skipped by count,
 * so a value larger than the buffer simply spans several reads. */
struct parser {
    long skip;         /* value bytes (and their CRLF) still to skip */
    int skip_ends_mg;  /* the value being skipped is an mg reply: it ends with it */
    long hits_in_reply;
    long batch; /* keys of the multi-key request being answered */
    long hits;
    long misses;
    long value_bytes;
};

/* Consumes what it can of [p, end) and returns how many replies it completed; *used gets
 * the bytes consumed (an incomplete line stays for the next read). */
static long parse_replies(struct parser *ps, const char *p, const char *end, size_t *used) {
    const char *start = p;
    long completed = 0;
    for (;;) {
        if (ps->skip > 0) {
            long avail = (long)(end - p);
            long take = avail < ps->skip ? avail : ps->skip;
            p += take;
            ps->skip -= take;
            if (ps->skip > 0) break;
            if (ps->skip_ends_mg) {
                ps->skip_ends_mg = 0;
                ++completed;
            }
            continue;
        }
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) break;
        const char *line = p;
        size_t len = (size_t)(nl - p);
        p = nl + 1;
        if (len >= 6 && memcmp(line, "VALUE ", 6) == 0) {
            /* VALUE <key> <flags> <bytes>[ <cas>]: the size is the fourth word. */
            const char *q = line + 6;
            for (int spaces = 0; spaces < 2 && q < nl; ++q) {
                if (*q == ' ') ++spaces;
            }
            long n = strtol(q, NULL, 10);
            ps->skip = n + 2;
            ps->value_bytes += n;
            ++ps->hits_in_reply;
            ++ps->hits;
        } else if (len >= 3 && memcmp(line, "VA ", 3) == 0) {
            long n = strtol(line + 3, NULL, 10);
            ps->skip = n + 2;
            ps->skip_ends_mg = 1;
            ps->value_bytes += n;
            ++ps->hits;
        } else if (len >= 3 && memcmp(line, "END", 3) == 0) {
            if (opt.mode == M_GET && ps->hits_in_reply == 0) ++ps->misses;
            if (opt.mode == M_MULTIGET || opt.mode == M_FANOUT) {
                ps->misses += ps->batch - ps->hits_in_reply;
            }
            ps->hits_in_reply = 0;
            ++completed;
        } else if (len >= 2 && memcmp(line, "EN", 2) == 0) {
            ++ps->misses;
            ++completed;
        } else if ((len >= 6 && memcmp(line, "STORED", 6) == 0) ||
                   (len >= 2 && memcmp(line, "MN", 2) == 0)) {
            ++completed;
        } else {
            fprintf(stderr, "raw_ceiling: unexpected reply: %.*s\n", (int)len, line);
            exit(1);
        }
    }
    *used = (size_t)(p - start);
    return completed;
}

/* ---- One connection ------------------------------------------------------------------ */

struct conn {
    pthread_t thread;
    int index;
    int fd;
    long calls; /* requests to make */
    struct parser ps;
    char *out;
    size_t out_cap;
    char *in;
    size_t in_cap;
};

static pthread_barrier_t start_barrier;

/* Appends request `i` (a request index, not a key index) to the output buffer. */
static size_t append_request(struct conn *c, size_t at, long i) {
    long k = (i + (long)c->index * 7919) % opt.keys; /* connections start apart */
    size_t need = 32 + key_len + (size_t)opt.valsize;
    if (opt.mode == M_MULTIGET) need = 8 + (size_t)opt.batch * (key_len + 1);
    if (at + need > c->out_cap) {
        c->out_cap = (at + need) * 2;
        c->out = realloc(c->out, c->out_cap);
        if (!c->out) fail("out of memory");
    }
    char *p = c->out + at;
    switch (opt.mode) {
    case M_GET:
        memcpy(p, "get ", 4);
        memcpy(p + 4, key_strings[k], key_len);
        memcpy(p + 4 + key_len, "\r\n", 2);
        return at + 6 + key_len;
    case M_MG:
        memcpy(p, "mg ", 3);
        memcpy(p + 3, key_strings[k], key_len);
        memcpy(p + 3 + key_len, " v\r\n", 4);
        return at + 7 + key_len;
    case M_MULTIGET: {
        long batches = opt.keys / opt.batch;
        long first = (i % (batches > 0 ? batches : 1)) * opt.batch;
        memcpy(p, "get", 3);
        p += 3;
        for (long j = 0; j < opt.batch; ++j) {
            *p++ = ' ';
            memcpy(p, key_strings[(first + j) % opt.keys], key_len);
            p += key_len;
        }
        memcpy(p, "\r\n", 2);
        return (size_t)(p + 2 - c->out);
    }
    case M_SET:
    case M_SETNR:
    case M_LOAD:
        memcpy(p, set_headers[k], set_header_len);
        memcpy(p + set_header_len, value_bytes, (size_t)opt.valsize + 2);
        return at + set_header_len + (size_t)opt.valsize + 2;
    case M_FANOUT: /* built by run_fanout */
    case M_PINGPONG:
        break;
    }
    return at;
}

/* Reads once and parses; returns the replies completed. */
static long read_replies(struct conn *c, size_t *have) {
    ssize_t n = recv(c->fd, c->in + *have, c->in_cap - *have, 0);
    if (n < 0) {
        if (errno == EINTR) return 0;
        die("recv");
    }
    if (n == 0) fail("server closed the connection");
    *have += (size_t)n;
    size_t used = 0;
    long done = parse_replies(&c->ps, c->in, c->in + *have, &used);
    /* Keep a partial line for the next read. */
    memmove(c->in, c->in + used, *have - used);
    *have -= used;
    if (*have == c->in_cap) fail("reply line longer than the receive buffer");
    return done;
}

static void *run_conn(void *arg) {
    struct conn *c = arg;
    size_t have = 0;
    pthread_barrier_wait(&start_barrier);
    if (opt.mode == M_SETNR) {
        /* Batches of --depth noreply sets, one write each; nothing comes back until "mn". */
        long sent = 0;
        while (sent < c->calls) {
            size_t len = 0;
            long end = sent + opt.depth < c->calls ? sent + opt.depth : c->calls;
            for (; sent < end; ++sent) len = append_request(c, len, sent);
            write_all(c->fd, c->out, len);
        }
        write_all(c->fd, "mn\r\n", 4);
        while (read_replies(c, &have) == 0) {
        }
        return NULL;
    }
    long sent = 0, done = 0, in_flight = 0;
    while (done < c->calls) {
        size_t len = 0;
        while (in_flight < opt.depth && sent < c->calls) {
            len = append_request(c, len, sent);
            ++sent;
            ++in_flight;
        }
        if (len > 0) write_all(c->fd, c->out, len);
        long n = read_replies(c, &have);
        done += n;
        in_flight -= n;
    }
    return NULL;
}

/* ---- Fan-out over a tier ------------------------------------------------------------ */

/* One thread, one connection per server: each batch sends its keys' share to every server
 * at once, then reads the servers' replies in turn. While it blocks on the first, the
 * others' replies wait in their sockets, so the batch takes as long as the slowest
 * server, as a client's fanned-out call does, without a poll per batch. */
static void run_fanout(struct conn *conns, long calls) {
    const long n = opt.conns;
    const long batches = opt.keys / opt.batch > 0 ? opt.keys / opt.batch : 1;
    size_t *have = calloc((size_t)n, sizeof *have);
    for (long i = 0; i < calls; ++i) {
        const long first = (i % batches) * opt.batch;
        for (long s = 0; s < n; ++s) {
            struct conn *c = &conns[s];
            size_t need = 8 + (size_t)opt.batch * (key_len + 1);
            if (need > c->out_cap) {
                c->out_cap = need;
                c->out = realloc(c->out, c->out_cap);
                if (!c->out) fail("out of memory");
            }
            char *p = c->out;
            memcpy(p, "get", 3);
            p += 3;
            c->ps.batch = 0;
            for (long j = s; j < opt.batch; j += n) {
                *p++ = ' ';
                memcpy(p, key_strings[(first + j) % opt.keys], key_len);
                p += key_len;
                ++c->ps.batch;
            }
            memcpy(p, "\r\n", 2);
            if (c->ps.batch > 0) write_all(c->fd, c->out, (size_t)(p + 2 - c->out));
        }
        for (long s = 0; s < n; ++s) {
            if (conns[s].ps.batch == 0) continue;
            while (read_replies(&conns[s], &have[s]) == 0) {
            }
        }
    }
    free(have);
}

/* ---- Ping-pong ---------------------------------------------------------------------- */

static void pingpong(long rounds, double *secs, double *cpu) {
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    if (ls < 0) die("socket");
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(ls, 1) != 0) die("listen");
    getsockname(ls, (struct sockaddr *)&sa, &sl);
    pid_t child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        int s = accept(ls, NULL, NULL);
        if (s < 0) _exit(1);
        int one = 1;
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char b;
        while (recv(s, &b, 1, 0) == 1) {
            if (send(s, &b, 1, MSG_NOSIGNAL) != 1) break;
        }
        _exit(0);
    }
    close(ls);
    snprintf(opt.host[0], sizeof opt.host[0], "127.0.0.1");
    opt.port[0] = ntohs(sa.sin_port);
    opt.servers = 1;
    int fd = connect_server(0);
    char b = 'x';
    double t0 = now_seconds(), c0 = cpu_seconds();
    for (long i = 0; i < rounds; ++i) {
        if (send(fd, &b, 1, MSG_NOSIGNAL) != 1 || recv(fd, &b, 1, 0) != 1) die("ping-pong");
    }
    *secs = now_seconds() - t0;
    *cpu = cpu_seconds() - c0;
    close(fd); /* the echo process sees EOF and exits */
    waitpid(child, NULL, 0);
}

/* ---- Main --------------------------------------------------------------------------- */

static void usage(const char *why) {
    fprintf(stderr,
            "raw_ceiling: %s\n"
            "usage: raw_ceiling [--server HOST:PORT[,HOST:PORT...]]\n"
            "         --mode get|mg|multiget|fanout|set|setnr|load|pingpong\n"
            "         [--depth D] [--ops N] [--valsize B] [--keys K] [--batch K] [--conns C]\n"
            "         [--server-pid PID[,PID...]] [--scenario LABEL]\n",
            why);
    exit(2);
}

static long number(const char *name, const char *s) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 0) {
        fprintf(stderr, "raw_ceiling: bad number for %s: %s\n", name, s);
        exit(2);
    }
    return v;
}

/* "HOST:PORT[,HOST:PORT...]" into opt.host and opt.port. */
static void parse_servers(const char *list) {
    opt.servers = 0;
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char entry[96];
        if (opt.servers == MAX_SERVERS || len >= sizeof entry) usage("--server: too long a list");
        memcpy(entry, p, len);
        entry[len] = 0;
        const char *colon = strrchr(entry, ':');
        if (!colon || (size_t)(colon - entry) >= sizeof opt.host[0]) usage("--server HOST:PORT");
        memcpy(opt.host[opt.servers], entry, (size_t)(colon - entry));
        opt.host[opt.servers][colon - entry] = 0;
        opt.port[opt.servers] = (int)number("--server", colon + 1);
        ++opt.servers;
        p = end ? end + 1 : p + len;
    }
    if (opt.servers == 0) usage("--server HOST:PORT");
}

static void parse_options(int argc, char **argv) {
    snprintf(opt.host[0], sizeof opt.host[0], "127.0.0.1");
    opt.port[0] = 11211;
    opt.servers = 1;
    opt.server_pids = "";
    opt.mode = M_GET;
    opt.depth = 1;
    opt.ops = 20000;
    opt.valsize = 100;
    opt.keys = 0;
    opt.batch = 100;
    opt.conns = 1;
    opt.scenario = "";
    int have_mode = 0;
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        if (i + 1 >= argc) usage("every option takes a value");
        const char *v = argv[++i];
        if (!strcmp(a, "--server")) {
            parse_servers(v);
        } else if (!strcmp(a, "--mode")) {
            int found = 0;
            for (int m = 0; m <= M_PINGPONG; ++m) {
                if (!strcmp(v, mode_names[m])) {
                    opt.mode = (enum mode)m;
                    found = 1;
                }
            }
            if (!found) usage("unknown mode");
            have_mode = 1;
        } else if (!strcmp(a, "--depth")) opt.depth = number(a, v);
        else if (!strcmp(a, "--ops")) opt.ops = number(a, v);
        else if (!strcmp(a, "--valsize")) opt.valsize = number(a, v);
        else if (!strcmp(a, "--keys")) opt.keys = number(a, v);
        else if (!strcmp(a, "--batch")) opt.batch = number(a, v);
        else if (!strcmp(a, "--conns")) opt.conns = number(a, v);
        else if (!strcmp(a, "--server-pid")) opt.server_pids = v;
        else if (!strcmp(a, "--scenario")) opt.scenario = v;
        else usage("unknown option");
    }
    if (!have_mode) usage("--mode is required");
    if (opt.keys == 0) opt.keys = opt.valsize <= 1024 ? 1000 : 100;
    if (opt.depth < 1 || opt.conns < 1 || opt.batch < 1 || opt.keys < 1 || opt.ops < 1) {
        usage("counts must be >= 1");
    }
    if (opt.mode == M_LOAD) {
        opt.ops = opt.keys;
        opt.conns = 1;
    }
    if (opt.mode == M_FANOUT) opt.conns = opt.servers; /* one connection per server */
}

static void print_result(long ops, double secs, double cpu, double server_cpu, long value_bytes,
                         long misses) {
    const char *unit = opt.mode == M_MULTIGET || opt.mode == M_FANOUT ? "key"
                       : opt.mode == M_PINGPONG                    ? "rtt"
                                                                   : "op";
    printf("{\"client\":\"raw\",\"scenario\":\"%s\",\"mode\":\"%s\",\"conns\":%ld,\"servers\":%d,"
           "\"depth\":%ld,\"valsize\":%ld,\"keys\":%ld,\"unit\":\"%s\",\"ops\":%ld,"
           "\"secs\":%.6f,\"ops_per_s\":%.1f,\"cpu_us_per_op\":%.4f,",
           opt.scenario, mode_names[opt.mode], opt.conns, opt.servers, opt.depth, opt.valsize,
           opt.keys, unit, ops, secs, secs > 0 ? (double)ops / secs : 0.0, cpu * 1e6 / (double)ops);
    if (server_cpu >= 0) printf("\"server_cpu_us_per_op\":%.4f,", server_cpu * 1e6 / (double)ops);
    else printf("\"server_cpu_us_per_op\":null,");
    printf("\"mb_per_s\":%.2f,\"allocs_per_op\":null,\"misses\":%ld,\"errors\":0}\n",
           secs > 0 ? (double)value_bytes / secs / 1e6 : 0.0, misses);
}

int main(int argc, char **argv) {
    parse_options(argc, argv);
    signal(SIGPIPE, SIG_IGN);

    if (opt.mode == M_PINGPONG) {
        double secs, cpu;
        pingpong(opt.ops, &secs, &cpu);
        print_result(opt.ops, secs, cpu, -1, 0, 0);
        return 0;
    }

    /* Keys and the value, made before the clock starts. */
    key_strings = calloc((size_t)opt.keys, sizeof *key_strings);
    for (long k = 0; k < opt.keys; ++k) {
        char tmp[64];
        int n = snprintf(tmp, sizeof tmp, "v%ld:%08ld", opt.valsize, k);
        key_strings[k] = strdup(tmp);
        key_len = (size_t)n;
    }
    /* Set headers too: formatting them per request would cost more than the rest of a
     * noreply set. Keys and value size are fixed, so every header has the same length. */
    set_headers = calloc((size_t)opt.keys, sizeof *set_headers);
    for (long k = 0; k < opt.keys; ++k) {
        char tmp[128];
        int n = snprintf(tmp, sizeof tmp, "set %s 0 0 %ld%s\r\n", key_strings[k], opt.valsize,
                         opt.mode == M_SETNR ? " noreply" : "");
        set_headers[k] = strdup(tmp);
        set_header_len = (size_t)n;
    }
    value_bytes = malloc((size_t)opt.valsize + 2);
    memset(value_bytes, 'x', (size_t)opt.valsize);
    memcpy(value_bytes + opt.valsize, "\r\n", 2);

    /* Requests per connection: multiget counts keys, so it makes ops/batch requests; a
     * fan-out makes ops/batch batches on one thread. */
    const int by_key = opt.mode == M_MULTIGET || opt.mode == M_FANOUT;
    long calls = by_key ? opt.ops / opt.batch : opt.ops;
    if (opt.mode == M_FANOUT && calls < 1) calls = 1;
    if (opt.mode != M_FANOUT && calls < opt.conns) calls = opt.conns;
    const int threads = opt.mode != M_FANOUT;
    struct conn *conns = calloc((size_t)opt.conns, sizeof *conns);
    pthread_barrier_init(&start_barrier, NULL, (unsigned)opt.conns + 1);
    for (long i = 0; i < opt.conns; ++i) {
        struct conn *c = &conns[i];
        c->index = (int)i;
        c->fd = connect_server((int)(i % opt.servers));
        c->calls = calls / opt.conns + (i < calls % opt.conns ? 1 : 0);
        c->ps.batch = opt.batch;
        /* 256 KB: a whole window of small replies fits in one read. */
        c->in_cap = 256 * 1024;
        c->in = malloc(c->in_cap);
        c->out_cap = 64 * 1024;
        c->out = malloc(c->out_cap);
        if (threads && pthread_create(&c->thread, NULL, run_conn, c) != 0) {
            fail("pthread_create");
        }
    }
    double server0 = servers_cpu_seconds(opt.server_pids);
    double cpu0 = cpu_seconds();
    double t0 = now_seconds();
    if (threads) pthread_barrier_wait(&start_barrier);
    else run_fanout(conns, calls);
    long value_total = 0, misses = 0;
    for (long i = 0; i < opt.conns; ++i) {
        if (threads) pthread_join(conns[i].thread, NULL);
        value_total += conns[i].ps.value_bytes;
        misses += conns[i].ps.misses;
    }
    double secs = now_seconds() - t0;
    double cpu = cpu_seconds() - cpu0;
    double server1 = servers_cpu_seconds(opt.server_pids);
    long ops = by_key ? calls * opt.batch : calls;
    print_result(ops, secs, cpu, server0 >= 0 && server1 >= 0 ? server1 - server0 : -1,
                 value_total, misses);
    for (long i = 0; i < opt.conns; ++i) {
        close(conns[i].fd);
        free(conns[i].in);
        free(conns[i].out);
    }
    free(conns);
    pthread_barrier_destroy(&start_barrier);
    return misses == 0 || opt.mode == M_LOAD ? 0 : 1;
}
