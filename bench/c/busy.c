/* Two busy threads with a few frames of user stack each, for the profile benchmark.
 *
 *   busy SECONDS
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

static volatile int stop;
static volatile unsigned long sink;

__attribute__((noinline)) static void leaf(unsigned long n) {
    for (unsigned long i = 0; i < n; i++)
        sink += i * i;
}

__attribute__((noinline)) static void middle_a(void) { leaf(10000); }
__attribute__((noinline)) static void middle_b(void) { leaf(20000); }

static void *spin(void *arg) {
    while (!stop) {
        if (arg)
            middle_a();
        else
            middle_b();
    }
    return NULL;
}

int main(int argc, char **argv) {
    double secs = argc > 1 ? atof(argv[1]) : 5;
    pthread_t a, b;
    pthread_create(&a, NULL, spin, (void *)1);
    pthread_create(&b, NULL, spin, NULL);
    struct timespec ts = {(time_t)secs, (long)((secs - (time_t)secs) * 1e9)};
    nanosleep(&ts, NULL);
    stop = 1;
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    return 0;
}
