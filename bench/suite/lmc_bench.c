/*
 * lmc_bench: libmemcached 1.1.4 (Debian libmemcached-dev) on the rows memcoro is compared
 * with, ASCII protocol and libmemcached's default behaviours unless a mode names one.
 *
 *     lmc_bench --server 127.0.0.1:PORT --mode get --valsize 100 --ops 20000
 *
 * Modes (keys "v<valsize>:%08d", --keys of them, preloaded by run_suite.py):
 *   get       memcached_get, one key at a time (--valsize 100, 102400 or 1048576)
 *   mget      memcached_mget of --batch keys, then memcached_fetch_result into one reused
 *             result until the end; ops are counted in keys
 *   set       memcached_set, waiting for STORED
 *   setnr     memcached_set with MEMCACHED_BEHAVIOR_NOREPLY
 *   setbufnr  memcached_set with BUFFER_REQUESTS + NOREPLY: libmemcached's fastest writes
 * The noreply modes end with memcached_flush_buffers and one get, so the clock stops only
 * once the server has handled every set.
 * --server takes a comma-separated list for a tier (S9): the servers are added in order
 * with MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, which places keys as memcoro's default ketama
 * does, and memcached_mget sends one request to each server before fetching any reply.
 * --server-pid takes the matching list of pids; the server CPU is their sum.
 * Prints one JSON line, the format every program of bench/suite shares.
 */
#define _GNU_SOURCE
#include <libmemcached/memcached.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "measure.h"

enum mode { M_GET, M_MGET, M_SET, M_SETNR, M_SETBUFNR };
static const char *const mode_names[] = {"get", "mget", "set", "setnr", "setbufnr"};

static void usage(const char *why) {
    fprintf(stderr,
            "lmc_bench: %s\n"
            "usage: lmc_bench [--server HOST:PORT[,HOST:PORT...]] --mode get|mget|set|setnr|"
            "setbufnr\n"
            "         [--ops N] [--valsize B] [--keys K] [--batch K] [--nodelay 0|1]\n"
            "         [--server-pid PID[,PID...]] [--scenario LABEL]\n",
            why);
    exit(2);
}

static long number(const char *name, const char *s) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 0) {
        fprintf(stderr, "lmc_bench: bad number for %s: %s\n", name, s);
        exit(2);
    }
    return v;
}

static void check(memcached_st *memc, memcached_return_t rc, const char *what) {
    if (rc != MEMCACHED_SUCCESS) {
        fprintf(stderr, "lmc_bench: %s: %s\n", what, memcached_last_error_message(memc));
        exit(1);
    }
}

/* Adds every server of "HOST:PORT[,HOST:PORT...]" in order; returns how many. */
static int add_servers(memcached_st *memc, const char *list) {
    int count = 0;
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char entry[96], host[64];
        if (len >= sizeof entry) usage("--server HOST:PORT");
        memcpy(entry, p, len);
        entry[len] = 0;
        const char *colon = strrchr(entry, ':');
        if (!colon || (size_t)(colon - entry) >= sizeof host) usage("--server HOST:PORT");
        memcpy(host, entry, (size_t)(colon - entry));
        host[colon - entry] = 0;
        check(memc, memcached_server_add(memc, host, (in_port_t)number("--server", colon + 1)),
              "server_add");
        ++count;
        p = end ? end + 1 : p + len;
    }
    return count;
}

int main(int argc, char **argv) {
    const char *servers = "127.0.0.1:11211", *server_pids = "";
    int have_mode = 0;
    long ops = 20000, valsize = 100, nkeys = 0, batch = 100, nodelay = 0;
    enum mode mode = M_GET;
    const char *scenario = "";
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        if (i + 1 >= argc) usage("every option takes a value");
        const char *v = argv[++i];
        if (!strcmp(a, "--server")) {
            servers = v;
        } else if (!strcmp(a, "--mode")) {
            int found = 0;
            for (int m = 0; m <= M_SETBUFNR; ++m) {
                if (!strcmp(v, mode_names[m])) {
                    mode = (enum mode)m;
                    found = 1;
                }
            }
            if (!found) usage("unknown mode");
            have_mode = 1;
        } else if (!strcmp(a, "--ops")) ops = number(a, v);
        else if (!strcmp(a, "--valsize")) valsize = number(a, v);
        else if (!strcmp(a, "--keys")) nkeys = number(a, v);
        else if (!strcmp(a, "--batch")) batch = number(a, v);
        else if (!strcmp(a, "--nodelay")) nodelay = number(a, v);
        else if (!strcmp(a, "--server-pid")) server_pids = v;
        else if (!strcmp(a, "--scenario")) scenario = v;
        else usage("unknown option");
    }
    if (!have_mode) usage("--mode is required");
    if (nkeys == 0) nkeys = valsize <= 1024 ? 1000 : 100;
    if (ops < 1 || nkeys < 1 || batch < 1) usage("counts must be >= 1");
    if (batch > nkeys) batch = nkeys;

    char **keys = calloc((size_t)nkeys, sizeof *keys);
    size_t *key_lens = calloc((size_t)nkeys, sizeof *key_lens);
    for (long k = 0; k < nkeys; ++k) {
        char tmp[64];
        int n = snprintf(tmp, sizeof tmp, "v%ld:%08ld", valsize, k);
        keys[k] = strdup(tmp);
        key_lens[k] = (size_t)n;
    }
    char *value = malloc((size_t)valsize);
    memset(value, 'x', (size_t)valsize);

    memcached_st *memc = memcached_create(NULL);
    /* Before the servers are added, so that the continuum is built once, weighted. */
    if (strchr(servers, ',')) memcached_behavior_set(memc, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1);
    const int nservers = add_servers(memc, servers);
    if (nodelay) memcached_behavior_set(memc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
    if (mode == M_SETNR || mode == M_SETBUFNR) {
        memcached_behavior_set(memc, MEMCACHED_BEHAVIOR_NOREPLY, 1);
    }
    if (mode == M_SETBUFNR) memcached_behavior_set(memc, MEMCACHED_BEHAVIOR_BUFFER_REQUESTS, 1);

    /* Connect (and warm libmemcached's buffers) before the clock starts. */
    {
        size_t len;
        uint32_t flags;
        memcached_return_t rc;
        char *v = memcached_get(memc, keys[0], key_lens[0], &len, &flags, &rc);
        check(memc, rc, "first get");
        free(v);
    }
    memcached_result_st result;
    memcached_result_create(memc, &result);
    if (mode == M_MGET && nservers > 1) {
        /* The other servers of a tier connect on their first key: one mget of every key. */
        memcached_return_t rc =
            memcached_mget(memc, (const char *const *)keys, key_lens, (size_t)nkeys);
        check(memc, rc, "first mget");
        while (memcached_fetch_result(memc, &result, &rc) != NULL) {
        }
    }

    long calls = mode == M_MGET ? ops / batch : ops;
    if (calls < 1) calls = 1;
    long misses = 0, value_bytes = 0;
    const long batches = nkeys / batch;
    double server0 = servers_cpu_seconds(server_pids);
    double cpu0 = cpu_seconds();
    double t0 = now_seconds();
    for (long i = 0; i < calls; ++i) {
        long k = i % nkeys;
        memcached_return_t rc;
        switch (mode) {
        case M_GET: {
            size_t len = 0;
            uint32_t flags;
            char *v = memcached_get(memc, keys[k], key_lens[k], &len, &flags, &rc);
            if (!v) {
                if (rc != MEMCACHED_NOTFOUND) check(memc, rc, "get");
                ++misses;
            }
            value_bytes += (long)len;
            free(v);
            break;
        }
        case M_MGET: {
            long first = (i % batches) * batch;
            rc = memcached_mget(memc, (const char *const *)keys + first, key_lens + first,
                                (size_t)batch);
            check(memc, rc, "mget");
            long got = 0;
            while (memcached_fetch_result(memc, &result, &rc) != NULL) {
                ++got;
                value_bytes += (long)memcached_result_length(&result);
            }
            if (rc != MEMCACHED_END && rc != MEMCACHED_SUCCESS && rc != MEMCACHED_NOTFOUND) {
                check(memc, rc, "fetch_result");
            }
            misses += batch - got;
            break;
        }
        case M_SET:
        case M_SETNR:
        case M_SETBUFNR:
            rc = memcached_set(memc, keys[k], key_lens[k], value, (size_t)valsize, 0, 0);
            if (rc != MEMCACHED_SUCCESS && rc != MEMCACHED_BUFFERED) check(memc, rc, "set");
            break;
        }
    }
    if (mode == M_SETNR || mode == M_SETBUFNR) {
        /* One round trip behind the noreply sets: the server has handled them all. */
        memcached_flush_buffers(memc);
        size_t len;
        uint32_t flags;
        memcached_return_t rc;
        char *v = memcached_get(memc, keys[0], key_lens[0], &len, &flags, &rc);
        check(memc, rc, "fence get");
        free(v);
    }
    double secs = now_seconds() - t0;
    double cpu = cpu_seconds() - cpu0;
    double server1 = servers_cpu_seconds(server_pids);
    long n = mode == M_MGET ? calls * batch : calls;

    printf("{\"client\":\"libmemcached\",\"scenario\":\"%s\",\"mode\":\"%s\",\"conns\":%d,"
           "\"servers\":%d,\"depth\":%d,\"valsize\":%ld,\"keys\":%ld,\"unit\":\"%s\","
           "\"ops\":%ld,\"secs\":%.6f,\"ops_per_s\":%.1f,\"cpu_us_per_op\":%.4f,",
           scenario, mode_names[mode], nservers, nservers, 1, valsize, nkeys,
           mode == M_MGET ? "key" : "op", n, secs,
           secs > 0 ? (double)n / secs : 0.0, cpu * 1e6 / (double)n);
    if (server0 >= 0 && server1 >= 0) {
        printf("\"server_cpu_us_per_op\":%.4f,", (server1 - server0) * 1e6 / (double)n);
    } else {
        printf("\"server_cpu_us_per_op\":null,");
    }
    printf("\"mb_per_s\":%.2f,\"allocs_per_op\":null,\"misses\":%ld,\"errors\":0}\n",
           secs > 0 ? (double)value_bytes / secs / 1e6 : 0.0, misses);

    memcached_result_free(&result);
    memcached_free(memc);
    for (long k = 0; k < nkeys; ++k) free(keys[k]);
    free(keys);
    free(key_lens);
    free(value);
    return misses == 0 ? 0 : 1;
}
