/* What every suite program measures around its timed phase: wall time, its own CPU
 * time (getrusage) and the server's CPU time (/proc). Plain C, so that the C comparators
 * and memcoro_bench (C++) take the same numbers the same way. */
#ifndef MEMCORO_BENCH_MEASURE_H
#define MEMCORO_BENCH_MEASURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static inline double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* user + system CPU seconds of this process. */
static inline double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* utime + stime of another process (fields 14 and 15 of /proc/PID/stat), or -1. */
static inline double process_cpu_seconds(int pid) {
    if (pid <= 0) return -1;
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = 0;
    /* The command name may hold spaces: count fields from after its ')'. */
    char *p = strrchr(line, ')');
    if (!p) return -1;
    unsigned long long utime = 0, stime = 0;
    int field = 2;
    char *save = NULL;
    for (char *tok = strtok_r(p + 1, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        ++field;
        if (field == 14) utime = strtoull(tok, NULL, 10);
        if (field == 15) {
            stime = strtoull(tok, NULL, 10);
            break;
        }
    }
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* The sum over a comma-separated list of pids ("123" or "123,124,125,126": a tier of
 * servers), or -1 when the list is empty or any of them cannot be read. */
static inline double servers_cpu_seconds(const char *pids) {
    if (!pids || !*pids) return -1;
    double total = 0;
    for (const char *p = pids; *p;) {
        char *end;
        long pid = strtol(p, &end, 10);
        if (end == p) return -1;
        double s = process_cpu_seconds((int)pid);
        if (s < 0) return -1;
        total += s;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return total;
}

#endif
