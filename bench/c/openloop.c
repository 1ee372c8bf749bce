/* open()/close() workload for bench/tools.py (opensnoop under load).
 *
 *   openloop PATH COUNT [RATE]
 *
 * Waits for one byte on stdin (the bench attaches the tracer first), then opens PATH
 * read-only COUNT times, closing each fd. RATE > 0 paces the opens at RATE per second
 * (1 ms ticks). Prints "calls=N cpu_ns=T wall_ns=W": opens made, the thread's CPU time
 * and the wall time they took.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long long ns(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: openloop PATH COUNT [RATE]\n");
        return 2;
    }
    const char *path = argv[1];
    long long count = atoll(argv[2]);
    long long rate = argc > 3 ? atoll(argv[3]) : 0;
    char go;
    if (read(0, &go, 1) != 1)
        return 1;
    long long wall0 = ns(CLOCK_MONOTONIC), cpu0 = ns(CLOCK_THREAD_CPUTIME_ID);
    long long done = 0;
    struct timespec tick;
    clock_gettime(CLOCK_MONOTONIC, &tick);
    long long per_tick = rate > 0 ? (rate + 999) / 1000 : count;
    while (done < count) {
        long long target = rate > 0 ? (ns(CLOCK_MONOTONIC) - wall0) * rate / 1000000000LL + per_tick : count;
        if (target > count)
            target = count;
        for (; done < target; done++) {
            int fd = open(path, O_RDONLY);
            if (fd >= 0)
                close(fd);
        }
        if (rate > 0) {
            tick.tv_nsec += 1000000;
            if (tick.tv_nsec >= 1000000000) {
                tick.tv_nsec -= 1000000000;
                tick.tv_sec++;
            }
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &tick, NULL);
        }
    }
    long long cpu = ns(CLOCK_THREAD_CPUTIME_ID) - cpu0, wall = ns(CLOCK_MONOTONIC) - wall0;
    printf("calls=%lld cpu_ns=%lld wall_ns=%lld\n", done, cpu, wall);
    return 0;
}
