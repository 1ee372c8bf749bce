/* Syscall workload for bench/: issues getppid() or 1-byte read()s from /dev/zero.
 *
 *   workload MODE COUNT [RATE [SECONDS]]
 *
 * MODE is "getppid" or "read".  Waits for one byte on stdin first, so the bench can attach a
 * tracer filtered on this pid before any call is made.  RATE > 0 paces the calls at RATE per
 * second (1 ms ticks, sleeping between them); SECONDS > 0 stops after that long even if COUNT
 * is not reached.  Prints "calls=N cpu_ns=T wall_ns=W": N calls made, the calling thread's
 * CPU time (CLOCK_THREAD_CPUTIME_ID) and the wall time they took.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long ns(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: workload getppid|read COUNT [RATE [SECONDS]]\n");
        return 2;
    }
    int use_read = strcmp(argv[1], "read") == 0;
    long long count = atoll(argv[2]);
    long long rate = argc > 3 ? atoll(argv[3]) : 0;
    double secs = argc > 4 ? atof(argv[4]) : 0;
    int fd = open("/dev/zero", O_RDONLY);
    char buf[1], go;
    if (fd < 0 || read(0, &go, 1) != 1)
        return 1;
    long long wall0 = ns(CLOCK_MONOTONIC), cpu0 = ns(CLOCK_THREAD_CPUTIME_ID);
    long long deadline = secs > 0 ? wall0 + (long long)(secs * 1e9) : 0;
    long long done = 0;
    if (rate <= 0 && !deadline) {
        if (use_read)
            for (; done < count; done++) read(fd, buf, 1);
        else
            for (; done < count; done++) getppid();
    } else {
        long long per_tick = rate > 0 ? (rate + 999) / 1000 : 1000;
        struct timespec tick;
        clock_gettime(CLOCK_MONOTONIC, &tick);
        while (done < count) {
            long long now = ns(CLOCK_MONOTONIC);
            if (deadline && now >= deadline)
                break;
            long long target = rate > 0 ? (now - wall0) * rate / 1000000000LL + per_tick : done + per_tick;
            if (target > count)
                target = count;
            for (; done < target; done++) {
                if (use_read)
                    read(fd, buf, 1);
                else
                    getppid();
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
    }
    long long cpu = ns(CLOCK_THREAD_CPUTIME_ID) - cpu0, wall = ns(CLOCK_MONOTONIC) - wall0;
    printf("calls=%lld cpu_ns=%lld wall_ns=%lld\n", done, cpu, wall);
    return 0;
}
